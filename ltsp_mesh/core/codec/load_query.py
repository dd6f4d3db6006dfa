"""The direct query on UDP 377: msgpack request and reply codecs, and the server's decision.

One datagram each way. A request is a map with `op` and a nonce `n`, padded by the client; the
server answers only when its reply is no larger than the request, so the service can never
amplify a spoofed-source flood (the same rule DNS cookies and QUIC's anti-amplification limit
follow). Everything that fails to decode is a DecodeError, whatever msgpack raised.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any, Final

import msgpack

from ltsp_mesh.core.record import ServerRecord, ServerState
from ltsp_mesh.errors import DecodeError

WIRE_VERSION: Final = 1
# Requests are padded to this size so that a reply (about 200 bytes today, about 300 once
# signed) always fits under the no-amplification rule with room to grow.
REQUEST_SIZE_BYTES: Final = 512
# Larger datagrams are dropped unread: nothing legitimate comes near an Ethernet MTU.
MAX_DATAGRAM_BYTES: Final = 1400
NONCE_MIN_BYTES: Final = 8
NONCE_MAX_BYTES: Final = 32
# The claim cookie (`ck`, core/server/cookies.py): what a server sends is 16 bytes; a reader takes
# up to this many, so that a later, longer cookie still decodes.
COOKIE_MAX_BYTES: Final = 32
COOKIE_FIELD: Final = "ck"
_MAX_MAP_ENTRIES: Final = 32


class Op(enum.StrEnum):
    """What a request asks for."""

    STATS = "stats"
    CLAIM = "claim"


@dataclass(frozen=True, slots=True)
class Request:
    """A client's question to one server."""

    op: Op
    nonce: bytes
    client: str = ""
    want_key: bool = False  # `k`: also send the public host key (what `ltsp-mesh known-hosts` collects)
    cookie: bytes = b""  # `ck`: a claim's proof that its sender receives at its address

    def __post_init__(self) -> None:
        if not NONCE_MIN_BYTES <= len(self.nonce) <= NONCE_MAX_BYTES:
            raise ValueError(f"nonce must be {NONCE_MIN_BYTES}..{NONCE_MAX_BYTES} bytes")
        if len(self.client) > 64:
            raise ValueError("client id is longer than 64 characters")
        if type(self.want_key) is not bool:
            raise ValueError("want_key must be a bool")
        if len(self.cookie) > COOKIE_MAX_BYTES:
            raise ValueError(f"cookie is longer than {COOKIE_MAX_BYTES} bytes")


@dataclass(frozen=True, slots=True)
class Reply:
    """A server's answer: its record now, bound to the request's nonce, with a claim cookie for
    the address it went to (b"" from a server that predates cookies)."""

    record: ServerRecord
    nonce: bytes
    timestamp: float
    cookie: bytes = b""

    def __post_init__(self) -> None:
        if not NONCE_MIN_BYTES <= len(self.nonce) <= NONCE_MAX_BYTES:
            raise ValueError(f"nonce must be {NONCE_MIN_BYTES}..{NONCE_MAX_BYTES} bytes")
        if not math.isfinite(self.timestamp) or self.timestamp < 0:
            raise ValueError(f"timestamp {self.timestamp} is not a time")
        if len(self.cookie) > COOKIE_MAX_BYTES:
            raise ValueError(f"cookie is longer than {COOKIE_MAX_BYTES} bytes")


def unpack_map(data: bytes, what: str) -> dict[str, Any]:
    """The msgpack map in a datagram, within the datagram bounds; DecodeError otherwise."""
    if len(data) > MAX_DATAGRAM_BYTES:
        raise DecodeError(f"{what} of {len(data)} bytes is over {MAX_DATAGRAM_BYTES}")
    try:
        obj = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            max_map_len=_MAX_MAP_ENTRIES,
            max_array_len=_MAX_MAP_ENTRIES,
            max_str_len=MAX_DATAGRAM_BYTES,
            max_bin_len=MAX_DATAGRAM_BYTES,
            max_ext_len=0,
        )
    # The codec boundary: msgpack raises a dozen unrelated types (ExtraData, FormatError,
    # StackError, ValueError, UnicodeDecodeError ...); callers see one.
    except Exception as exc:
        raise DecodeError(f"{what} is not valid msgpack: {exc}") from exc
    if not isinstance(obj, dict):
        raise DecodeError(f"{what} is a msgpack {type(obj).__name__}, not a map")
    return obj


