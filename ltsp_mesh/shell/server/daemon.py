"""`ltsp-mesh serve`: the announcer daemon's lifecycle.

Setup, start, run, cleanup, the way aiohttp's runner does it: resolve everything that can fail
on bad configuration first; start the responders and the control socket, then the
announcement, then tell systemd it is ready; sample on a timer (and on a drain change) until
SIGTERM or SIGINT; then stop each part in reverse, ending with AsyncZeroconf.async_close, which
sends the goodbyes for every registered service.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import secrets
import signal
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from zeroconf import InterfaceChoice, IPVersion
from zeroconf.asyncio import AsyncZeroconf

from ltsp_mesh.core.broker import answer, relay
from ltsp_mesh.core.broker.request import BrokerRequest
from ltsp_mesh.core.client.trust_policy import TrustPolicy
from ltsp_mesh.core.codec import control, load_query, txt
from ltsp_mesh.core.codec.control import ControlOp, ControlRequest, DrainState
from ltsp_mesh.core.codec.legacy_xml import ServerReport
from ltsp_mesh.core.codec.load_query import Op, Request
from ltsp_mesh.core.config.client_settings import Trust
from ltsp_mesh.core.config.mesh_conf import ServeSettings
from ltsp_mesh.core.discovery import dnssd_lease, names
from ltsp_mesh.core.record import Load, ServerRecord, ServerState, record_from_load
from ltsp_mesh.core.server.pending import DEFAULT_CLAIM_TTL_S, PendingLedger
from ltsp_mesh.core.trust import known_hosts, signed_reply, ssh_keys
from ltsp_mesh.errors import ConfigError, DecodeError, MeshError
from ltsp_mesh.shell import atomic, keys, netif, trust_store
from ltsp_mesh.shell.broker import endpoint as broker_endpoint
from ltsp_mesh.shell.broker.live_view import LiveView
from ltsp_mesh.shell.keys import HostKey
from ltsp_mesh.shell.server import control as control_socket
from ltsp_mesh.shell.server import respond_tcp, respond_udp
from ltsp_mesh.shell.server.announce import Announcer

if TYPE_CHECKING:
    from ltsp_mesh.shell.server.dnssd_register import Registrar
from ltsp_mesh.shell.server.sample import FileSampler, Sampler, SystemSampler
from ltsp_mesh.shell.server.sdnotify import Notifier

log = logging.getLogger(__name__)

MACHINE_ID_PATHS = ("/etc/machine-id", "/var/lib/dbus/machine-id")
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
    host_key = keys.load(settings.host_key)
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
    """The running daemon's mutable state: the latest reading, drain state, claims, counters."""

    def __init__(
        self,
        identity: Identity,
        settings: ServeSettings,
        load: Load,
        drain: DrainState,
        ledger: PendingLedger,
        members: known_hosts.KnownHosts = NO_MEMBERS,
        strict: bool = False,
    ) -> None:
        self.identity, self.settings = identity, settings
        self.load, self.drain, self.ledger = load, drain, ledger
        self.counters: Counter[str] = Counter()
        self.wake = asyncio.Event()
        self.snapshot = _snapshot(load, identity, settings, drain, ledger.count(time.monotonic()))
        # Claims get budgets of their own, far below the query budget: a claim counts as a
        # login for minutes, so a flood of them would push honest clients away.
        self.claims = relay.ClaimState.new(ledger, members, strict=strict)
        self.service_name = identity.service

    def update(self, *, load: Load | None = None, drain: DrainState | None = None) -> None:
        """Replace the reading and/or the drain state, and what is announced from them."""
        self.load = load or self.load
        self.drain = drain or self.drain
        pending = self.ledger.count(time.monotonic())
        self.snapshot = _snapshot(self.load, self.identity, self.settings, self.drain, pending)

    def serve_request(self, request: Request, datagram: bytes, source: str) -> ServerRecord:
        """Act on a direct query (a claim counts a pending login) and return the record to send."""
        now = time.monotonic()
        if request.op is Op.CLAIM:
            try:
                relayed = relay.decode(datagram, request)
            except DecodeError:
                verdict = relay.Verdict.RELAY_MALFORMED
            else:
                verdict = relay.admit(
                    request,
                    relayed,
                    source=source,
                    draining=self.drain.draining,
                    state=self.claims,
                    now=now,
                    wall_now=time.time(),
                )
            self.counters[f"claims_{verdict.value}"] += 1
        pending = self.ledger.count(now)
        if pending != self.snapshot.record.pending:
            self.update()
        return self.snapshot.record

    def answer(self, request: Request, datagram: bytes, source: str) -> bytes | None:
        """The reply datagram to a direct query (signed when there is a host key), or None when
        it would be larger than the request."""
        request_size = len(datagram)
        record = self.serve_request(request, datagram, source)
        now = time.time()
        key = self.identity.host_key
        if key is None:
            return load_query.reply_to(request, request_size, record, now)
        return signed_reply.reply_to(
            request, request_size, record, now, key=key.private, certificate=key.certificate
        )

    def settle(self, session_hosts: tuple[str, ...]) -> None:
        """Clients whose sessions have appeared no longer count as pending."""
        settled = self.ledger.settle(session_hosts)
        if settled:
            self.counters["claims_settled"] += settled

    def status(self) -> dict[str, object]:
        """What `ltsp-mesh drain status` shows."""
        record = self.snapshot.record
        return {
            "ok": True,
            "service": self.service_name,
            "drain": {
                "draining": self.drain.draining,
                "reason": self.drain.reason,
                "since": self.drain.since,
            },
            "record": {
                **{f: getattr(record, f) for f in record.__dataclass_fields__},
                "state": record.state.value,
            },
            "counters": dict(self.counters),
        }

    async def handle_control(self, request: ControlRequest) -> dict[str, object]:
        """Answer a control request; a drain change is persisted first, then announced."""
        if request.op is ControlOp.DRAIN and request.drain is not None:
            wanted = request.drain
            if (wanted.draining, wanted.reason) != (self.drain.draining, self.drain.reason):
                new = DrainState(draining=wanted.draining, reason=wanted.reason, since=time.time())
                path = Path(self.settings.state_dir) / DRAIN_FILE
                await asyncio.to_thread(atomic.write, path, control.encode_drain_state(new))
                self.update(drain=new)
                self.wake.set()
                log.info(
                    "drain %s%s", "on" if new.draining else "off", f": {new.reason}" if new.reason else ""
                )
        return self.status()


