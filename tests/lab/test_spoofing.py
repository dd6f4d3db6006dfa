"""Spoofed sources against real daemons' UDP 377: a burst of replies to nowhere, and forged claims.

The flooder (ltsp_mesh/lab/spoof.py) sends from ~230 addresses on the lab's link that no host owns, so no
ARP answer ever comes for them: what an attacker on a LAN can do. An honest client (asker.py)
keeps asking meanwhile. Set LTSP_MESH_BURST_S to replay the burst for longer (the issue's
figure is 10 s); the default suite keeps it short.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ltsp_mesh.core.codec import load_query
from ltsp_mesh.lab.mesh import control_path, start_server, wait_ready
from ltsp_mesh.lab.netns import Lab, LabProcess, mesh_argv
from tests.conftest import LabFactory
from tests.lab.helpers import ldm_split, load, pending_of, run_hook, udp_probe, wait_until

pytestmark = pytest.mark.lab
SPOOFER = [sys.executable, "-m", "ltsp_mesh.lab.spoof"]
ASKER = str(Path(__file__).with_name("asker.py"))
BROKER_CLIENT = str(Path(__file__).with_name("broker_client.py"))
# Last octets on the lab's /24 that no host owns (the lab numbers its hosts from .10): 231
# sources, as in the attack that was measured.
SPOOFED = ("20", "250")
SPOOFED_CLAIMS = ("20", "139")  # 120 sources, one claim each: 50 a second for 2.4 s
CLAIMS_RATE, CLAIMS_S = 50, 2.4
BURST_S = float(os.environ.get("LTSP_MESH_BURST_S", "3"))
RATE = 3000
# An honest client asking five times a second, well within its per-source budget (10 a second).
ASK_EVERY_S = 0.2
ASK_TIMEOUT_S = 0.25
# The bound on the daemon's growth through the burst. Measured: about 0.2 MiB for 3 s (and for
# 10 s); the responder that queued replies in user space grew 1.3 MiB per second of burst.
RSS_BOUND_KIB = 2 * 1024


@dataclass(frozen=True)
class Site:
    lab: Lab
    daemons: dict[str, LabProcess]


@dataclass(frozen=True)
class Burst:
    """What one burst against s1 did: the honest client's questions, the daemon's memory and counters."""

    asked: list[tuple[float, bool]]
    started: float
    ended: float
    rss_before_kib: int
    rss_after_kib: int
    counters: dict[str, int]


@pytest.fixture(scope="module")
def site(module_lab_factory: LabFactory) -> Site:
    lab = module_lab_factory(["s1", "s2", "flood", "client"])
    daemons = {host: start_server(lab, host, load()) for host in ("s1", "s2")}
    wait_ready(lab, list(daemons.values()))
    return Site(lab, daemons)


def _rss_kib(proc: LabProcess) -> int:
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {proc.pid}")


def _status(lab: Lab, host: str) -> dict[str, Any]:
    """`ltsp-mesh drain status --json` of `host`'s daemon: its record and counters."""
    proc = lab.run(
        host, mesh_argv("drain", "status", "--json", "--control-socket", str(control_path(lab, host)))
    )
    data: dict[str, Any] = json.loads(proc.stdout)["data"]
    return data


def _counters(lab: Lab, host: str) -> dict[str, int]:
    counters: dict[str, int] = _status(lab, host)["counters"]
    return counters


@pytest.fixture(scope="module")
def burst(site: Site) -> Burst:
    lab, server = site.lab, site.lab.address("s1")
    rss_before = _rss_kib(site.daemons["s1"])
    asker = lab.spawn(
        "client",
        [sys.executable, ASKER, server, "377", str(BURST_S + 2.5), str(ASK_EVERY_S), str(ASK_TIMEOUT_S)],
        log_name="asker",
    )
    lab.wait_for_log(asker, "ready", 10)
    flood = lab.run(
        "flood",
        [*SPOOFER, "stats", server, str(RATE), str(BURST_S), *SPOOFED],
        timeout_s=BURST_S + 60,
    )
    sent = json.loads(flood.stdout)
    rss_after = _rss_kib(site.daemons["s1"])
    assert asker.popen.wait(timeout=30) == 0, asker.log_text()
    asked = [(at, answered) for at, answered in json.loads(asker.log_text().splitlines()[-1])["asked"]]
    assert sent["sent"] >= RATE * BURST_S * 0.9, sent  # the burst really went out
    result = Burst(asked, sent["started"], sent["ended"], rss_before, rss_after, _counters(lab, "s1"))
    during = [ok for at, ok in asked if result.started <= at <= result.ended]
    after = [ok for at, ok in asked if result.ended < at <= result.ended + 1.0]
    print(  # the figures, with -s
        f"\nburst {sent['sent']} requests in {result.ended - result.started:.1f} s; honest answered "
        f"{sum(during)}/{len(during)} during, {sum(after)}/{len(after)} in the second after; daemon RSS "
        f"{rss_before} -> {rss_after} KiB; counters {result.counters}"
    )
    return result


def test_honest_queries_are_answered_during_a_spoofed_burst(burst: Burst) -> None:
    during = [answered for at, answered in burst.asked if burst.started <= at <= burst.ended]
    assert all(during), f"{during.count(False)} of {len(during)} honest queries unanswered during the burst"
    assert len(during) >= BURST_S / ASK_EVERY_S - 2  # and it kept asking


