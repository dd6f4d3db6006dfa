"""Two rtnetlink questions as bytes: which next hop a reply to an address takes, and whether the
kernel knows that neighbour's link-layer address yet (`ip route get`, `ip neigh get`).

The UDP responder asks them before it answers a source on its own link (see
core/server/reply_gate.py). Only what those two messages need is here: the request, and the
fields of the answer (RFC 3549; linux/rtnetlink.h, linux/neighbour.h). Pure: bytes in, values out;
anything that is not the expected answer is a DecodeError.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.errors import DecodeError

NLMSG_ERROR: Final = 2
NLM_F_REQUEST: Final = 0x1
RTM_NEWROUTE: Final = 24
RTM_GETROUTE: Final = 26
RTM_NEWNEIGH: Final = 28
RTM_GETNEIGH: Final = 30
RTA_DST: Final = 1
RTA_OIF: Final = 4
RTA_GATEWAY: Final = 5
NDA_DST: Final = 1
RTN_LOCAL: Final = 2
AF_INET: Final = 2  # linux/socket.h (the core imports no socket module)

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
_RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
_NDMSG = struct.Struct("=BBHiHBB")  # family, pad, pad, ifindex, state, flags, type
_ATTR = struct.Struct("=HH")  # rtattr: length, type
_ERROR = struct.Struct("=i")


@dataclass(frozen=True, slots=True)
class NextHop:
    """Where a reply to an address goes: out of `ifindex`, to `address` (the destination itself
    on its own link, else a gateway); `local` when the address is this host's own."""

    ifindex: int
    address: str
    local: bool = False


class NetlinkError(DecodeError):
    """The kernel answered with an error (`errno`, positive), e.g. ENOENT: no such neighbour."""

    def __init__(self, errno: int) -> None:
        super().__init__(f"netlink error {errno}")
        self.errno = errno


def _align(n: int) -> int:
    return (n + 3) & ~3


def _attr(kind: int, payload: bytes) -> bytes:
    return (_ATTR.pack(_ATTR.size + len(payload), kind) + payload).ljust(
        _align(_ATTR.size + len(payload)), b"\0"
    )


def _message(kind: int, sequence: int, body: bytes) -> bytes:
    return _HEADER.pack(_HEADER.size + len(body), kind, NLM_F_REQUEST, sequence, 0) + body


def _packed(address: str) -> bytes:
    # What ipaddress.IPv4Address(address).packed gives, at a tenth of the cost: the responder
    # asks this per new source, a flood's worth of them.
    parts = address.split(".")
    try:
        if len(parts) == 4 and all(p.isascii() and p.isdigit() and len(p) <= 3 for p in parts):
            return bytes(int(p) for p in parts)
    except ValueError:  # an octet above 255
        pass
    raise ValueError(f"{address!r} is not an IPv4 address")


def route_request(address: str, sequence: int) -> bytes:
    """RTM_GETROUTE for one IPv4 destination."""
    packed = _packed(address)
    return _message(
        RTM_GETROUTE, sequence, _RTMSG.pack(AF_INET, 32, 0, 0, 0, 0, 0, 0, 0) + _attr(RTA_DST, packed)
    )


def neighbour_request(hop: NextHop, sequence: int) -> bytes:
    """RTM_GETNEIGH for one IPv4 neighbour on one interface."""
    packed = _packed(hop.address)
    return _message(
        RTM_GETNEIGH, sequence, _NDMSG.pack(AF_INET, 0, 0, hop.ifindex, 0, 0, 0) + _attr(NDA_DST, packed)
    )


def answers(data: bytes, sequence: int) -> bool:
    """True when `data` holds a message answering `sequence` (its header well formed)."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, _kind, _flags, seq, _pid = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size:
            return False
        if seq == sequence:
            return True
        offset += _align(length)
    return False


def _answer(data: bytes, sequence: int, kind: int) -> bytes:
    """The body of the message answering `sequence`; NetlinkError when it is an error."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, got, _flags, seq, _pid = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size or offset + length > len(data):
            raise DecodeError(f"netlink message of {length} bytes at {offset} does not fit")
        body = data[offset + _HEADER.size : offset + length]
        offset += _align(length)
        if seq != sequence:
            continue  # an answer to an earlier question that timed out
        if got == NLMSG_ERROR:
            if len(body) < _ERROR.size:
                raise DecodeError("short netlink error")
            (code,) = _ERROR.unpack_from(body)
            raise NetlinkError(-code)
        if got == kind:
            return body
        raise DecodeError(f"netlink message type {got}, not {kind}")
    raise DecodeError(f"no netlink answer to question {sequence}")


def _attrs(data: bytes, offset: int) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    while offset + _ATTR.size <= len(data):
        length, kind = _ATTR.unpack_from(data, offset)
        if length < _ATTR.size or offset + length > len(data):
            raise DecodeError(f"netlink attribute of {length} bytes does not fit")
        found.setdefault(kind, data[offset + _ATTR.size : offset + length])
        offset += _align(length)
    return found


def _ipv4(value: bytes | None, what: str) -> str:
    if value is None or len(value) != 4:
        raise DecodeError(f"netlink {what} is not an IPv4 address")
    return ".".join(str(b) for b in value)


def parse_route(data: bytes, sequence: int, address: str) -> NextHop:
    """The next hop in the answer to `route_request(address, sequence)`."""
    body = _answer(data, sequence, RTM_NEWROUTE)
    if len(body) < _RTMSG.size:
        raise DecodeError("short route message")
    route_type = _RTMSG.unpack_from(body)[7]
    attrs = _attrs(body, _RTMSG.size)
    oif = attrs.get(RTA_OIF)
    if oif is None or len(oif) != 4:
        raise DecodeError("route has no output interface")
    (ifindex,) = struct.unpack("=i", oif)
    gateway = attrs.get(RTA_GATEWAY)
    hop = _ipv4(gateway, "gateway") if gateway is not None else address
    return NextHop(ifindex, hop, local=route_type == RTN_LOCAL)


def parse_neighbour(data: bytes, sequence: int) -> int:
    """The NUD state bits in the answer to `neighbour_request(..., sequence)`; NetlinkError
    with ENOENT when the kernel has no entry for it."""
    body = _answer(data, sequence, RTM_NEWNEIGH)
    if len(body) < _NDMSG.size:
        raise DecodeError("short neighbour message")
    state: int = _NDMSG.unpack_from(body)[4]
    return state
