"""The greeter feed's message: the mesh view as one msgpack map, bounded to fit a queue slot.

Format, version 1 (a msgpack map; documented in docs/greeter-feed.md):
    v        1
    at       float, wall-clock seconds when the view was taken
    servers  array of maps, recommended first, then by status and fill:
             name, address, status (Idle Busy Swapped Draining Down Unmeasured Untrusted), recommended,
             response_ms (float or nil), and when measured: sessions, pending, capacity, fill,
             load (per CPU), cpus, mem (%), swapping, id; reasons (array of text) when Busy or
             Untrusted
    truncated  true when servers were left out to fit the queue's message size
A reader must ignore keys it does not know: later versions only add keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import msgpack

from ltsp_mesh.errors import DecodeError

FEED_VERSION: Final = 1
STATUSES: Final = frozenset({"Idle", "Busy", "Swapped", "Draining", "Down", "Unmeasured", "Untrusted"})
MAX_SERVERS: Final = 256


@dataclass(frozen=True, slots=True)
class FeedServer:
    """One server as a greeter shows it."""

    name: str
    address: str
    status: str
    recommended: bool
    sessions: int | None = None
    capacity: int | None = None
    load: float | None = None


@dataclass(frozen=True, slots=True)
class FeedMessage:
    """One snapshot of the mesh, as read from the queue."""

    at: float
    servers: tuple[FeedServer, ...]
    truncated: bool = False


def encode(message: dict[str, Any], max_bytes: int) -> bytes:
    """`message` (mesh_view.to_message) as msgpack, dropping tail servers until it fits."""
    servers = list(message["servers"])
    while True:
        body = {**message, "servers": servers}
        if len(servers) < len(message["servers"]):
            body["truncated"] = True
        packed = bytes(msgpack.packb(body))
        if len(packed) <= max_bytes or not servers:
            if len(packed) > max_bytes:
                raise ValueError(f"even an empty feed message is over {max_bytes} bytes")
            return packed
        servers.pop()


def _optional(entry: dict[str, Any], key: str, kind: type) -> Any:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DecodeError(f"feed server field {key!r} is not {kind.__name__}")
    return value


def decode(data: bytes) -> FeedMessage:
    """The snapshot in a queue message; raise DecodeError if it is not a version 1 feed message."""
    try:
        obj = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            max_array_len=MAX_SERVERS * 4,
            max_map_len=64,
            max_str_len=4096,
            max_bin_len=0,
            max_ext_len=0,
        )
    # The codec boundary: msgpack raises many unrelated types on bad bytes.
    except Exception as exc:
        raise DecodeError(f"feed message is not valid msgpack: {exc}") from exc
    if not isinstance(obj, dict) or obj.get("v") != FEED_VERSION:
        raise DecodeError("feed message is not a version 1 map")
    at, servers = obj.get("at"), obj.get("servers")
    if not isinstance(at, (int, float)) or isinstance(at, bool) or not math.isfinite(at):
        raise DecodeError("feed message has no time")
    if not isinstance(servers, list) or len(servers) > MAX_SERVERS:
        raise DecodeError("feed message servers are not a list")
    parsed = []
    for entry in servers:
        if not isinstance(entry, dict):
            raise DecodeError("feed server is not a map")
        name, address, status = entry.get("name"), entry.get("address"), entry.get("status")
        if not all(isinstance(v, str) for v in (name, address, status)) or status not in STATUSES:
            raise DecodeError(f"feed server {str(name)[:40]!r} lacks a name, address or known status")
        load = (
            _optional(entry, "load", float)
            if not isinstance(entry.get("load"), int)
            else float(entry["load"])
        )
        parsed.append(
            FeedServer(
                name=str(name),
                address=str(address),
                status=str(status),
                recommended=entry.get("recommended") is True,
                sessions=_optional(entry, "sessions", int),
                capacity=_optional(entry, "capacity", int),
                load=load,
            )
        )
    return FeedMessage(at=float(at), servers=tuple(parsed), truncated=obj.get("truncated") is True)
