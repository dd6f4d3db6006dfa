"""The mesh core benchmark: `hosts` wall time, daemon footprint, steady mDNS traffic.

Runs in its own namespace lab: 10 real `serve` daemons with constant loads and one client.
Targets (issue "The mesh core"): hosts p95 <= 300 ms against 10 servers; a daemon at steady
state <= 1 % of a core and <= 40 MB RSS; <= 1 mDNS packet/s per server at constant load.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ltsp_mesh.core.record import Load
from ltsp_mesh.lab.mesh import start_server, wait_ready
from ltsp_mesh.lab.netns import Lab, mesh_argv

SERVERS = 10
GIB_KIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure beside its target."""

    name: str
    value: float
    unit: str
    target: float
    comparison: str  # "<=" or ">="
    detail: str = ""

    @property
    def met(self) -> bool:
        """Whether the figure meets its target."""
        return self.value <= self.target if self.comparison == "<=" else self.value >= self.target


def compile_package() -> None:
    """Write the package's bytecode, as an installation does (Debian's py3compile, pip).

    Where PYTHONDONTWRITEBYTECODE is set, every command would otherwise compile the package
    from source at start-up, which no installed system does, and the timings would say so.
    """
    import compileall

    import ltsp_mesh

    compileall.compile_dir(str(Path(ltsp_mesh.__file__).parent), quiet=1)


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values`."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Process `pid`'s resident memory, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tx_packets(lab: Lab, host: str) -> int:
    """Packets `host`'s eth0 has sent so far."""
    proc = lab.run(host, ["cat", "/sys/class/net/eth0/statistics/tx_packets"])
    return int(proc.stdout)


def server_load(index: int) -> Load:
    """A constant, different load for server `index`."""
    cpus = (2, 4, 8)[index % 3]
    return Load(
        cpus=cpus,
        load1=0.3 * index,
        load5=0.3 * index,
        load15=0.3 * index,
        mem_total_kib=8 * GIB_KIB,
        mem_available_kib=(4 + index % 4) * GIB_KIB,
        swap_total_kib=GIB_KIB,
        swap_used_kib=0,
        swapping=False,
        sessions=index,
    )


def run(quick: bool = False) -> list[Figure]:
    """Build the lab, measure, remove the lab; return the figures."""
    runs = 15 if quick else 60
    window_s = 10.0 if quick else 30.0
    compile_package()
    servers = [f"s{i}" for i in range(1, SERVERS + 1)]
    with (
        tempfile.TemporaryDirectory(prefix="ltsp-mesh-bench-") as tmp,
        Lab(hosts=[*servers, "client"], workdir=Path(tmp)) as lab,
    ):
        procs = [
            start_server(lab, host, server_load(i), sample_interval_s=2.0) for i, host in enumerate(servers)
        ]
        wait_ready(lab, procs)
        time.sleep(2.0)  # let the announcements finish

        wall_ms, complete = [], 0
        for _ in range(runs):
            started = time.perf_counter()
            proc = lab.run("client", mesh_argv("hosts", "--interface", "eth0"), check=False)
            wall_ms.append((time.perf_counter() - started) * 1000)
            complete += len(proc.stdout.split()) == SERVERS
        time.sleep(2.0)  # let multicast answers to the last queries drain

        cpu_before = {p.pid: cpu_seconds(p.pid) for p in procs}
        tx_before = {h: tx_packets(lab, h) for h in servers}
        started = time.monotonic()
        time.sleep(window_s)
        elapsed = time.monotonic() - started
        cpu_percent = [100 * (cpu_seconds(p.pid) - cpu_before[p.pid]) / elapsed for p in procs]
        rss = [rss_mb(p.pid) for p in procs]
        packets = [(tx_packets(lab, h) - tx_before[h]) / elapsed for h in servers]

    return [
        Figure(
            "hosts wall time p95, 10 servers",
            percentile(wall_ms, 0.95),
            "ms",
            300,
            "<=",
            f"p50 {statistics.median(wall_ms):.0f} ms, {runs} runs, all 10 listed in {complete}/{runs}",
        ),
        Figure("hosts runs listing all 10 servers", 100 * complete / runs, "%", 100, ">="),
        Figure(
            "daemon CPU at steady state (worst)",
            max(cpu_percent),
            "% core",
            1.0,
            "<=",
            f"mean {statistics.mean(cpu_percent):.2f} % over {elapsed:.0f} s",
        ),
        Figure("daemon RSS (worst)", max(rss), "MB", 40, "<=", f"mean {statistics.mean(rss):.1f} MB"),
        Figure(
            "mDNS packets per server, constant load (worst)",
            max(packets),
            "packets/s",
            1.0,
            "<=",
            f"mean {statistics.mean(packets):.3f} over {elapsed:.0f} s, no client running",
        ),
    ]
