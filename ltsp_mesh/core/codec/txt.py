"""ServerRecord <-> DNS-SD TXT properties, and TXT properties <-> TXT RDATA bytes.

The keys are the contract in DESIGN.md ("The wire"). Values are short ASCII text; the version
key comes first so that a reader can refuse a schema it does not know before reading the rest
(RFC 6763 section 6.7). Unknown keys are ignored, so later versions may add keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from ltsp_mesh.core.record import ServerRecord, ServerState
from ltsp_mesh.errors import DecodeError

SCHEMA_VERSION: Final = 1
# DESIGN.md: the whole TXT stays under 400 bytes, well inside one mDNS packet with its SRV and
# A records (RFC 6763 section 6.2 recommends under 200 where possible, 1300 at most).
MAX_TXT_BYTES: Final = 400
# RFC 6763 section 6.1: every string in a TXT record is at most 255 bytes long.
MAX_STRING_BYTES: Final = 255

TxtProperties = dict[bytes, bytes | None]

_UINT = re.compile(rb"0|[1-9][0-9]{0,9}")
_DECIMAL = re.compile(rb"(0|[1-9][0-9]{0,5})(\.[0-9]{1,4})?")


def encode(record: ServerRecord) -> TxtProperties:
    """Return the TXT properties announcing `record`, version key first."""
    properties: TxtProperties = {
        b"v": str(SCHEMA_VERSION).encode(),
        b"id": record.server_id.encode(),
        b"cpu": str(record.cpus).encode(),
        b"load": f"{record.load_per_cpu:.2f}".encode(),
        b"mem": str(record.mem_percent).encode(),
        b"swap": b"1" if record.swapping else b"0",
        b"ses": str(record.sessions).encode(),
        b"pend": str(record.pending).encode(),
        b"cap": str(record.capacity).encode(),
        b"st": record.state.value.encode(),
        b"q": str(record.query_port).encode(),
    }
    if record.host_key_fp:
        properties[b"hk"] = record.host_key_fp.encode()
    size = len(encode_rdata(properties))
    if size > MAX_TXT_BYTES:
        raise ValueError(f"TXT record would be {size} bytes, over the {MAX_TXT_BYTES}-byte limit")
    return properties


def _required(properties: Mapping[bytes, bytes | None], key: bytes) -> bytes:
    value = properties.get(key)
    if value is None:
        raise DecodeError(f"TXT key {key.decode()!r} is missing or has no value")
    return value


def _uint(properties: Mapping[bytes, bytes | None], key: bytes) -> int:
    value = _required(properties, key)
    if not _UINT.fullmatch(value):
        raise DecodeError(f"TXT key {key.decode()!r}={value!r} is not a whole number")
    return int(value)


def _decimal(properties: Mapping[bytes, bytes | None], key: bytes) -> float:
    value = _required(properties, key)
    if not _DECIMAL.fullmatch(value):
        raise DecodeError(f"TXT key {key.decode()!r}={value!r} is not a decimal number")
    return float(value)


def _text(properties: Mapping[bytes, bytes | None], key: bytes) -> str:
    try:
        return _required(properties, key).decode("ascii")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"TXT key {key.decode()!r} is not ASCII") from exc


def decode(announced: Mapping[bytes, bytes | None]) -> ServerRecord:
    """Return the record announced by TXT properties; raise DecodeError if it is not one."""
    properties: TxtProperties = {}
    for key, value in announced.items():
        properties.setdefault(key.lower(), value)  # keys are case-insensitive (RFC 6763 6.4)
    version = _uint(properties, b"v")
    if version != SCHEMA_VERSION:
        raise DecodeError(f"TXT schema version {version} is not supported (this reads {SCHEMA_VERSION})")
    swap = _required(properties, b"swap")
    if swap not in (b"0", b"1"):
        raise DecodeError(f"TXT key 'swap'={swap!r} is not 0 or 1")
    try:
        state = ServerState(_text(properties, b"st"))
    except ValueError as exc:
        raise DecodeError(f"TXT key 'st'={properties.get(b'st')!r} is not up or drain") from exc
    host_key = properties.get(b"hk")
    try:
        return ServerRecord(
            server_id=_text(properties, b"id"),
            cpus=_uint(properties, b"cpu"),
            load_per_cpu=_decimal(properties, b"load"),
            mem_percent=_uint(properties, b"mem"),
            swapping=swap == b"1",
            sessions=_uint(properties, b"ses"),
            pending=_uint(properties, b"pend"),
            capacity=_uint(properties, b"cap"),
            state=state,
            query_port=_uint(properties, b"q"),
            host_key_fp=_text(properties, b"hk") if host_key is not None else "",
        )
    except ValueError as exc:
        raise DecodeError(f"TXT record is out of range: {exc}") from exc


def encode_rdata(properties: Mapping[bytes, bytes | None]) -> bytes:
    """Return the TXT RDATA (length-prefixed strings) for `properties`, in their order."""
    out = bytearray()
    for key, value in properties.items():
        item = key if value is None else key + b"=" + value
        if not key or b"=" in key or len(item) > MAX_STRING_BYTES:
            raise ValueError(f"TXT item {item[:40]!r} is not a valid key=value string")
        out.append(len(item))
        out += item
    return bytes(out)


def decode_rdata(rdata: bytes) -> TxtProperties:
    """Return the properties in TXT RDATA; the first occurrence of a key wins (RFC 6763 6.4)."""
    properties: TxtProperties = {}
    offset = 0
    while offset < len(rdata):
        length = rdata[offset]
        item = rdata[offset + 1 : offset + 1 + length]
        if len(item) != length:
            raise DecodeError("TXT RDATA is truncated")
        offset += 1 + length
        if not item:
            continue  # an empty string is how an empty TXT record is written
        key, sep, value = item.partition(b"=")
        if not key:
            continue  # RFC 6763 section 6.4: strings beginning with '=' are silently ignored
        properties.setdefault(key.lower(), value if sep else None)
    return properties
