"""`ltsp-mesh serve`: the announcer daemon's lifecycle.

Setup, start, run, cleanup, the way aiohttp's runner does it: resolve everything that can fail
on bad configuration or state first (interfaces, host key, STATE_DIR); start the control
socket, then the listeners and the announcement (network.py), then tell systemd it is ready;
sample on a timer (and on a drain change) until SIGTERM or SIGINT, moving the announcement and
listeners when an address comes or goes and reading mesh.conf again on SIGHUP; then stop each
part in reverse, ending with AsyncZeroconf.async_close, which sends the goodbyes for every
registered service.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import random
import secrets
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ltsp_mesh.core.broker import answer
from ltsp_mesh.core.broker.request import BrokerRequest
from ltsp_mesh.core.broker.view import MeshView
from ltsp_mesh.core.client.trust_policy import TrustPolicy
from ltsp_mesh.core.codec import control, txt
from ltsp_mesh.core.codec.control import ControlRequest, DrainState
from ltsp_mesh.core.codec.legacy_xml import ServerReport
from ltsp_mesh.core.codec.load_query import Request
from ltsp_mesh.core.config import reload as reload_plan
from ltsp_mesh.core.config.client_settings import Trust
from ltsp_mesh.core.config.mesh_conf import ServeSettings
from ltsp_mesh.core.discovery import dnssd_lease, names
from ltsp_mesh.core.record import Load, ServerRecord, ServerState, record_from_load
from ltsp_mesh.core.server import cookies, queries
from ltsp_mesh.core.server import drain as drain_rules
from ltsp_mesh.core.server.claims import ClaimState
from ltsp_mesh.core.server.cookies import CookieSecret
from ltsp_mesh.core.server.pending import DEFAULT_CLAIM_TTL_S, PendingLedger
from ltsp_mesh.core.trust import known_hosts, ssh_keys
from ltsp_mesh.errors import ConfigError, DecodeError, MeshError
from ltsp_mesh.shell import atomic, keys, netif, trust_store
from ltsp_mesh.shell.broker import endpoint as broker_endpoint
from ltsp_mesh.shell.keys import HostKey
from ltsp_mesh.shell.server import control as control_socket
from ltsp_mesh.shell.server import respond_tcp, respond_udp, state_dir
from ltsp_mesh.shell.server.monitor import Monitor
from ltsp_mesh.shell.server.network import Listeners, Network, describe

if TYPE_CHECKING:
    from ltsp_mesh.shell.server.dnssd_register import Registrar
from ltsp_mesh.shell.server.sample import FileSampler, Sampler, SystemSampler
from ltsp_mesh.shell.server.sdnotify import Notifier

log = logging.getLogger(__name__)

MACHINE_ID_PATHS = ("/etc/machine-id", "/var/lib/dbus/machine-id")
DEFAULT_HOST_KEY: Final = ServeSettings().host_key
DRAIN_FILE = "drain.json"
# How long a thin client's request may wait for the broker's view to be refreshed: the hook
# gives its first broker half of LDM_LB_TIMEOUT_MS (200 ms by default), and a refresh is ready
# within a LAN round trip, or live_view.READY_WAIT_S when a server died.
BROKER_WAIT_S = 0.15


@dataclass(frozen=True, slots=True)
class Identity:
    """Who this server is on the network, derived once at startup."""

    hostname: str
    service: str
    mdns_host: str
    server_id: str
    interfaces: tuple[netif.Interface, ...]
    host_key_fp: str
    host_key: HostKey | None = None


@dataclass
class Snapshot:
    """The latest reading and what is announced from it; replaced whole at every sample."""

    load: Load
    record: ServerRecord
    report: ServerReport


def _machine_id() -> str:
    for path in MACHINE_ID_PATHS:
        try:
            return Path(path).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
    return ""


def _host_key_fingerprint(private_key_path: str) -> str:
    public = Path(private_key_path + ".pub")
    try:
        return ssh_keys.fingerprint(public.read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError, MeshError) as exc:
        log.info("no host key fingerprint announced (%s: %s)", public, exc)
        return ""


def identify(settings: ServeSettings, hostname: str | None = None) -> Identity:
    """Resolve interfaces, names and ids; raise ConfigError when there is nothing to announce on."""
    interfaces = tuple(netif.select(settings.interfaces))
    if not interfaces:
        raise ConfigError("no up, multicast-capable IPv4 interface to announce on; name one with --interface")
    with_mac = [i for i in interfaces if i.mac and i.mac != "00:00:00:00:00:00"]
    if not with_mac:
        raise ConfigError(
            f"none of {', '.join(i.name for i in interfaces)} has a MAC address to derive names from"
        )
    mac = with_mac[0].mac
    host = hostname or socket.gethostname()
    # Only the default path may be missing (the server then runs unsigned): a HOST_KEY that
    # someone set must be there.
    host_key = keys.load(settings.host_key, required=settings.host_key != DEFAULT_HOST_KEY)
    return Identity(
        hostname=names.host_label(host),
        service=names.service_name(host, mac),
        mdns_host=names.mdns_host_name(host, mac),
        server_id=names.server_id(_machine_id(), mac),
        interfaces=interfaces,
        # The fingerprint of the key that signs, when there is one: it names what clients check.
        host_key_fp=host_key.fingerprint if host_key else _host_key_fingerprint(settings.host_key),
        host_key=host_key,
    )


def _snapshot(
    load: Load, identity: Identity, settings: ServeSettings, drain: DrainState, pending: int
) -> Snapshot:
    capacity = settings.capacity or load.cpus
    record = record_from_load(
        load,
        server_id=identity.server_id,
        pending=pending,
        capacity=capacity,
        state=ServerState.DRAIN if drain.draining else ServerState.UP,
        query_port=settings.query_port,
        host_key_fp=identity.host_key_fp,
    )
    report = ServerReport(
        hostname=identity.hostname,
        server_id=identity.server_id,
        state=record.state,
        load=load,
        pending=record.pending,
        capacity=capacity,
        ssh_port=settings.ssh_port,
        host_key_fp=identity.host_key_fp,
    )
    return Snapshot(load=load, record=record, report=report)


def read_drain_state(state_dir: Path) -> DrainState:
    """The persisted drain state; a missing or unreadable file means "not draining"."""
    path = state_dir / DRAIN_FILE
    try:
        return control.decode_drain_state(path.read_bytes())
    except FileNotFoundError:
        return DrainState()
    except (OSError, DecodeError) as exc:
        log.warning("ignoring the drain state in %s (%s): taking logins", path, exc)
        return DrainState()


# No site known_hosts: no mesh member is known, so relayed claims count only within the direct budget.
NO_MEMBERS: Final = known_hosts.KnownHosts()


class Runtime:
    """The running daemon's mutable state: the latest reading, drain state, claims, counters.

    Each request handler reads the clock once, asks the core for the decision
    (core/server/queries.py for UDP 377, core/server/drain.py for the control socket) and
    carries it out: counters, the announced snapshot, the drain file.
    """

    def __init__(
        self,
        identity: Identity,
        settings: ServeSettings,
        load: Load,
        drain: DrainState,
        ledger: PendingLedger,
        members: known_hosts.KnownHosts = NO_MEMBERS,
        strict: bool = False,
        cookie_secret: CookieSecret | None = None,
    ) -> None:
        self.identity, self.settings = identity, settings
        self.load, self.drain, self.ledger = load, drain, ledger
        self.counters: Counter[str] = Counter()
        self.wake = asyncio.Event()
        self.snapshot = _snapshot(load, identity, settings, drain, ledger.count(time.monotonic()))
        # Claims get budgets of their own, far below the query budget: a claim counts as a
        # login for minutes, so a flood of them would push honest clients away. The cookie
        # secret lives as long as this process: a restart makes every earlier cookie invalid.
        secret = cookie_secret or CookieSecret(os.urandom(cookies.SECRET_BYTES))
        self.claims = ClaimState.new(ledger, members, strict=strict, secret=secret)
        self.service_name = identity.service

    @property
    def signer(self) -> queries.Signer | None:
        """What replies are signed with: the host key of `identity` now, if it has one."""
        key = self.identity.host_key
        return queries.Signer(key.private, key.certificate) if key is not None else None

    def update(
        self, *, load: Load | None = None, drain: DrainState | None = None, now: float | None = None
    ) -> None:
        """Replace the reading and/or the drain state, and what is announced from them (with
        the pending claims at `now`, monotonic; read here when the caller has no event time)."""
        self.load = load or self.load
        self.drain = drain or self.drain
        pending = self.ledger.count(time.monotonic() if now is None else now)
        self.snapshot = _snapshot(self.load, self.identity, self.settings, self.drain, pending)

    def serve_request(self, query: queries.Query, now: queries.Instant) -> queries.Outcome:
        """Carry out the core's decision on a direct query: count a claim's verdict, announce
        a changed `pend`; return the outcome (the reply to send)."""
        state = queries.QueryState(self.snapshot.record, self.drain.draining, self.claims, self.signer)
        outcome, after = queries.handle(query, state, now)
        if outcome.verdict is not None:
            self.counters[f"claims_{outcome.verdict.value}"] += 1
        if after.record.pending != self.snapshot.record.pending:
            self.update(now=now.monotonic)
        return outcome

    def answer(self, request: Request, datagram: bytes, source: str, now: queries.Instant) -> bytes | None:
        """The reply datagram to a direct query (signed when there is a host key, with a claim
        cookie for `source`), or None when it would be larger than the request."""
        return self.serve_request(queries.Query(request, datagram, source), now).reply

    def settle(self, session_hosts: tuple[str, ...]) -> None:
        """Clients whose sessions have appeared no longer count as pending."""
        settled = self.ledger.settle(session_hosts)
        if settled:
            self.counters["claims_settled"] += settled

    def status(self) -> dict[str, object]:
        """What `ltsp-mesh drain status` shows."""
        return drain_rules.status(self.service_name, self.drain, self.snapshot.record, self.counters)

    async def handle_control(self, request: ControlRequest) -> dict[str, object]:
        """Answer a control request; a drain change is persisted first, then announced."""
        wall, monotonic = time.time(), time.monotonic()  # the event's time, read once
        changed, _ = drain_rules.handle(request, self.drain, wall)
        if changed is not None:
            path = Path(self.settings.state_dir) / DRAIN_FILE
            await asyncio.to_thread(atomic.write, path, control.encode_drain_state(changed))
            self.update(drain=changed, now=monotonic)
            self.wake.set()
            log.info(
                "drain %s%s",
                "on" if changed.draining else "off",
                f": {changed.reason}" if changed.reason else "",
            )
        return self.status()


def _trust(
    site: known_hosts.KnownHosts, interfaces: tuple[netif.Interface, ...], host_key: HostKey | None
) -> tuple[TrustPolicy, known_hosts.KnownHosts]:
    """The broker's trust policy (the site's known hosts, plus this server itself at the
    addresses it has now) and the members whose relayed claims it believes. Known-hosts trust
    when the site lists keys."""
    mode = TrustPolicy.of(Trust.AUTO, site).mode
    members = site
    if host_key is not None and interfaces:
        own = known_hosts.Listing(
            tuple(i.address for i in interfaces), ssh_keys.ed25519_public_key(host_key.private.public_key())
        )
        members = known_hosts.KnownHosts(
            site.entries + known_hosts.parse(known_hosts.format_known_hosts([own])).entries
        )
    return TrustPolicy(mode, members), members


def _warn_untrusting(policy: TrustPolicy) -> None:
    if not policy.strict:
        log.warning(
            "the known hosts (KNOWN_HOSTS in mesh.conf) list no host key: the broker hands out any server "
            "that answers, and believes any relayed claim; run `ltsp-mesh known-hosts --accept-new` on a "
            "server and ltsp-update-sshkeys"
        )


def _client_networks(local: str, interfaces: tuple[netif.Interface, ...]) -> list[str]:
    """The networks a client that connected to `local` is on: those of the interface it reached."""
    try:
        address = ipaddress.ip_address(local)
    except ValueError:
        return []
    return [i.network for i in interfaces if address in ipaddress.ip_network(i.network)]


def _broker_decide(network: Network, runtime: Runtime) -> broker_endpoint.Decide:
    """The broker's answer to one thin client: a view fit to answer from, the core's decision,
    the claim relayed. The view is the one on the addresses in use now (None while the daemon
    moves to new ones, or has none: then no server is known)."""
    rng = random.Random(secrets.randbits(64))

    async def decide(request: BrokerRequest, client: str, local: str) -> answer.Reply:
        loop = asyncio.get_running_loop()
        live = network.live
        if live is not None:
            await live.ready(loop.time() + BROKER_WAIT_S)
        reply = answer.handle(
            request,
            live.view if live is not None else MeshView(),
            client=client,
            now=loop.time(),
            rng=rng,
            client_networks=_client_networks(local, network.interfaces),
        )
        runtime.counters.update(reply.counters)
        if reply.claim is not None and live is not None:
            live.relay_claim(client, reply.claim)
        return reply

    return decide


@dataclass(frozen=True, slots=True)
class Options:
    """How `serve` runs besides mesh.conf: load source, timing, the control socket, the zone,
    and how to read the settings again on SIGHUP (None: there is nothing to re-read)."""

    load_file: Path | None = None
    sample_interval_s: float = 2.0
    hostname: str | None = None
    control_path: Path = Path(control_socket.DEFAULT_SOCKET)
    claim_ttl_s: float = DEFAULT_CLAIM_TTL_S
    dns_server: tuple[str, int] | None = None
    dns_lease_s: int = dnssd_lease.DEFAULT_LEASE_S
    reload: Callable[[], ServeSettings] | None = None


# After an address comes or goes, the rest of the change is waited for this long (a DHCP
# client and `ip` remove the old address and add the new one within milliseconds) before the
# interfaces are read again, so one renumbering moves the daemon once.
ADDRESS_SETTLE_S: Final = 0.25
# Without a netlink socket the addresses are read again this often instead.
ADDRESS_POLL_S: Final = 2.0
# A move that could not bind or announce everything is tried again after this long.
MOVE_RETRY_S: Final = 5.0


@dataclass
class Daemon:
    """The daemon in the steps aiohttp's runner takes: setup, start, serve, stop.

    Each step that acquires something (a handler, a socket, a registration) pushes what undoes
    it onto the `cleanup` stack that `run` owns, at once, so a failure at any point undoes
    exactly what was done, in reverse order, and a normal stop does the same. What is bound to
    an address lives in `network`, which moves when the addresses change.
    """

    settings: ServeSettings
    options: Options
    identity: Identity
    sampler: Sampler
    runtime: Runtime
    site: known_hosts.KnownHosts
    policy: TrustPolicy
    notifier: Notifier
    registrar: Registrar | None
    stopping: bool = False
    reload_requested: bool = False
    network: Network = field(init=False)  # made by start()
    endpoint: broker_endpoint.Endpoint = field(init=False)  # the broker, on every listening address
    # Loop time at which to read the interfaces again: after a netlink ring, a failed move,
    # or on the polling timer when there is no netlink.
    follow_at: float = float("inf")
    poll_s: float | None = None
    move_pending: bool = False  # the last move failed in part: move again even if nothing changed

    @property
    def counters(self) -> Counter[str]:
        """What the daemon counted: answered, dropped, updates, claims ..."""
        return self.runtime.counters

    @classmethod
    async def setup(
        cls, settings: ServeSettings, options: Options, cleanup: contextlib.AsyncExitStack
    ) -> Daemon:
        """Resolve everything that can fail on bad configuration or state, bind nothing yet."""
        identity = identify(settings, options.hostname)
        state = await asyncio.to_thread(state_dir.prepare, Path(settings.state_dir))
        sampler: Sampler = FileSampler(options.load_file) if options.load_file else SystemSampler()
        drain = await asyncio.to_thread(read_drain_state, state)
        first = await asyncio.to_thread(sampler.sample)
        site = await asyncio.to_thread(trust_store.read_server_known_hosts, settings.known_hosts)
        policy, members = _trust(site, identity.interfaces, identity.host_key)
        _warn_untrusting(policy)
        runtime = Runtime(
            identity,
            settings,
            first.load,
            drain,
            PendingLedger(ttl_s=options.claim_ttl_s),
            members,
            policy.strict,
        )
        if drain.draining:
            log.info("draining since a previous run%s", f": {drain.reason}" if drain.reason else "")
        daemon = cls(settings, options, identity, sampler, runtime, site, policy, Notifier(), None)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, daemon.request_stop, signum)
            cleanup.callback(loop.remove_signal_handler, signum)
        # SIGHUP's default action ends the process without a word: here it re-reads mesh.conf.
        loop.add_signal_handler(signal.SIGHUP, daemon.request_reload)
        cleanup.callback(loop.remove_signal_handler, signal.SIGHUP)
        if settings.dns_sd_domain:
            # Imported only here: dnspython is a sixth of the daemon's memory, and most sites
            # (one link, mDNS only) never need it.
            from ltsp_mesh.shell.server import dnssd_register

            daemon.registrar = await dnssd_register.for_daemon(
                settings,
                hostname=identity.hostname,
                interfaces=identity.interfaces,
                counters=runtime.counters,
                server=options.dns_server,
                lease_s=options.dns_lease_s,
                signing_key=identity.host_key.private if identity.host_key else None,
            )
            cleanup.push_async_callback(daemon.registrar.stop)  # removes the records, within seconds
        return daemon

    def request_stop(self, signum: int = signal.SIGTERM) -> None:
        """SIGTERM or SIGINT: finish the current step, then stop."""
        if not self.stopping:
            log.info("%s: stopping", signal.Signals(signum).name)
        self.stopping = True
        self.runtime.wake.set()

    def request_reload(self) -> None:
        """SIGHUP: re-read mesh.conf at the end of the current step."""
        self.reload_requested = True
        self.runtime.wake.set()

    def addresses_changed(self) -> None:
        """An IPv4 address came or went: read the interfaces again once the change settles."""
        loop = asyncio.get_running_loop()
        self.follow_at = min(self.follow_at, loop.time() + ADDRESS_SETTLE_S)
        self.network.expect_move()
        self.runtime.wake.set()

    async def _open_listeners(self, host: str, stack: contextlib.AsyncExitStack) -> None:
        """The responders and the broker's endpoint on one address."""
        settings, runtime, counters = self.settings, self.runtime, self.counters
        stack.callback((await respond_udp.start(host, settings.query_port, runtime.answer, counters)).close)
        _close_on_exit(
            stack,
            await respond_tcp.start(host, settings.query_port, lambda: runtime.snapshot.report, counters),
        )
        _close_on_exit(stack, await broker_endpoint.start(host, settings.broker_port, self.endpoint))

    async def start(self, cleanup: contextlib.AsyncExitStack) -> None:
        """The control socket, the listeners, the broker and the announcement; READY."""
        settings, identity, runtime = self.settings, self.identity, self.runtime
        # First: a second daemon started by mistake stops here, naming the one that runs.
        control = await control_socket.serve(self.options.control_path, runtime.handle_control)
        cleanup.push_async_callback(control.close)  # removes only the socket this daemon made

        self.network = Network(
            settings=settings,
            service=identity.service,
            mdns_host=identity.mdns_host,
            host_key=identity.host_key,
            policy=self.policy,
            counters=self.counters,
            listeners=Listeners(self._open_listeners),
            record=lambda: runtime.snapshot.record,
        )
        # The status page, /metrics and the record of decisions, beside the broker's path.
        monitor = Monitor(
            lambda: self.network.live, self.counters, lambda: runtime.snapshot.record, identity.hostname
        )
        self.endpoint = broker_endpoint.Endpoint(
            monitor.timed(_broker_decide(self.network, runtime)), self.counters, pages=monitor.page
        )
        monitor.start()
        cleanup.push_async_callback(monitor.stop)
        cleanup.push_async_callback(self.network.close)
        await self.network.start(identity.interfaces)
        log.info(
            "answering queries on %s port %d (UDP msgpack, TCP XML) and thin clients' get_hosts on TCP "
            "port %d (broker, %s trust)",
            ", ".join(self.network.listeners.hosts),
            settings.query_port,
            settings.broker_port,
            "known-hosts" if self.policy.strict else "any",
        )
        watch = netif.AddressWatch(self.addresses_changed)
        if watch.start():
            cleanup.callback(watch.close)
        else:
            self.poll_s = ADDRESS_POLL_S
            self.follow_at = asyncio.get_running_loop().time() + ADDRESS_POLL_S

        runtime.service_name = self._registered_name()
        if self.registrar is not None:
            self.registrar.start(txt.encode(runtime.snapshot.record))  # in the background: DNS may be down
        record = runtime.snapshot.record
        log.info(
            "ready: id %s, %d CPUs, capacity %d, %s",
            identity.server_id,
            runtime.load.cpus,
            record.capacity,
            record.state.value,
        )
        self.notifier.notify("READY=1", f"STATUS=announcing {runtime.service_name}")

    def _registered_name(self) -> str:
        announcer = self.network.announcer
        return announcer.registered_name if announcer is not None else self.identity.service

    async def serve(self) -> None:
        """Sample on a timer (and on a drain change), keep TXT current, follow the addresses,
        reload on SIGHUP, ping the watchdog, until stopped."""
        loop, runtime = asyncio.get_running_loop(), self.runtime
        interval_s = self.options.sample_interval_s
        next_sample = loop.time() + interval_s
        watchdog_s = self.notifier.watchdog_interval_s
        next_ping = loop.time() + watchdog_s if watchdog_s else float("inf")
        while not self.stopping:
            try:
                async with asyncio.timeout_at(min(next_sample, next_ping, self.follow_at)):
                    await runtime.wake.wait()
            except TimeoutError:
                pass
            runtime.wake.clear()
            if self.stopping:
                break
            now = loop.time()
            if watchdog_s and now >= next_ping:
                self.notifier.notify("WATCHDOG=1")
                next_ping = now + watchdog_s
            if self.reload_requested:
                self.reload_requested = False
                await self.reload()
            if now >= self.follow_at:
                self.follow_at = now + self.poll_s if self.poll_s else float("inf")
                await self.follow(self.settings.interfaces)
            if now >= next_sample:
                next_sample = now + interval_s
                await self._sample()
            announcer = self.network.announcer
            if announcer is not None and await announcer.refresh(runtime.snapshot.record, time.monotonic()):
                self.counters["txt_updates"] += 1
                if self.registrar is not None:
                    self.registrar.update_txt(txt.encode(runtime.snapshot.record))

    async def follow(self, names: tuple[str, ...]) -> None:
        """Move to the interfaces `names` (INTERFACES) have now, if their addresses changed."""
        try:
            await self._follow(names)
        finally:
            self.network.settled()

    async def _follow(self, names: tuple[str, ...]) -> None:
        found = tuple(netif.current(names))
        if found == self.network.interfaces and not self.move_pending:
            return
        if found != self.network.interfaces:
            log.info(
                "addresses changed: %s -> %s; announcing and answering on the new ones",
                describe(self.network.interfaces),
                describe(found),
            )
            self.counters["address_changes"] += 1
        self.policy, members = _trust(self.site, found, self.identity.host_key)
        self.runtime.claims.known_hosts = members
        self.network.policy = self.policy
        self.network.settings = self.settings
        ok = await self.network.move(found)
        self.move_pending = not ok
        if not ok:
            self.follow_at = min(self.follow_at, asyncio.get_running_loop().time() + MOVE_RETRY_S)
        self.runtime.service_name = self._registered_name()
        if self.registrar is not None:
            self.registrar.update_addresses([i.address for i in found])

    async def reload(self) -> None:
        """SIGHUP: read mesh.conf again; apply what can change live, log what needs a restart."""
        if self.options.reload is None:
            log.info("SIGHUP: no configuration file to read again; serving on unchanged")
            return
        try:
            wanted = await asyncio.to_thread(self.options.reload)
        except MeshError as exc:
            self.counters["reload_failed"] += 1
            log.error("SIGHUP: kept the running configuration: %s", exc)
            return
        # A name no interface has is a mistake; one without an address yet is a move to come.
        unknown = netif.unknown(wanted.interfaces) if wanted.interfaces != self.settings.interfaces else []
        if unknown:
            self.counters["reload_failed"] += 1
            log.error(
                "SIGHUP: kept the running configuration: INTERFACES names %s, which this machine does not have",
                ", ".join(unknown),
            )
            return
        plan = reload_plan.plan(self.settings, wanted)
        for change in plan.need_restart:
            log.warning(
                "SIGHUP: %s takes effect at the next start (systemctl restart ltsp-mesh); still using %s",
                change,
                change.old,
            )
        if not plan.applied:
            log.info("SIGHUP: mesh.conf read again; nothing to change while running")
            return
        self.notifier.notify("RELOADING=1")
        old, self.settings = self.settings, plan.settings
        self.runtime.settings = plan.settings
        self.runtime.update()  # CAPACITY, announced with the next TXT update
        if plan.settings.known_hosts != old.known_hosts:
            self.site = await asyncio.to_thread(
                trust_store.read_server_known_hosts, plan.settings.known_hosts
            )
            self.policy, members = _trust(self.site, self.network.interfaces, self.identity.host_key)
            self.runtime.claims.known_hosts, self.runtime.claims.strict = members, self.policy.strict
            _warn_untrusting(self.policy)
            if self.network.live is not None:
                self.network.live.policy = self.policy
        if plan.settings.interfaces != old.interfaces:
            self.move_pending = True
            await self.follow(plan.settings.interfaces)
        self.runtime.wake.set()
        self.counters["reloads"] += 1
        log.info("SIGHUP: mesh.conf read again; now using %s", "; ".join(str(c) for c in plan.applied))
        self.notifier.notify("READY=1", f"STATUS=announcing {self.runtime.service_name}")

    async def _sample(self) -> None:
        try:
            sample = await asyncio.to_thread(self.sampler.sample)
        except ConfigError as exc:
            self.counters["sample_failed"] += 1
            log.warning("keeping the last figures: %s", exc)
            return
        self.runtime.settle(sample.session_hosts)
        self.runtime.update(load=sample.load)

    def stop(self) -> None:
        """Say that the goodbyes are going out (the cleanup sends them)."""
        log.info("stopping: sending goodbyes")
        self.notifier.notify("STOPPING=1")


def _close_on_exit(cleanup: contextlib.AsyncExitStack, server: asyncio.AbstractServer) -> None:
    async def close() -> None:
        server.close()
        await server.wait_closed()

    cleanup.push_async_callback(close)


async def run(settings: ServeSettings, options: Options = Options()) -> Counter[str]:
    """Serve until SIGTERM or SIGINT (SIGHUP reads mesh.conf again); return the counters
    (answered, dropped, updates).

    With DNS_SD_DOMAIN, also register in that unicast zone (at `options.dns_server` if given,
    else at the primary its SOA names), with records that live `options.dns_lease_s` without a
    renewal.
    """
    async with contextlib.AsyncExitStack() as cleanup:
        daemon = await Daemon.setup(settings, options, cleanup)
        await daemon.start(cleanup)
        await daemon.serve()
        daemon.stop()
    counters = daemon.counters
    log.info("stopped; %s", ", ".join(f"{k}={v}" for k, v in sorted(counters.items())) or "no queries")
    return counters