def _trust(site: known_hosts.KnownHosts, identity: Identity) -> tuple[TrustPolicy, known_hosts.KnownHosts]:
    """The broker's trust policy (the site's known hosts, plus this server itself) and the
    members whose relayed claims it believes. Known-hosts trust when the site lists keys."""
    mode = TrustPolicy.of(Trust.AUTO, site).mode
    members = site
    if identity.host_key is not None:
        own = known_hosts.Listing(
            tuple(i.address for i in identity.interfaces),
            ssh_keys.ed25519_public_key(identity.host_key.private.public_key()),
        )
        members = known_hosts.KnownHosts(
            site.entries + known_hosts.parse(known_hosts.format_known_hosts([own])).entries
        )
    if mode is not Trust.KNOWN_HOSTS:
        log.warning(
            "the known hosts (KNOWN_HOSTS in mesh.conf) list no host key: the broker hands out any server "
            "that answers, and believes any relayed claim; run `ltsp-mesh known-hosts --accept-new` on a "
            "server and ltsp-update-sshkeys"
        )
    return TrustPolicy(mode, members), members


def _client_networks(local: str, interfaces: tuple[netif.Interface, ...]) -> list[str]:
    """The networks a client that connected to `local` is on: those of the interface it reached."""
    try:
        address = ipaddress.ip_address(local)
    except ValueError:
        return []
    return [i.network for i in interfaces if address in ipaddress.ip_network(i.network)]


def _broker_decide(live: LiveView, runtime: Runtime) -> broker_endpoint.Decide:
    """The broker's answer to one thin client: a view fit to answer from, the core's decision,
    the claim relayed."""
    rng = random.Random(secrets.randbits(64))

    async def decide(request: BrokerRequest, client: str, local: str) -> answer.Reply:
        loop = asyncio.get_running_loop()
        await live.ready(loop.time() + BROKER_WAIT_S)
        reply = answer.handle(
            request,
            live.view,
            client=client,
            now=loop.time(),
            rng=rng,
            client_networks=_client_networks(local, runtime.identity.interfaces),
        )
        runtime.counters.update(reply.counters)
        if reply.claim is not None:
            live.relay_claim(client, reply.claim)
        return reply

    return decide


@dataclass(frozen=True, slots=True)
class Options:
    """How `serve` runs besides mesh.conf: load source, timing, the control socket, the zone."""

    load_file: Path | None = None
    sample_interval_s: float = 2.0
    hostname: str | None = None
    control_path: Path = Path(control_socket.DEFAULT_SOCKET)
    claim_ttl_s: float = DEFAULT_CLAIM_TTL_S
    dns_server: tuple[str, int] | None = None
    dns_lease_s: int = dnssd_lease.DEFAULT_LEASE_S


