"""Unicast DNS-SD at scale: DNS and mDNS packets per server and per client, steady and in a storm.

A routed lab: N servers and a real BIND9 on one subnet, K thin clients behind a router, every
client's resolver pointing at the BIND. Every host's eth0 is sniffed (lab/bench/sniff.py), so
each packet is counted where it is sent or received, by kind.

- Steady state: the servers run with a short lease (renewals every BENCH_LEASE_S / 2), so a
  window holds several renewal cycles; the cost of one cycle (the signed update plus the look
  at the peers' stamps) is measured and projected to the default lease.
- Storm: every client runs `ltsp-mesh hosts --hook` at once, ROUNDS times (LDM_LB_DOMAIN set):
  the Python client, which browses the zone itself. (The sh get_hosts hook asks a broker over
  TCP and does no DNS at all; brokers browse mDNS.)
- The prototype's design, from the same lab: every client polls every server over the legacy
  TCP 377 protocol at each boot. One poll is measured (packets at the client), and a boot
  costs N polls, each server K polls per storm round.

Targets: a renewal cycle costs at most 4N + 4 DNS packets per server (update, PTR, SRV and TXT
of each peer, both ways), under one packet a second at the default lease; a hook run costs a
client at most 2 (1 + 2N) DNS packets plus N A look-ups' worth of slack, and each server at
most what one prototype poll costs it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from ltsp_mesh.core.discovery import dnssd_lease
from ltsp_mesh.lab.bench.core_suite import Figure, server_load
from ltsp_mesh.lab.bind import ZONE, Bind
from ltsp_mesh.lab.mesh import start_server, wait_ready
from ltsp_mesh.lab.netns import Lab, LabProcess, mesh_argv
from ltsp_mesh.lab.routed import RoutedLab

BENCH_LEASE_S = 10
KINDS = ("dns", "mdns", "query", "legacy", "other")


def _sniff(lab: Lab, hosts: list[str]) -> dict[str, LabProcess]:
    sniffers = {
        h: lab.spawn(h, [sys.executable, "-m", "ltsp_mesh.lab.bench.sniff", "eth0"], log_name=f"sniff-{h}")
        for h in hosts
    }
    for proc in sniffers.values():
        lab.wait_for_log(proc, "ready", 10)
    return sniffers


def _counts(lab: Lab, sniffers: dict[str, LabProcess]) -> dict[str, Counter[str]]:
    """Stop the sniffers; each host's packets by kind (`dns`: both ways, `dns_tx`, `dns_rx`)."""
    out = {}
    for host, proc in sniffers.items():
        lab.stop(proc)
        line = [line for line in proc.log_text().splitlines() if line.startswith("{")][-1]
        raw = Counter(json.loads(line))
        out[host] = raw + Counter({k: raw[f"{k}_tx"] + raw[f"{k}_rx"] for k in KINDS})
    return out


def _mean(counts: dict[str, Counter[str]], hosts: list[str], kind: str) -> float:
    return statistics.mean(counts[h][kind] for h in hosts)


def _storm(lab: Lab, clients: list[str], env: dict[str, str], rounds: int) -> tuple[int, int]:
    """Run `hosts --hook` on every client, `rounds` times; (runs, runs that listed every server).

    The lab's clients share this machine's CPUs, where real ones each have their own, so they
    start as many at a time as there are CPUs: every run still overlaps others on the wire.
    """
    runs = complete = 0
    expected = int(env["BENCH_SERVERS"])
    at_once = max(2, os.cpu_count() or 2)
    for _ in range(rounds):
        for first in range(0, len(clients), at_once):
            procs = [
                subprocess.Popen(
                    lab.exec_argv(c, mesh_argv("hosts", "--hook")),
                    stdout=subprocess.PIPE,
                    text=True,
                    env={**os.environ, **lab.env, **env, "LTSP_MESH_CACHE_DIR": f"{env['CACHE']}/{c}"},
                )
                for c in clients[first : first + at_once]
            ]
            for proc in procs:
                out, _ = proc.communicate(timeout=30)
                runs += 1
                complete += len(out.split()) == expected
    return runs, complete


def _legacy_poll_packets(lab: Lab, client: str, server: str) -> int:
    """Packets one legacy TCP 377 poll (the prototype's) costs, counted at the client."""
    sniffers = _sniff(lab, [client])
    code = (
        "import socket,sys\ns=socket.create_connection((sys.argv[1],377),3)\n"
        "while s.recv(4096): pass\ns.close()\n"
    )
    lab.run(client, [sys.executable, "-c", code, lab.address(server)])
    time.sleep(0.3)  # the last FIN/ACK
    return _counts(lab, sniffers)[client]["legacy"]


def run(quick: bool = False) -> list[Figure]:
    """Build the routed lab with BIND, measure, remove it; return the figures."""
    n, k = (5, 6) if quick else (10, 20)
    rounds, window_s = (2, 15.0) if quick else (5, 40.0)
    servers = [f"s{i}" for i in range(1, n + 1)]
    clients = [f"c{i}" for i in range(1, k + 1)]
    with tempfile.TemporaryDirectory(prefix="ltsp-mesh-bench-") as tmp:
        lab = RoutedLab(hosts=["dns", *servers, *clients], far=clients, workdir=Path(tmp))
        with lab:
            figures = _measure(lab, Path(tmp), servers, clients, rounds, window_s)
    return figures


