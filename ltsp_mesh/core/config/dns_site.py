"""The site's unicast DNS as configured: DNS_SD_DOMAIN, LDM_LB_DOMAIN and --dns-server values, checked."""

from __future__ import annotations

import ipaddress
import re

from ltsp_mesh.errors import ConfigError

Labels = tuple[bytes, ...]

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?", re.ASCII)


def domain(value: str, where: str) -> Labels:
    """The labels of a DNS-SD domain such as "school.example"; ConfigError names `where`."""
    name = value.strip().lower().rstrip(".")
    labels = name.split(".") if name else []
    if not labels or len(name) > 200 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ConfigError(f"{where}: {value!r} is not a DNS domain name (e.g. school.example)")
    if name == "local" or name.endswith(".local"):
        raise ConfigError(
            f"{where}: {value!r} is the mDNS domain; name the site's unicast DNS zone (e.g. school.example)"
        )
    return tuple(label.encode("ascii") for label in labels)


def server_address(value: str, where: str) -> tuple[str, int]:
    """An explicit primary server, "ADDRESS" or "ADDRESS:PORT" (IPv4), as (address, port)."""
    address, colon, port_text = value.strip().partition(":")
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        ip = None
    port = int(port_text) if port_text.isascii() and port_text.isdigit() and len(port_text) <= 5 else None
    if ip is None or (colon and (port is None or not 1 <= port <= 65535)):
        raise ConfigError(
            f"{where}: {value!r} is not an IPv4 address with an optional port (e.g. 10.0.0.2 or 10.0.0.2:53)"
        )
    return str(ip), port or 53
