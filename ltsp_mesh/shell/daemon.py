"""`ltsp-mesh serve`: the announcer daemon's lifecycle.

Setup, start, run, cleanup, the way aiohttp's runner does it: resolve everything that can fail
on bad configuration first; start the responders, then the announcement; sample on a timer
until SIGTERM or SIGINT; then stop each part in reverse, ending with AsyncZeroconf.async_close,
which sends the goodbyes for every registered service.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from zeroconf import InterfaceChoice, IPVersion
from zeroconf.asyncio import AsyncZeroconf

from ltsp_mesh.core import hostkey, names
from ltsp_mesh.core.legacy_xml import ServerReport
from ltsp_mesh.core.mesh_conf import ServeSettings
from ltsp_mesh.core.record import Load, ServerRecord, ServerState, record_from_load
from ltsp_mesh.errors import ConfigError, MeshError
from ltsp_mesh.shell import netif, respond_tcp, respond_udp
from ltsp_mesh.shell.announce import Announcer
from ltsp_mesh.shell.sample import FileSampler, Sampler, SystemSampler

log = logging.getLogger(__name__)

MACHINE_ID_PATHS = ("/etc/machine-id", "/var/lib/dbus/machine-id")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who this server is on the network, derived once at startup."""

    hostname: str
    service: str
    mdns_host: str
    server_id: str
    interfaces: tuple[netif.Interface, ...]
    host_key_fp: str


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
        return hostkey.fingerprint(public.read_text(encoding="ascii"))
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
        raise ConfigError(f"none of {', '.join(i.name for i in interfaces)} has a MAC address to derive names from")
    mac = with_mac[0].mac
    host = hostname or socket.gethostname()
    return Identity(
        hostname=names.host_label(host),
        service=names.service_name(host, mac),
        mdns_host=names.mdns_host_name(host, mac),
        server_id=names.server_id(_machine_id(), mac),
        interfaces=interfaces,
        host_key_fp=_host_key_fingerprint(settings.host_key),
    )


def _snapshot(load: Load, identity: Identity, settings: ServeSettings) -> Snapshot:
    capacity = settings.capacity or load.cpus
    record = record_from_load(
        load,
        server_id=identity.server_id,
        pending=0,
        capacity=capacity,
        state=ServerState.UP,
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


async def run(
    settings: ServeSettings,
    *,
    load_file: Path | None = None,
    sample_interval_s: float = 2.0,
    hostname: str | None = None,
) -> Counter[str]:
    """Serve until SIGTERM or SIGINT; return the counters (answered, dropped, updates)."""
    identity = identify(settings, hostname)
    sampler: Sampler = FileSampler(load_file) if load_file else SystemSampler()
    snapshot = _snapshot(await asyncio.to_thread(sampler.sample), identity, settings)
    counters: Counter[str] = Counter()

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    bind_hosts = [i.address for i in identity.interfaces] if settings.interfaces else ["0.0.0.0"]
    udp: list[asyncio.DatagramTransport] = []
    tcp: list[asyncio.Server] = []
    aiozc: AsyncZeroconf | None = None
    try:
        for host in bind_hosts:
            udp.append(await respond_udp.start(host, settings.query_port, lambda: snapshot.record, counters))
            tcp.append(await respond_tcp.start(host, settings.query_port, lambda: snapshot.report, counters))
        log.info("answering queries on %s port %d (UDP msgpack, TCP XML)", ", ".join(bind_hosts), settings.query_port)

        aiozc = AsyncZeroconf(
            interfaces=[i.address for i in identity.interfaces] if settings.interfaces else InterfaceChoice.All,
            ip_version=IPVersion.V4Only,
        )
        announcer = Announcer(
            aiozc,
            name=identity.service,
            host=identity.mdns_host,
            ssh_port=settings.ssh_port,
            addresses=[i.address for i in identity.interfaces],
        )
        await announcer.register(snapshot.record, time.monotonic())
        log.info("ready: id %s, %d CPUs, capacity %d", identity.server_id, snapshot.load.cpus, snapshot.record.capacity)

        while not stop.is_set():
            try:
                async with asyncio.timeout(sample_interval_s):
                    await stop.wait()
                break
            except TimeoutError:
                pass
            try:
                snapshot = _snapshot(await asyncio.to_thread(sampler.sample), identity, settings)
            except ConfigError as exc:
                counters["sample_failed"] += 1
                log.warning("keeping the last figures: %s", exc)
                continue
            if await announcer.refresh(snapshot.record, time.monotonic()):
                counters["txt_updates"] += 1
        log.info("stopping: sending goodbyes")
    finally:
        if aiozc is not None:
            await aiozc.async_close()
        for transport in udp:
            transport.close()
        for server in tcp:
            server.close()
            await server.wait_closed()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("stopped; %s", ", ".join(f"{k}={v}" for k, v in sorted(counters.items())) or "no queries")
    return counters
