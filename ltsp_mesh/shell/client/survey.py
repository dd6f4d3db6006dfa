"""The client's whole look at the mesh: discover, then query, under one deadline."""

from __future__ import annotations

import asyncio
import importlib
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.core.client.trust_policy import TRUST_ANY, TrustPolicy
from ltsp_mesh.core.discovery import dnssd_zone
from ltsp_mesh.core.discovery.services import Answered, Discovered
from ltsp_mesh.core.trust import signed_reply
from ltsp_mesh.shell import query
from ltsp_mesh.shell.client import discover
from ltsp_mesh.shell.netif import Interface

# Discovery never eats the whole budget: the direct queries need at least this much.
MIN_QUERY_BUDGET_S: Final = 0.05


@dataclass(frozen=True)
class Unmeasured:
    """A live host announcing _ltsp._tcp without ltsp-mesh's TXT (e.g. an Avahi static service)."""

    discovered: Discovered
    address: str


@dataclass(frozen=True)
class Untrusted:
    """A host that trust ruled out, and why (unsigned, unknown key, stale, wrong nonce ...)."""

    discovered: Discovered
    address: str
    reason: str


@dataclass(frozen=True)
class Survey:
    """Everything one look found.

    `answered` are the ltsp-mesh servers that answered the direct query; `unmeasured` the hosts
    whose responder answered the mDNS question just now but who announce no ltsp-mesh TXT, so
    they have no query service to ask (listed after measured servers). A server that announces
    ltsp-mesh TXT but does not answer the direct query is in neither: it is never handed out.
    `untrusted` are the hosts the trust policy ruled out, before or after asking them.
    """

    discovered: list[Discovered]
    answered: list[Answered]
    unmeasured: list[Unmeasured]
    untrusted: list[Untrusted]
    counters: Counter[str]
    elapsed_ms: float


async def survey(
    interfaces: Sequence[Interface],
    *,
    browse_s: float,
    timeout_s: float,
    rng: random.Random,
    policy: TrustPolicy = TRUST_ANY,
    dns_sd_domain: str | None = None,
    want_key: bool = False,
) -> Survey:
    """Discover servers on `interfaces` for `browse_s`, then ask those `policy` lets through;
    finish by `timeout_s`. With `dns_sd_domain` (LDM_LB_DOMAIN), also browse that unicast
    DNS-SD domain through the resolver, at the same time, and ask its servers too."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + timeout_s
    window_end = min(start + browse_s, deadline - MIN_QUERY_BUDGET_S)
    browse_deadline = window_end + max(0.0, (deadline - window_end - MIN_QUERY_BUDGET_S)) / 2
    unicast_counters: Counter[str] = Counter()
    if dns_sd_domain:
        found, unicast = await asyncio.gather(
            discover.browse(interfaces, window_end, browse_deadline, rng),
            _unicast(dns_sd_domain, browse_deadline, unicast_counters),
        )
        discovered = dnssd_zone.merge(found.discovered(), unicast)
    else:
        found = await discover.browse(interfaces, window_end, browse_deadline, rng)
        discovered = found.discovered()
    networks = [i.network for i in interfaces]
    targets, unmeasured, untrusted = [], [], []
    now = time.time()
    counters = Counter(found.counters)
    counters.update(unicast_counters)
    for found_server in discovered:
        choice = policy.choose(found_server, networks, now)
        if choice is None:
            continue
        server, address = choice.server, choice.address
        if choice.refusal:
            if server.announced is not None:
                counters["trust_txt_rejected"] += 1
            untrusted.append(Untrusted(server, address, choice.refusal))
            continue
        if server.announced is None:  # only under `any`: nothing signed to check
            unmeasured.append(Unmeasured(server, address))
            continue
        # Asking for the key is asking for proof: pad enough for a host certificate to come too.
        size = signed_reply.CERT_REQUEST_SIZE_BYTES if want_key else policy.request_size(server, address)
        targets.append(query.Target(server, address, server.announced.query_port, size))
    answered, rejected = await query.query_all(targets, deadline, counters, policy, want_key)
    believed = {a.address for a in answered}
    untrusted += [
        Untrusted(t.discovered, t.address, rejected[t.address])
        for t in targets
        if t.address in rejected and t.address not in believed
    ]
    return Survey(
        discovered, answered, unmeasured, untrusted, counters, round((loop.time() - start) * 1000, 1)
    )


async def _unicast(domain: str, deadline: float, counters: Counter[str]) -> list[Discovered]:
    # dnspython takes the hook ~40 ms to import: only when a domain is set, and in a thread
    # while the mDNS question is out, not before it.
    await asyncio.to_thread(importlib.import_module, "ltsp_mesh.shell.client.dnssd_browse")
    from ltsp_mesh.shell.client import dnssd_browse

    return await dnssd_browse.discovered(domain, deadline, counters=counters)
