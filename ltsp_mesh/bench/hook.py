"""The get_hosts hook's wall time against 10 and 30 real servers in a namespace lab.

The real hook script runs on a client host as LDM runs it (sh, lts.conf variables in the
environment, the default algorithm, claims and cache included), timed from outside. The 10
server figure has the mesh core's target (p95 <= 300 ms); LDM_LB_TIMEOUT_MS (400 ms) bounds
every run.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from ltsp_mesh.bench.core import Figure, compile_package, percentile, server_load
from ltsp_mesh.shell import hooks
from ltsp_mesh.shell.lab import Lab
from ltsp_mesh.shell.labmesh import start_server, trust, wait_ready

SIZES = (10, 30)


def _time_hook(lab: Lab, script: Path, env: dict[str, str], runs: int) -> tuple[list[float], int]:
    wall_ms, complete_lists = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        proc = lab.run("client", ["/bin/sh", str(script)], env=env, check=False)
        wall_ms.append((time.perf_counter() - started) * 1000)
        complete_lists += len(proc.stdout.split())
    return wall_ms, complete_lists


def run(quick: bool = False) -> list[Figure]:
    """Time the hook against the first 10 servers, then against all 30."""
    runs = 15 if quick else 60
    servers = [f"s{i}" for i in range(1, max(SIZES) + 1)]
    compile_package()
    figures = []
    with tempfile.TemporaryDirectory(prefix="ltsp-mesh-bench-") as tmp, Lab(
        hosts=[*servers, "client"], workdir=Path(tmp)
    ) as lab:
        script = Path(tmp) / "get_hosts"
        script.write_bytes(hooks.hook_source())
        env = {"LTSP_MESH": f"{sys.executable} -m ltsp_mesh", "LTSP_MESH_CACHE_DIR": str(Path(tmp) / "cache"),
               "SERVER": "10.77.0.250", "LDM_LB_TIMEOUT_MS": "400"}  # fmt: skip
        running = 0
        for size in SIZES:
            procs = [start_server(lab, host, server_load(i), sample_interval_s=2.0)
                     for i, host in enumerate(servers[running:size], start=running)]  # fmt: skip
            wait_ready(lab, procs, timeout_s=60)
            running = size
            time.sleep(2.0)  # let the announcements finish
            modes: list[tuple[str, dict[str, str]]] = [("", {})]
            if size == SIZES[0]:
                # Every server signs; with their keys in the image's known_hosts the client also
                # checks each TXT and reply (LDM_LB_TRUST=auto turns known-hosts trust on).
                known = Path(tmp) / "ssh_known_hosts"
                modes.append((", known-hosts trust", {"LDM_LB_KNOWN_HOSTS": str(known)}))
            for label, extra in modes:
                if extra:
                    lab.env["LDM_LB_KNOWN_HOSTS"] = extra["LDM_LB_KNOWN_HOSTS"]
                    trust(lab, *servers[:size])
                wall_ms, listed = _time_hook(lab, script, {**env, **extra}, runs)
                target = 300.0 if size == 10 else 400.0
                figures.append(Figure(
                    f"hook wall time p95, {size} servers{label}", percentile(wall_ms, 0.95), "ms", target, "<=",
                    f"p50 {statistics.median(wall_ms):.0f} ms, max {max(wall_ms):.0f} ms, {runs} runs, "
                    f"{listed / runs:.1f} of {size} servers listed on average"))  # fmt: skip
            if size == SIZES[0]:
                Path(lab.env["LDM_LB_KNOWN_HOSTS"]).unlink(missing_ok=True)  # back to no trust for the rest
    return figures