def _field(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = obj.get(key)
    # bool is an int subclass: a field typed int must not accept True.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise DecodeError(f"{what} field {key!r} is missing or not {_kind_name(kind)}")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _as_tuple(kind))


def _cookie_field(obj: dict[str, Any], what: str) -> bytes:
    cookie = obj.get(COOKIE_FIELD, b"")
    if not isinstance(cookie, bytes) or len(cookie) > COOKIE_MAX_BYTES:
        raise DecodeError(f"{what} field {COOKIE_FIELD!r} is not bin of at most {COOKIE_MAX_BYTES} bytes")
    return cookie


def encode_request(request: Request, pad_to: int = REQUEST_SIZE_BYTES) -> bytes:
    """Return the request datagram, padded to `pad_to` bytes when it is shorter."""
    fields: dict[str, Any] = {"op": request.op.value, "n": request.nonce}
    if request.client:
        fields["c"] = request.client
    if request.want_key:
        fields["k"] = True
    if request.cookie:
        fields[COOKIE_FIELD] = request.cookie
    room = pad_to - len(msgpack.packb(fields)) - 2  # the key "p" is a 2-byte fixstr
    # The pad is a bin field: a 2-byte header up to 255 bytes, 3 bytes above.
    pad_len = room - 2 if room - 2 < 256 else room - 3
    if pad_len > 0:
        fields["p"] = bytes(pad_len)
    return bytes(msgpack.packb(fields))


def decode_request(data: bytes) -> Request:
    """Return the request in a datagram; raise DecodeError if it is not one."""
    obj = unpack_map(data, "request")
    try:
        op = Op(_field(obj, "op", str, "request"))
    except ValueError as exc:
        raise DecodeError(f"request op {obj.get('op')!r} is not one of {[o.value for o in Op]}") from exc
    nonce = _field(obj, "n", bytes, "request")
    client = obj.get("c", "")
    if not isinstance(client, str):
        raise DecodeError("request field 'c' is not a str")
    want_key = obj.get("k", False)
    if not isinstance(want_key, bool):
        raise DecodeError("request field 'k' is not a bool")
    cookie = _cookie_field(obj, "request")
    try:
        return Request(op=op, nonce=nonce, client=client, want_key=want_key, cookie=cookie)
    except ValueError as exc:
        raise DecodeError(f"request is out of range: {exc}") from exc


def encode_reply(reply: Reply) -> bytes:
    """Return the reply datagram carrying `reply`."""
    record = reply.record
    fields: dict[str, Any] = {
        "v": WIRE_VERSION,
        "n": reply.nonce,
        "ts": reply.timestamp,
        "id": record.server_id,
        "cpu": record.cpus,
        "load": record.load_per_cpu,
        "mem": record.mem_percent,
        "swap": record.swapping,
        "ses": record.sessions,
        "pend": record.pending,
        "cap": record.capacity,
        "st": record.state.value,
        "q": record.query_port,
    }
    if record.host_key_fp:
        fields["hk"] = record.host_key_fp
    if reply.cookie:
        fields[COOKIE_FIELD] = reply.cookie
    return bytes(msgpack.packb(fields))


def decode_reply(data: bytes) -> Reply:
    """Return the reply in a datagram; raise DecodeError if it is not one."""
    obj = unpack_map(data, "reply")
    version = _field(obj, "v", int, "reply")
    if version != WIRE_VERSION:
        raise DecodeError(f"reply version {version} is not supported (this reads {WIRE_VERSION})")
    host_key = obj.get("hk", "")
    if not isinstance(host_key, str):
        raise DecodeError("reply field 'hk' is not a str")
    try:
        record = ServerRecord(
            server_id=_field(obj, "id", str, "reply"),
            cpus=_field(obj, "cpu", int, "reply"),
            load_per_cpu=float(_field(obj, "load", (int, float), "reply")),
            mem_percent=_field(obj, "mem", int, "reply"),
            swapping=_field(obj, "swap", bool, "reply"),
            sessions=_field(obj, "ses", int, "reply"),
            pending=_field(obj, "pend", int, "reply"),
            capacity=_field(obj, "cap", int, "reply"),
            state=ServerState(_field(obj, "st", str, "reply")),
            query_port=_field(obj, "q", int, "reply"),
            host_key_fp=host_key,
        )
        return Reply(
            record=record,
            nonce=_field(obj, "n", bytes, "reply"),
            timestamp=float(_field(obj, "ts", (int, float), "reply")),
            cookie=_cookie_field(obj, "reply"),
        )
    except ValueError as exc:
        raise DecodeError(f"reply is out of range: {exc}") from exc


def answer(datagram: bytes, record: ServerRecord, now: float) -> bytes | None:
    """Decide the reply to one request datagram: the reply bytes, or None to stay silent.

    Raises DecodeError for a malformed request. Returns None when the reply would be larger
    than the request (an unpadded request), so that the service never amplifies.
    """
    request = decode_request(datagram)
    if request.op is not Op.STATS:
        raise DecodeError(f"op {request.op.value!r} is not answered by this server")
    return reply_to(request, len(datagram), record, now)


def reply_to(
    request: Request, request_size: int, record: ServerRecord, now: float, cookie: bytes = b""
) -> bytes | None:
    """The reply to `request` (which arrived in `request_size` bytes), with `cookie` when it fits,
    or None when even the reply without it would be larger than the request: the
    no-amplification rule."""
    for with_cookie in (cookie, b"") if cookie else (b"",):
        reply = encode_reply(Reply(record=record, nonce=request.nonce, timestamp=now, cookie=with_cookie))
        if len(reply) <= request_size:
            return reply
    return None