def _measure(
    lab: RoutedLab, tmp: Path, servers: list[str], clients: list[str], rounds: int, window_s: float
) -> list[Figure]:
    n, k = len(servers), len(clients)
    bind = Bind(lab, "dns")
    for host in lab.hosts:
        lab.set_resolver(host, bind.address)
    args = ["--dns-sd-domain", ZONE, "--tsig-key", str(bind.key_path), "--dns-lease", str(BENCH_LEASE_S)]
    procs = [
        start_server(lab, h, server_load(i), args=["--hostname", h, *args], sample_interval_s=2.0)
        for i, h in enumerate(servers)
    ]
    wait_ready(lab, procs, timeout_s=60)
    for proc in procs:
        lab.wait_for_log(proc, "registered ", 30)
    time.sleep(3.0)  # let the announcements and first renewals settle

    sniffers = _sniff(lab, [*servers, "dns"])
    started = time.monotonic()
    time.sleep(window_s)
    elapsed = time.monotonic() - started
    steady = _counts(lab, sniffers)
    mean_renewal = dnssd_lease.RENEW_FRACTION * (1 - dnssd_lease.RENEW_JITTER / 2)  # of the lease
    cycles = elapsed / (BENCH_LEASE_S * mean_renewal)
    dns_per_cycle = _mean(steady, servers, "dns") / cycles
    cycle_s = dnssd_lease.DEFAULT_LEASE_S * mean_renewal
    mdns_per_s = max(steady[h]["mdns"] for h in servers) / elapsed

    env = {
        "LDM_LB_DOMAIN": ZONE,
        "SERVER": "10.77.1.250",
        "CACHE": str(tmp / "cache"),
        "BENCH_SERVERS": str(n),
        # Packets, not time, are measured here (bench hook times the hook): a longer deadline
        # keeps the lab machine's CPU contention from cutting runs short.
        "LDM_LB_TIMEOUT_MS": "2000",
    }
    sniffers = _sniff(lab, [*servers, *clients, "dns"])
    storm_started = time.monotonic()
    runs, complete = _storm(lab, clients, env, rounds)
    storm_s = time.monotonic() - storm_started
    time.sleep(0.5)  # late replies
    storm = _counts(lab, sniffers)
    poll = _legacy_poll_packets(lab, clients[0], servers[0])

    per_run = rounds  # hook runs per client
    client_dns = _mean(storm, clients, "dns") / per_run
    # What a client's own run costs: DNS and direct queries both ways, its own mDNS questions.
    # The questions of the other clients on its link reach it too: reported, not counted.
    client_own = (
        statistics.mean(storm[c]["dns"] + storm[c]["query"] + storm[c]["mdns_tx"] for c in clients) / per_run
    )
    heard = _mean(storm, clients, "mdns_rx") / per_run
    server_query = _mean(storm, servers, "query") / runs
    server_mdns = _mean(storm, servers, "mdns") / runs
    dns_server_per_run = storm["dns"]["dns"] / runs
    prototype_client = n * poll
    return [
        Figure(
            f"DNS packets per server per renewal, {n} servers",
            dns_per_cycle,
            "packets",
            4 * n + 4,
            "<=",
            f"{_mean(steady, servers, 'dns'):.0f} in {elapsed:.0f} s = {cycles:.1f} renewals at a {BENCH_LEASE_S} s "
            "lease: the signed update, the PTR and each peer's SRV and stamp, both ways",
        ),
        Figure(
            "DNS packets/s per server at steady state, default lease",
            dns_per_cycle / cycle_s,
            "packets/s",
            1.0,
            "<=",
            f"one renewal every {cycle_s:.0f} s ({dnssd_lease.DEFAULT_LEASE_S} s lease); all {n} together "
            f"send the DNS server {steady['dns']['dns'] / cycles / cycle_s:.2f} packets/s",
        ),
        Figure(
            "mDNS packets/s per server at steady state (worst)",
            mdns_per_s,
            "packets/s",
            1.0,
            "<=",
            f"constant load, over {elapsed:.0f} s",
        ),
        Figure(
            f"DNS packets per client hook run, {n} servers",
            client_dns,
            "packets",
            2 * (1 + 3 * n),
            "<=",
            f"PTR, then SRV and TXT of each server (A came in the additional section); {runs} runs by {k} "
            f"clients in {storm_s:.1f} s, {complete}/{runs} listed all {n}",
        ),
        Figure(
            "packets per client hook run (DNS, direct queries, claim, mDNS)",
            client_own,
            "packets",
            prototype_client,
            "<=",
            f"the prototype's boot: {n} legacy TCP polls of {poll} packets; "
            f"mDNS questions of the other clients heard per run: {heard:.1f} (a reflector would add every "
            "answer from every segment)",
        ),
        Figure(
            "packets per server per client hook run",
            server_query + server_mdns,
            "packets",
            poll,
            "<=",
            f"direct query and claims {server_query:.2f}, mDNS {server_mdns:.2f} (TXT updates as claims "
            f"arrive); no DNS caused by clients, only the servers' own renewals; the prototype: a {poll}-packet "
            "TCP poll per client boot",
        ),
        Figure(
            "DNS server packets per client hook run",
            dns_server_per_run,
            "packets",
            2 * (1 + 3 * n) + 2,
            "<=",
            f"{storm['dns']['dns']} during the storm, the servers' renewals included",
        ),
    ]
