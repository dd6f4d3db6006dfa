"""The broker under a login storm: answer time, its CPU and memory, spread, and idle traffic.

30 real `serve` daemons with Rudolfo's capacities in a namespace lab, under known-hosts trust
(every broker checks every server's signatures, every server checks every relayed claim); one
client host with 150 addresses of its own stands in for the thin clients, and starts 1,000 hook
requests to one broker at 100 a second (Rudolfo's 08:00 storm is about 12 a second). Targets (issue "Real thin clients"): the broker's answer p95 <= 10 ms at
30 servers during the storm; its first picks spread in proportion to capacity (the fullest
share of picks over its capacity share, beside the pure-core figure of the same storm); an
idle mesh sends <= 1 packet/s per server (the broker polls nothing while nobody asks).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from ltsp_mesh.core.record import Load
from ltsp_mesh.core.sim.scenarios import RUDOLFO_SERVERS
from ltsp_mesh.lab.bench.core_suite import (
    GIB_KIB,
    Figure,
    compile_package,
    cpu_seconds,
    percentile,
    rss_mb,
    tx_packets,
)
from ltsp_mesh.lab.mesh import start_server, trust, wait_ready
from ltsp_mesh.lab.netns import Lab, _ip

REQUESTS = 1000
RATE_PER_S = 100.0
CLIENT_ADDRESSES = 150
IDLE_WINDOW_S = 20.0
PORT = 378


def _load(cpus: int) -> Load:
    return Load(
        cpus=cpus,
        load1=0.0,
        load5=0.0,
        load15=0.0,
        mem_total_kib=3 * cpus * GIB_KIB,
        mem_available_kib=2 * cpus * GIB_KIB,
        swap_total_kib=0,
        swap_used_kib=0,
        swapping=False,
        sessions=0,
    )


def _spread(first: Counter[str], capacity: dict[str, int]) -> float:
    """The largest share of first picks a server got over its share of the capacity."""
    total_picks, total_capacity = sum(first.values()), sum(capacity.values())
    return max((first[a] / total_picks) / (c / total_capacity) for a, c in capacity.items())


def run(quick: bool = False) -> list[Figure]:
    """Build the lab, storm one broker, then watch the idle mesh; return the figures."""
    requests = 300 if quick else REQUESTS
    idle_s = 8.0 if quick else IDLE_WINDOW_S
    compile_package()
    servers = [f"s{i + 1}" for i in range(len(RUDOLFO_SERVERS))]
    with (
        tempfile.TemporaryDirectory(prefix="ltsp-mesh-bench-") as tmp,
        Lab(hosts=[*servers, "client"], workdir=Path(tmp)) as lab,
    ):
        trust(lab, *servers)
        procs = [
            start_server(lab, h, _load(spec.cpus), sample_interval_s=2.0)
            for h, spec in zip(servers, RUDOLFO_SERVERS, strict=True)
        ]
        wait_ready(lab, procs, timeout_s=90)
        capacity = {lab.address(h): spec.cpus for h, spec in zip(servers, RUDOLFO_SERVERS, strict=True)}
        sources = [f"10.77.0.{100 + i}" for i in range(CLIENT_ADDRESSES)]
        _ip(
            "-n",
            lab.netns("client"),
            "-batch",
            "-",
            stdin="".join(f"addr add {a}/24 dev eth0\n" for a in sources),
        )
        time.sleep(3.0)  # every announcement out, every browser settled

        broker = procs[0]
        cpu_before, started = cpu_seconds(broker.pid), time.monotonic()
        proc = lab.run(
            "client",
            [
                sys.executable,
                "-m",
                "ltsp_mesh.lab.bench.broker_load",
                lab.address("s1"),
                str(PORT),
                str(requests),
                str(RATE_PER_S),
                *sources,
            ],
            timeout_s=300,
        )
        storm_s = time.monotonic() - started
        broker_cpu = 100 * (cpu_seconds(broker.pid) - cpu_before) / storm_s
        broker_rss = rss_mb(broker.pid)
        result = json.loads(proc.stdout)
        answered_ms: list[float] = result["ms"]
        first: Counter[str] = Counter(result["first"])
        ok = int(result["status"].get("200", 0))

        time.sleep(3.0)  # the storm's last claims and refreshes drain
        tx_before = {h: tx_packets(lab, h) for h in servers}
        idle_started = time.monotonic()
        time.sleep(idle_s)
        idle_elapsed = time.monotonic() - idle_started
        packets = [(tx_packets(lab, h) - tx_before[h]) / idle_elapsed for h in servers]
        rss_all = [rss_mb(p.pid) for p in procs]

    spread = _spread(first, capacity)
    return [
        Figure(
            "broker answer time p95, 30 servers, storm",
            percentile(answered_ms, 0.95),
            "ms",
            10.0,
            "<=",
            f"p50 {statistics.median(answered_ms):.1f} ms, max {max(answered_ms):.0f} ms; {requests} requests at "
            f"{RATE_PER_S:g}/s from {CLIENT_ADDRESSES} addresses in {storm_s:.1f} s; {ok} answered 200",
        ),
        Figure("storm requests answered with a host line", 100 * ok / requests, "%", 100.0, ">="),
        Figure(
            "first picks over capacity share (fullest server)",
            spread,
            "x",
            1.5,
            "<=",
            f"1.0 is exact proportion; {len(first)} of {len(servers)} servers picked first",
        ),
        Figure("broker CPU during the storm", broker_cpu, "% core", 100.0, "<=", f"over {storm_s:.1f} s"),
        Figure(
            "broker RSS after the storm",
            broker_rss,
            "MB",
            40.0,
            "<=",
            f"every daemon: mean {statistics.mean(rss_all):.1f} MB, worst {max(rss_all):.1f} MB",
        ),
        Figure(
            "packets per server, idle mesh after the storm (worst)",
            max(packets),
            "packets/s",
            1.0,
            "<=",
            f"mean {statistics.mean(packets):.3f} over {idle_elapsed:.0f} s, no client asking",
        ),
    ]
