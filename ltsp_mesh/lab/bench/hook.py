"""The get_hosts hook's wall time against 10 and 30 real servers, beside the Python client.

The real hook script runs as LDM runs it, chrooted in Python-free thin-client roots (busybox
alone; dash with netcat-openbsd) on a lab client, asking its boot server's broker, under
known-hosts trust (every broker checks every server's signatures). In the same run and the
same lab, `ltsp-mesh hosts --hook` (the Python client, what the hook ran before it asked
brokers: discovery, direct queries and ranking on the client) is timed too. Wall times are
measured from outside and include `ip netns exec` and `chroot` (about 3 ms); runs start 125 ms
apart, as one client's (the broker refuses one address more than 10 a second). Targets (issue
"Real thin clients"): the sh hook's p95 <= 20 ms at 30 servers; every run lists every server.
"""

from __future__ import annotations

import functools
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ltsp_mesh.lab import chroot as lab_chroot
from ltsp_mesh.lab.bench.core_suite import Figure, compile_package, percentile, server_load
from ltsp_mesh.lab.mesh import start_server, trust, wait_ready
from ltsp_mesh.lab.netns import Lab, mesh_argv

SIZES = (10, 30)
TARGET_P95_MS = 20.0
FLAVOURS = ("busybox", "openbsd")
# One thin client asks once per login screen; a broker answers one address 10 times a second
# at most (bursts of 20) and refuses more with a 429. Runs start this far apart.
PACE_S = 0.125


def _time(run: Callable[[], str], runs: int) -> tuple[list[float], int]:
    wall_ms, listed = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        output = run()
        wall_ms.append((time.perf_counter() - started) * 1000)
        listed += len(output.split())
        time.sleep(max(0.0, started + PACE_S - time.perf_counter()))
    return wall_ms, listed


def _sh_hook(
    lab: Lab, root: lab_chroot.ClientRoot, env: dict[str, str], log: socket.socket, fell_back: list[str]
) -> str:
    output = lab_chroot.run_hook(lab, "client", root, env).stdout
    while True:  # what the hook said through logger: why it did not print a broker's answer
        try:
            message = log.recv(65536).decode(errors="replace")
        except BlockingIOError:
            return output
        if "no valid answer" in message:
            fell_back.append(message)


def _python_hook(lab: Lab, argv: list[str], env: dict[str, str]) -> str:
    return lab.run("client", argv, env=env, check=False).stdout


def run(quick: bool = False) -> list[Figure]:
    """Time the sh hook and the Python client against the first 10 servers, then all 30."""
    runs = 15 if quick else 60
    servers = [f"s{i}" for i in range(1, max(SIZES) + 1)]
    compile_package()
    figures = []
    with (
        tempfile.TemporaryDirectory(prefix="ltsp-mesh-bench-") as tmp,
        Lab(hosts=[*servers, "client"], workdir=Path(tmp)) as lab,
        lab_chroot.client_roots(Path(tmp) / "roots", lab, "client", FLAVOURS) as roots,
    ):
        trust(lab, *servers)
        env = {"SERVER": lab.address("s1"), "LTSP_MESH_CACHE_DIR": str(Path(tmp) / "python-cache")}
        running = 0
        for size in SIZES:
            procs = [
                start_server(lab, host, server_load(i), sample_interval_s=2.0)
                for i, host in enumerate(servers[running:size], start=running)
            ]
            wait_ready(lab, procs, timeout_s=60)
            running = size
            time.sleep(2.0)  # every announcement out, every browser settled
            results: dict[str, tuple[list[float], int]] = {}
            fell_back: dict[str, list[str]] = {}
            for flavour in FLAVOURS:
                fell_back[flavour] = []
                with roots[flavour].listen_log() as log:
                    log.setblocking(False)
                    results[flavour] = _time(
                        functools.partial(_sh_hook, lab, roots[flavour], env, log, fell_back[flavour]), runs
                    )
            python = mesh_argv("hosts", "--hook", "--interface", "eth0")
            results["python"] = _time(functools.partial(_python_hook, lab, python, env), runs)
            python_p95 = percentile(results["python"][0], 0.95)
            for name, (wall_ms, listed) in results.items():
                p95 = percentile(wall_ms, 0.95)
                detail = (
                    f"p50 {statistics.median(wall_ms):.1f} ms, max {max(wall_ms):.0f} ms, {runs} runs, "
                    f"{listed / runs:.1f} of {size} servers listed on average"
                )
                if name == "python":
                    figures.append(
                        Figure(
                            f"Python client (hosts --hook) p95, {size} servers",
                            p95,
                            "ms",
                            400.0,
                            "<=",
                            detail + "; the deadline, LDM_LB_TIMEOUT_MS, is 400 ms",
                        )
                    )
                    continue
                label = "busybox root" if name == "busybox" else "dash + netcat-openbsd root"
                figures.append(
                    Figure(
                        f"sh hook p95, {label}, {size} servers",
                        p95,
                        "ms",
                        TARGET_P95_MS,
                        "<=",
                        f"{detail}; {python_p95 / p95:.0f}x faster than the Python client",
                    )
                )
                why = f"; first: {fell_back[name][0][-200:]}" if fell_back[name] else ""
                figures.append(
                    Figure(
                        f"sh hook runs that fell back (no broker answer), {label}, {size} servers",
                        len(fell_back[name]),
                        "runs",
                        0,
                        "<=",
                        f"of {runs}{why}",
                    )
                )
                figures.append(
                    Figure(
                        f"servers listed per run, {label}, {size} servers",
                        100 * listed / (runs * size),
                        "%",
                        100.0,
                        ">=",
                    )
                )
    return figures
