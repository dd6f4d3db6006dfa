"""The thin client's whole decision: settings -> discover -> query -> rank -> one list of hosts.

`ltsp-mesh hosts` runs this; with `--hook` (what LDM's get_hosts runs) it also claims the first
server, remembers the list, and falls back to the last good list or LDM_LB_FALLBACK / $SERVER
when no server answers, so LDM always gets a line.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import random
import secrets
import socket
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ltsp_mesh.core import rank
from ltsp_mesh.core.codec import load_query, ltsp_cluster
from ltsp_mesh.core.codec.cachefile import CachedHosts
from ltsp_mesh.core.config import client_settings, ltsconf
from ltsp_mesh.core.config.client_settings import ClientSettings
from ltsp_mesh.core.discovery.services import Answered
from ltsp_mesh.errors import ConfigError
from ltsp_mesh.shell import netif, trust_store
from ltsp_mesh.shell.client import cache
from ltsp_mesh.shell.client import ltsp_cluster as loadbalancer_client
from ltsp_mesh.shell.client.survey import Survey, Unmeasured, survey

log = logging.getLogger(__name__)

# Responders answer a one-shot query at once; 120 ms is what a zeroconf browser needs to find
# every existing service on a busy LAN (DESIGN.md), so it is ample here.
DEFAULT_BROWSE_MS = 120


class Source(enum.StrEnum):
    """Where the printed list came from."""

    LIVE = "live"
    CACHE = "cache"
    FALLBACK = "fallback"
    NONE = "none"


@dataclass(frozen=True)
class Options:
    """What the command line asks for."""

    interfaces: tuple[str, ...] = ()
    timeout_ms: int | None = None  # None: LDM_LB_TIMEOUT_MS
    browse_ms: int = DEFAULT_BROWSE_MS
    lts_conf: Path | None = None
    algorithm: str | None = None  # overrides LDM_LB_ALGORITHM
    first_only: bool = False
    hook: bool = False
    cache_dir: str | None = None


@dataclass(frozen=True)
class Decision:
    """The hosts to print, best first, and how they were found."""

    hosts: list[str]
    source: Source
    ranked: list[Answered]
    unmeasured: list[Unmeasured]
    survey: Survey | None
    settings: ClientSettings
    counters: Counter[str]


def process_age_s() -> float:
    """Seconds since this process started (interpreter start-up counts against the deadline)."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime_s = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime_s - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def load_settings(
    options: Options, interface: netif.Interface | None, env: Mapping[str, str]
) -> ClientSettings:
    """Settings from the environment first (LDM exports lts.conf), then --lts-conf if given;
    each bad value logged as a warning and replaced by its default."""
    entries = None
    if options.lts_conf is not None:
        try:
            text = options.lts_conf.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {options.lts_conf}: {exc}") from exc

        def load(path: str) -> str:
            return Path(path).read_text(encoding="utf-8")

        conf = ltsconf.parse(text, str(options.lts_conf), load=load)
        resolved = ltsconf.resolve(
            conf,
            hostname=socket.gethostname(),
            ip=interface.address if interface else None,
            mac=interface.mac if interface and interface.mac else None,
        )
        for warning in (*conf.warnings, *resolved.warnings):
            log.warning("%s", warning)
        entries = resolved.entries
    for warning in client_settings.unknown_keys(env, entries):
        log.warning("%s", warning)
    if options.algorithm is not None:
        env = {**env, "LDM_LB_ALGORITHM": options.algorithm}
    # A bad value is a warning and its default: a typo in lts.conf must not turn balancing off.
    checked = client_settings.check(env, entries)
    for bad in checked.bad:
        log.warning("%s; fix %s, then this client is balanced as configured", bad, bad.key)
    return checked.settings


