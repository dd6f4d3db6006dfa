"""The client's cache of the last good host list: CachedHosts <-> msgpack bytes.

The hook prints this list when no server answers in time (a switch rebooting, a storm), so
it must never be trusted blindly: a torn write, a foreign file or a hand edit decodes to a
DecodeError, and the caller ignores it.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import Final

import msgpack

from ltsp_mesh.errors import DecodeError

CACHE_VERSION: Final = 1
MAX_CACHE_BYTES: Final = 64 * 1024
MAX_HOSTS: Final = 256


@dataclass(frozen=True, slots=True)
class CachedHosts:
    """A ranked host list and when it was written (wall-clock seconds)."""

    hosts: tuple[str, ...]
    written_at: float

    def __post_init__(self) -> None:
        if not 1 <= len(self.hosts) <= MAX_HOSTS:
            raise ValueError(f"a cached list holds 1 to {MAX_HOSTS} hosts")
        for host in self.hosts:
            ipaddress.IPv4Address(host)  # raises ValueError for anything else
        if not math.isfinite(self.written_at) or self.written_at < 0:
            raise ValueError("written_at is not a time")


def encode(cached: CachedHosts) -> bytes:
    """The cache file's bytes."""
    return bytes(msgpack.packb({"v": CACHE_VERSION, "t": cached.written_at, "hosts": list(cached.hosts)}))


def decode(data: bytes) -> CachedHosts:
    """The cached list in a cache file; raise DecodeError if the file is not one."""
    if len(data) > MAX_CACHE_BYTES:
        raise DecodeError(f"cache file of {len(data)} bytes is over {MAX_CACHE_BYTES}")
    try:
        obj = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            max_map_len=8,
            max_array_len=MAX_HOSTS,
            max_str_len=64,
            max_bin_len=0,
            max_ext_len=0,
        )
    # The codec boundary: msgpack raises many unrelated types on bad bytes.
    except Exception as exc:
        raise DecodeError(f"cache file is not valid msgpack: {exc}") from exc
    if not isinstance(obj, dict) or obj.get("v") != CACHE_VERSION:
        raise DecodeError("cache file is not a version 1 host list")
    hosts, written_at = obj.get("hosts"), obj.get("t")
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise DecodeError("cache file's hosts are not a list of strings")
    if not isinstance(written_at, (int, float)) or isinstance(written_at, bool):
        raise DecodeError("cache file's time is not a number")
    try:
        return CachedHosts(hosts=tuple(hosts), written_at=float(written_at))
    except ValueError as exc:
        raise DecodeError(f"cache file is out of range: {exc}") from exc