def test_honest_queries_are_answered_within_a_second_after_the_burst(burst: Burst) -> None:
    after = [answered for at, answered in burst.asked if burst.ended < at <= burst.ended + 1.0]
    assert after and all(after), after


def test_the_daemons_memory_stays_bounded_through_the_burst(burst: Burst) -> None:
    grown = burst.rss_after_kib - burst.rss_before_kib
    assert grown < RSS_BOUND_KIB, f"the daemon grew {grown} KiB during a {BURST_S} s burst"


def test_replies_that_cannot_leave_are_dropped_and_counted_by_reason(burst: Burst) -> None:
    # Shown by `ltsp-mesh drain status`: replies to spoofed sources whose ARP never resolves.
    unresolved = burst.counters.get("udp_dropped_unresolved", 0)
    over_reserve = burst.counters.get("udp_dropped_unresolved_over_reserve", 0)
    assert unresolved + over_reserve > RATE * BURST_S / 2, burst.counters


def test_the_kernel_tells_a_resolved_neighbour_from_an_unused_address(site: Site) -> None:
    lab = site.lab
    script = (
        "import sys\nfrom ltsp_mesh.shell.server.neighbours import Neighbours\n"
        "n = Neighbours()\nprint(' '.join(n.reach(a).value for a in sys.argv[1:]))\n"
    )
    udp_probe(lab, "client", lab.address("s2"), [b"x"], timeout_s=0.05)  # client and s2 now resolved
    proc = lab.run("client", [sys.executable, "-c", script, lab.address("s2"), "10.77.0.251", "127.0.0.1"])
    assert proc.stdout.split() == ["resolved", "unknown", "resolved"]


def test_spoofed_claims_leave_pend_unchanged(site: Site) -> None:
    lab = site.lab
    before, seen_before = pending_of(lab, "s2"), _counters(lab, "s2")
    flood = lab.run(
        "flood", [*SPOOFER, "claims", lab.address("s2"), str(CLAIMS_RATE), str(CLAIMS_S), *SPOOFED_CLAIMS]
    )
    sent = json.loads(flood.stdout)["sent"]
    assert sent >= 120
    seen = wait_until(
        lambda: _seen_since(lab, seen_before, sent), 10, f"the daemon to see the {sent} spoofed claims"
    )
    assert pending_of(lab, "s2") == before
    # Each refused and counted: no cookie, or no room to answer its source.
    assert _claims_refused(seen) - _claims_refused(seen_before) == sent, seen


REFUSALS = ("claims_cookie_missing", "udp_dropped_unresolved", "udp_dropped_unresolved_over_reserve")


def _claims_seen(counters: dict[str, int]) -> int:
    """Claims decided, and datagrams dropped before a decision."""
    return sum(v for k, v in counters.items() if k.startswith("claims_") or k.startswith("udp_dropped_"))


def _seen_since(lab: Lab, before: dict[str, int], count: int) -> dict[str, int] | None:
    """s2's counters once it has seen `count` more claims than in `before`, else None."""
    now = _counters(lab, "s2")
    return now if _claims_seen(now) - _claims_seen(before) >= count else None


def _claims_refused(counters: dict[str, int]) -> int:
    return sum(counters.get(name, 0) for name in REFUSALS)


def test_a_claim_without_a_cookie_is_refused_and_counted(site: Site) -> None:
    # What a client that predates cookies sends.
    lab = site.lab
    before, missing = pending_of(lab, "s2"), _counters(lab, "s2").get("claims_cookie_missing", 0)
    claim = load_query.encode_request(load_query.Request(load_query.Op.CLAIM, b"c" * 16))
    assert udp_probe(lab, "client", lab.address("s2"), [claim])[0]["reply"] is not None  # still answered
    assert _counters(lab, "s2")["claims_cookie_missing"] == missing + 1
    assert pending_of(lab, "s2") == before


def test_an_honest_clients_claim_still_counts(site: Site, tmp_path: Path) -> None:
    lab = site.lab
    before = {host: pending_of(lab, host) for host in ("s1", "s2")}
    env = {"LTSP_MESH_CACHE_DIR": str(tmp_path / "cache"), "LDM_LB_TIMEOUT_MS": "1500"}
    first = ldm_split(run_hook(lab, env)[0])[0]
    server = next(host for host in ("s1", "s2") if lab.address(host) == first)
    assert pending_of(lab, server) == before[server] + 1
    assert _counters(lab, server)["claims_new"] >= 1


def test_under_trust_any_a_brokers_relayed_claim_counts_with_its_cookie(site: Site) -> None:
    # These daemons list no host keys: no signature vouches for a broker, its cookie does. The
    # thin client is the flood host's own address, which has no claim yet.
    lab = site.lab
    before = {host: pending_of(lab, host) for host in ("s1", "s2")}
    target = f"/ltsp-mesh/v1/hosts?LDM_LB_ALGORITHM=mac-hash&mac={lab.mac('flood')}"
    proc = lab.run("flood", [sys.executable, BROKER_CLIENT, "get", lab.address("s2"), "378", target])
    (answer,) = json.loads(proc.stdout)
    assert answer["status"] == 200, answer
    server = next(host for host in ("s1", "s2") if lab.address(host) == answer["body"].split()[0])
    wait_until(lambda: pending_of(lab, server) == before[server] + 1, 5, "the relayed claim to count")
    assert _counters(lab, server)["claims_new"] >= 1
