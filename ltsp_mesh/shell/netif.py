"""The machine's network interfaces: which ones to use, with their IPv4 address, subnet and MAC,
and a doorbell that rings when an IPv4 address comes or goes (a DHCP lease renumbers a server)."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import psutil

from ltsp_mesh.errors import ConfigError

log = logging.getLogger(__name__)

# rtnetlink(7): the multicast group of IPv4 address changes (RTM_NEWADDR / RTM_DELADDR).
RTMGRP_IPV4_IFADDR: Final = 0x10
# One ring reads at most this many messages; the rest wait for the next readable event, so a
# storm of address changes cannot hold the event loop (each message only rings the bell).
MAX_MESSAGES_PER_RING: Final = 64


@dataclass(frozen=True, slots=True)
class Interface:
    """One usable interface: first IPv4 address and its network, and the MAC."""

    name: str
    address: str
    network: str
    mac: str


def _describe(name: str, addrs: Sequence[Any]) -> Interface | None:
    ipv4 = next((a for a in addrs if a.family == socket.AF_INET), None)
    mac = next((a.address for a in addrs if a.family == psutil.AF_LINK), "")
    if ipv4 is None or not ipv4.netmask:
        return None
    network = ipaddress.ip_network(f"{ipv4.address}/{ipv4.netmask}", strict=False)
    return Interface(name=name, address=ipv4.address, network=str(network), mac=mac.lower())


def _multicast_capable(name: str, stats: Mapping[str, Any]) -> bool:
    stat = stats.get(name)
    if stat is None or not stat.isup:
        return False
    flags = getattr(stat, "flags", "")  # psutil >= 5.9.3
    return "multicast" in flags.split(",") if flags else True


def select(names: Sequence[str]) -> list[Interface]:
    """The named interfaces, or every up, multicast-capable, non-loopback IPv4 one.

    Raises ConfigError when a named interface does not exist or has no IPv4 address.
    """
    all_addrs = psutil.net_if_addrs()
    if names:
        found = []
        for name in names:
            if name not in all_addrs:
                raise ConfigError(f"interface {name!r} does not exist (have: {', '.join(sorted(all_addrs))})")
            described = _describe(name, all_addrs[name])
            if described is None:
                raise ConfigError(f"interface {name!r} has no IPv4 address")
            found.append(described)
        return found
    return current(names)


def unknown(names: Sequence[str]) -> list[str]:
    """The names among `names` that no interface of this machine has."""
    present = psutil.net_if_addrs()
    return [name for name in names if name not in present]


def current(names: Sequence[str]) -> list[Interface]:
    """What `select` finds now, without complaint: the named interfaces that have an IPv4
    address at this moment (or every usable one). For a running daemon following its
    addresses, an interface between two DHCP leases is not an error."""
    all_addrs = psutil.net_if_addrs()
    if names:
        described = (_describe(name, all_addrs.get(name, [])) for name in names)
        return [i for i in described if i is not None]
    stats = psutil.net_if_stats()
    chosen: list[Interface] = []
    for name in sorted(all_addrs):
        found = _describe(name, all_addrs[name])
        if found and not ipaddress.ip_address(found.address).is_loopback and _multicast_capable(name, stats):
            chosen.append(found)
    return chosen


class AddressWatch:
    """Rings `on_change` when the kernel adds or removes an IPv4 address in this namespace.

    A netlink route socket subscribed to RTMGRP_IPV4_IFADDR is the doorbell only: the messages
    are not parsed, the caller re-reads the interfaces (psutil), so there is no second reader
    of kernel structures to get wrong, and a lost message (ENOBUFS when the socket's buffer
    overflowed) rings the bell all the same.
    """

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> bool:
        """Subscribe; False (and a log line) when this system offers no netlink socket."""
        try:
            sock = socket.socket(
                socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK, socket.NETLINK_ROUTE
            )
        except (OSError, AttributeError) as exc:
            log.info("cannot watch address changes through netlink (%s): re-reading them on a timer", exc)
            return False
        try:
            sock.bind((0, RTMGRP_IPV4_IFADDR))
        except OSError as exc:
            sock.close()
            log.info("cannot watch address changes through netlink (%s): re-reading them on a timer", exc)
            return False
        self._sock, self._loop = sock, asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)
        return True

    def _readable(self) -> None:
        if self._sock is None:
            return
        rang = False
        for _ in range(MAX_MESSAGES_PER_RING):
            try:
                self._sock.recv(65536)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:  # overflowed: changes were lost, so re-read
                    log.debug("netlink: %s", exc)
            rang = True
        if rang:
            self._on_change()

    def close(self) -> None:
        """Unsubscribe (idempotent)."""
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
        self._sock = None