@dataclass
class Daemon:
    """The daemon in the steps aiohttp's runner takes: setup, start, serve, stop.

    Each step that acquires something (a handler, a socket, a registration) pushes what undoes
    it onto the `cleanup` stack that `run` owns, at once, so a failure at any point undoes
    exactly what was done, in reverse order, and a normal stop does the same.
    """

    settings: ServeSettings
    options: Options
    identity: Identity
    sampler: Sampler
    runtime: Runtime
    policy: TrustPolicy
    notifier: Notifier
    registrar: Registrar | None
    stopping: bool = False
    announcer: Announcer = field(init=False)  # made by start(), on the zeroconf instance it opens

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
        sampler: Sampler = FileSampler(options.load_file) if options.load_file else SystemSampler()
        drain = await asyncio.to_thread(read_drain_state, Path(settings.state_dir))
        first = await asyncio.to_thread(sampler.sample)
        site = await asyncio.to_thread(trust_store.read_server_known_hosts, settings.known_hosts)
        policy, members = _trust(site, identity)
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
        daemon = cls(settings, options, identity, sampler, runtime, policy, Notifier(), None)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, daemon.request_stop)
            cleanup.callback(loop.remove_signal_handler, signum)
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

    def request_stop(self) -> None:
        """SIGTERM or SIGINT: finish the current step, then stop."""
        self.stopping = True
        self.runtime.wake.set()

    async def start(self, cleanup: contextlib.AsyncExitStack) -> None:
        """The responders and the control socket, the broker, then the announcement; READY."""
        settings, identity, runtime, counters = self.settings, self.identity, self.runtime, self.counters
        bind_hosts = [i.address for i in identity.interfaces] if settings.interfaces else ["0.0.0.0"]
        for host in bind_hosts:
            cleanup.callback(
                (await respond_udp.start(host, settings.query_port, runtime.answer, counters)).close
            )
            _close_on_exit(
                cleanup,
                await respond_tcp.start(host, settings.query_port, lambda: runtime.snapshot.report, counters),
            )
        log.info(
            "answering queries on %s port %d (UDP msgpack, TCP XML)",
            ", ".join(bind_hosts),
            settings.query_port,
        )
        control_path = self.options.control_path
        _close_on_exit(cleanup, await control_socket.serve(control_path, runtime.handle_control))
        cleanup.callback(control_path.unlink, missing_ok=True)  # only a socket this daemon made

        aiozc = AsyncZeroconf(
            interfaces=[i.address for i in identity.interfaces]
            if settings.interfaces
            else InterfaceChoice.All,
            ip_version=IPVersion.V4Only,
        )
        cleanup.push_async_callback(aiozc.async_close)  # unregisters every service: the goodbyes
        live = LiveView(
            aiozc,
            networks=[i.network for i in identity.interfaces],
            policy=self.policy,
            host_key=identity.host_key,
            counters=counters,
            dns_sd_domain=settings.dns_sd_domain,
        )
        await live.start()
        cleanup.push_async_callback(live.stop)
        endpoint = broker_endpoint.Endpoint(_broker_decide(live, runtime), counters)
        for host in bind_hosts:
            _close_on_exit(cleanup, await broker_endpoint.start(host, settings.broker_port, endpoint))
        log.info(
            "answering thin clients' get_hosts on %s TCP port %d (broker, %s trust)",
            ", ".join(bind_hosts),
            settings.broker_port,
            "known-hosts" if self.policy.strict else "any",
        )

        self.announcer = Announcer(
            aiozc,
            name=identity.service,
            host=identity.mdns_host,
            ssh_port=settings.ssh_port,
            addresses=[i.address for i in identity.interfaces],
            key=identity.host_key.private if identity.host_key else None,
        )
        await self.announcer.register(runtime.snapshot.record, time.monotonic())
        runtime.service_name = self.announcer.registered_name
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
        self.notifier.notify("READY=1", f"STATUS=announcing {self.announcer.registered_name}")

    async def serve(self) -> None:
        """Sample on a timer (and on a drain change), keep TXT current, ping the watchdog, until stopped."""
        loop, runtime = asyncio.get_running_loop(), self.runtime
        interval_s = self.options.sample_interval_s
        next_sample = loop.time() + interval_s
        watchdog_s = self.notifier.watchdog_interval_s
        next_ping = loop.time() + watchdog_s if watchdog_s else float("inf")
        while not self.stopping:
            try:
                async with asyncio.timeout_at(min(next_sample, next_ping)):
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
            if now >= next_sample:
                next_sample = now + interval_s
                await self._sample()
            if await self.announcer.refresh(runtime.snapshot.record, time.monotonic()):
                self.counters["txt_updates"] += 1
                if self.registrar is not None:
                    self.registrar.update_txt(txt.encode(runtime.snapshot.record))

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
    """Serve until SIGTERM or SIGINT; return the counters (answered, dropped, updates).

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
