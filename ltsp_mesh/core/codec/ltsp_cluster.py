"""The ltsp-cluster load balancer's answer: an HTTP response -> the address it recommends.

The load balancer answers a GET with a bare address in the body. Its pick only reorders the
servers that answered our own query: it can put a live server first, never add one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Final
from urllib.parse import urlsplit

from ltsp_mesh.errors import ConfigError, DecodeError

MAX_RESPONSE_BYTES: Final = 4096


def parse_url(url: str) -> tuple[str, int, str]:
    """(host, port, path and query) of an http:// URL; ConfigError for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme != "http" or not parts.hostname:
        raise ConfigError(f"LDM_LB_LOADBALANCER_URL={url!r} is not an http://host[:port]/path URL")
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise ConfigError(f"LDM_LB_LOADBALANCER_URL={url!r} has a bad port") from exc
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, port, path


def request_bytes(host: str, port: int, path: str) -> bytes:
    """The HTTP/1.0 GET request (the server closes after its answer)."""
    return f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: ltsp-mesh\r\n\r\n".encode("ascii")


def decode_response(data: bytes) -> str:
    """The IPv4 address in a load balancer's HTTP response; DecodeError if there is none."""
    if len(data) > MAX_RESPONSE_BYTES:
        raise DecodeError(f"load balancer answer of {len(data)} bytes is over {MAX_RESPONSE_BYTES}")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise DecodeError("load balancer answer has no HTTP header end")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or not status[0].startswith(b"HTTP/") or status[1] != b"200":
        raise DecodeError(f"load balancer answered {head[:40]!r}, not 200")
    try:
        return str(ipaddress.IPv4Address(body.strip().decode("ascii")))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DecodeError(f"load balancer body {body[:40]!r} is not an IPv4 address") from exc


def prefer(hosts: Sequence[str], recommended: str | None) -> list[str]:
    """`hosts` with `recommended` moved first when it is one of them; unchanged otherwise."""
    if recommended is None or recommended not in hosts:
        return list(hosts)
    return [recommended] + [h for h in hosts if h != recommended]
