"""The machine's network interfaces: which ones to use, with their IPv4 address, subnet and MAC."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import psutil

from ltsp_mesh.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Interface:
    """One usable interface: first IPv4 address and its network, and the MAC."""

    name: str
    address: str
    network: str
    mac: str


def _describe(name: str) -> Interface | None:
    addrs = psutil.net_if_addrs().get(name, [])
    ipv4 = next((a for a in addrs if a.family == socket.AF_INET), None)
    mac = next((a.address for a in addrs if a.family == psutil.AF_LINK), "")
    if ipv4 is None or not ipv4.netmask:
        return None
    network = ipaddress.ip_network(f"{ipv4.address}/{ipv4.netmask}", strict=False)
    return Interface(name=name, address=ipv4.address, network=str(network), mac=mac.lower())


def _multicast_capable(name: str) -> bool:
    stats = psutil.net_if_stats().get(name)
    if stats is None or not stats.isup:
        return False
    flags = getattr(stats, "flags", "")  # psutil >= 5.9.3
    return "multicast" in flags.split(",") if flags else True


def select(names: Sequence[str]) -> list[Interface]:
    """The named interfaces, or every up, multicast-capable, non-loopback IPv4 one.

    Raises ConfigError when a named interface does not exist or has no IPv4 address.
    """
    if names:
        found = []
        for name in names:
            if name not in psutil.net_if_addrs():
                raise ConfigError(
                    f"interface {name!r} does not exist (have: {', '.join(sorted(psutil.net_if_addrs()))})"
                )
            described = _describe(name)
            if described is None:
                raise ConfigError(f"interface {name!r} has no IPv4 address")
            found.append(described)
        return found
    chosen: list[Interface] = []
    for name in sorted(psutil.net_if_addrs()):
        described = _describe(name)
        if described and not ipaddress.ip_address(described.address).is_loopback and _multicast_capable(name):
            chosen.append(described)
    return chosen