def send_claim(address: str, port: int, cookie: bytes = b"") -> None:
    """Tell the server listed first that a login is coming (one padded datagram; no wait),
    with the cookie from its reply to this client: the server counts a claim only with it."""
    request = load_query.encode_request(
        load_query.Request(load_query.Op.CLAIM, secrets.token_bytes(16), cookie=cookie)
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.sendto(request, (address, port))


async def decide(options: Options, env: Mapping[str, str], rng: random.Random) -> Decision:
    """Look at the mesh and decide the list; with `options.hook`, claim, cache and fall back."""
    loop = asyncio.get_running_loop()
    started = loop.time() - (process_age_s() if options.hook else 0.0)
    interfaces = netif.select(options.interfaces)
    settings = load_settings(options, interfaces[0] if interfaces else None, env)
    timeout_s = (options.timeout_ms if options.timeout_ms is not None else settings.timeout_ms) / 1000
    deadline = started + timeout_s
    remaining_s = deadline - loop.time()
    counters: Counter[str] = Counter()

    found: Survey | None = None
    recommended: str | None = None
    if interfaces and remaining_s > 0:
        looking = survey(
            interfaces,
            browse_s=min(options.browse_ms / 1000, remaining_s),
            timeout_s=remaining_s,
            rng=rng,
            policy=trust_store.policy(settings),
            dns_sd_domain=settings.dns_sd_domain,
        )
        if settings.loadbalancer_url:
            looked, recommended = await asyncio.gather(
                looking, loadbalancer_client.recommend(settings.loadbalancer_url, deadline, counters)
            )
        else:
            looked = await looking
        counters.update(looked.counters)
        found = looked
    elif not interfaces:
        log.warning("no up, multicast-capable IPv4 interface to look on")

    mac = interfaces[0].mac if interfaces and interfaces[0].mac else "00:00:00:00:00:00"
    ranked = rank.rank(found.answered, settings=settings, mac=mac, rng=rng) if found else []
    unmeasured = sorted(found.unmeasured, key=lambda u: u.discovered.instance) if found else []
    hosts = ltsp_cluster.prefer([a.address for a in ranked] + [u.address for u in unmeasured], recommended)
    limit = 1 if options.first_only else settings.max_hosts
    hosts = hosts[:limit] if limit else hosts
    source = Source.LIVE if hosts else Source.NONE

    if options.hook:
        path = cache.cache_path(options.cache_dir)
        if hosts:
            _claim_first(hosts[0], ranked, counters)
            _remember(path, hosts)
        else:
            hosts, source = _fallback(path, settings, limit)
    return Decision(hosts, source, ranked, unmeasured, found, settings, counters)


def _claim_first(first: str, ranked: Sequence[Answered], counters: Counter[str]) -> None:
    chosen = next((a for a in ranked if a.address == first), None)
    if chosen is None:
        return  # an unmeasured host has no query service to claim on
    cookie = chosen.signed.reply.cookie if chosen.signed is not None else b""
    if not cookie:
        counters["claims_without_cookie"] += 1  # a server that predates cookies counts it anyway
    try:
        send_claim(first, chosen.record.query_port, cookie)
        counters["claims_sent"] += 1
    except OSError as exc:
        log.info("could not claim %s: %s", first, exc)


def _remember(path: Path, hosts: list[str]) -> None:
    try:
        cache.write(path, CachedHosts(hosts=tuple(hosts), written_at=time.time()))
    except (OSError, ValueError) as exc:
        log.warning("could not update the host cache %s: %s", path, exc)


def _fallback(path: Path, settings: ClientSettings, limit: int) -> tuple[list[str], Source]:
    cached = cache.read(path)
    if cached is not None:
        log.warning("no server answered in time; using the last good list from %s", path)
        hosts, source = list(cached.hosts), Source.CACHE
    else:
        hosts, source = (
            list(settings.fallback_hosts),
            Source.FALLBACK if settings.fallback_hosts else Source.NONE,
        )
        if hosts:
            log.warning("no server answered in time and no cached list; using LDM_LB_FALLBACK / $SERVER")
    return (hosts[:limit] if limit else hosts), source
