"""What `serve` holds on this moment's addresses, moved when they change.

A DHCP lease renumbers a server: sockets bound to the old address receive nothing more, and
zeroconf's sockets (one bound to each interface address) can no longer send. So whatever holds
an address is rebuilt from the interfaces found now: the listeners of each bind address
(those of an address that stayed are left alone; with no INTERFACES they listen on 0.0.0.0 and
never move), and the announcement with the broker's view of the mesh, which says goodbye from
the old addresses and probes and announces anew, as RFC 6762 section 8 asks of a responder
whose connectivity changed.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from zeroconf import InterfaceChoice, IPVersion
from zeroconf.asyncio import AsyncZeroconf

from ltsp_mesh.core.client.trust_policy import TrustPolicy
from ltsp_mesh.core.config.mesh_conf import ServeSettings
from ltsp_mesh.core.record import ServerRecord
from ltsp_mesh.errors import MeshError
from ltsp_mesh.shell.broker.live_view import LiveView
from ltsp_mesh.shell.keys import HostKey
from ltsp_mesh.shell.netif import Interface
from ltsp_mesh.shell.server.announce import Announcer

log = logging.getLogger(__name__)

ANY_ADDRESS = "0.0.0.0"

# Opens every listener of one bind address onto the stack that closes them.
OpenListeners = Callable[[str, contextlib.AsyncExitStack], Awaitable[None]]


class _AddressGone(logging.Filter):
    """zeroconf's warning, with a traceback, for each send from a socket whose address is gone:
    the expected end of a renumbering (which the daemon logs in its own words), not something
    for an admin to chase. Installed from the netlink ring until the move is done."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Error with socket")


def describe(interfaces: Sequence[Interface]) -> str:
    """`eth0 10.0.0.5/24, eth1 ...` for the log; "no address" when empty."""
    return (
        ", ".join(f"{i.name} {i.address}/{i.network.rsplit('/', 1)[1]}" for i in interfaces) or "no address"
    )


class Listeners:
    """Listening sockets per bind address, opened and closed to match the wanted addresses."""

    def __init__(self, open_listeners: OpenListeners) -> None:
        self._open = open_listeners
        self._stacks: dict[str, contextlib.AsyncExitStack] = {}

    @property
    def hosts(self) -> list[str]:
        """The addresses listened on now."""
        return list(self._stacks)

    async def match(self, hosts: Sequence[str]) -> list[MeshError]:
        """Close the listeners of addresses no longer wanted, open those of new ones; return
        why any could not be opened (an address's listeners open all or not at all)."""
        for host in [h for h in self._stacks if h not in hosts]:
            await self._stacks.pop(host).aclose()
        failures: list[MeshError] = []
        for host in [h for h in hosts if h not in self._stacks]:
            stack = contextlib.AsyncExitStack()
            try:
                await self._open(host, stack)
            except MeshError as exc:
                await stack.aclose()
                failures.append(exc)
            else:
                self._stacks[host] = stack
        return failures

    async def close(self) -> None:
        """Close every listener."""
        await self.match([])


@dataclass
class Network:
    """The announcement, the broker's live view and the listeners, on the interfaces in use."""

    settings: ServeSettings
    service: str
    mdns_host: str
    host_key: HostKey | None
    policy: TrustPolicy
    counters: Counter[str]
    listeners: Listeners
    record: Callable[[], ServerRecord]
    interfaces: tuple[Interface, ...] = ()
    announcer: Announcer | None = None
    live: LiveView | None = None
    _presence: contextlib.AsyncExitStack | None = field(default=None, repr=False)
    _quiet: _AddressGone | None = field(default=None, repr=False)

    def expect_move(self) -> None:
        """An address came or went: until `move` (or `settled`), sends failing from a socket
        of a vanished address are expected."""
        if self._quiet is None:
            self._quiet = _AddressGone()
            logging.getLogger("zeroconf").addFilter(self._quiet)

    def settled(self) -> None:
        """The change is followed (or was none of ours): zeroconf's socket errors count again."""
        if self._quiet is not None:
            logging.getLogger("zeroconf").removeFilter(self._quiet)
            self._quiet = None

    def bind_hosts(self) -> list[str]:
        """Where the listeners listen: each interface's address when INTERFACES names them, else
        every address at once (0.0.0.0, which no renumbering moves)."""
        if not self.settings.interfaces:
            return [ANY_ADDRESS]
        return [i.address for i in self.interfaces]

    async def start(self, interfaces: Sequence[Interface]) -> None:
        """Listen and announce on `interfaces`; the first failure raises (MeshError)."""
        self.interfaces = tuple(interfaces)
        failures = await self.listeners.match(self.bind_hosts())
        if failures:
            raise failures[0]
        await self._announce()

    async def move(self, interfaces: Sequence[Interface]) -> bool:
        """Follow a change of addresses (or INTERFACES); False when some part failed and is
        worth another try (the reason is logged)."""
        self.interfaces = tuple(interfaces)
        ok = True
        for failure in await self.listeners.match(self.bind_hosts()):
            log.warning("%s; trying again shortly", failure)
            ok = False
        await self._withdraw()
        if not self.interfaces:
            names = " ".join(self.settings.interfaces) or "any interface"
            log.warning("no IPv4 address on %s: not announced until one comes", names)
            return ok
        try:
            await self._announce()
        except (OSError, MeshError) as exc:
            log.warning("cannot announce on %s (%s); trying again shortly", describe(self.interfaces), exc)
            await self._withdraw()
            return False
        return ok

    async def _announce(self) -> None:
        """Open zeroconf on the interfaces, start the broker's view, register the service."""
        stack = contextlib.AsyncExitStack()
        self._presence = stack
        addresses = [i.address for i in self.interfaces]
        aiozc = AsyncZeroconf(
            interfaces=addresses if self.settings.interfaces else InterfaceChoice.All,
            ip_version=IPVersion.V4Only,
        )
        stack.push_async_callback(aiozc.async_close)  # unregisters every service: the goodbyes
        live = LiveView(
            aiozc,
            networks=[i.network for i in self.interfaces],
            policy=self.policy,
            host_key=self.host_key,
            counters=self.counters,
            dns_sd_domain=self.settings.dns_sd_domain,
        )
        await live.start()
        stack.push_async_callback(live.stop)
        self.live = live
        announcer = Announcer(
            aiozc,
            name=self.service,
            host=self.mdns_host,
            ssh_port=self.settings.ssh_port,
            addresses=addresses,
            key=self.host_key.private if self.host_key else None,
        )
        await announcer.register(self.record(), time.monotonic())
        self.announcer = announcer

    async def _withdraw(self) -> None:
        """Goodbyes from the current announcement, and its view stopped (idempotent)."""
        stack, self._presence = self._presence, None
        self.announcer = self.live = None
        if stack is not None:
            await stack.aclose()

    async def close(self) -> None:
        """Withdraw the announcement, then close every listener."""
        await self._withdraw()
        await self.listeners.close()
        self.settled()
