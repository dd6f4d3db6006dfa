"""`ltsp-mesh demo`: three servers and a thin client in a namespace lab, end to end."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ltsp_mesh.cli.exit_codes import FAILED
from ltsp_mesh.cli.render import Result
from ltsp_mesh.core.record import Load

if TYPE_CHECKING:
    from ltsp_mesh.shell.lab import Lab

NAME = "demo"
GIB_KIB = 1024 * 1024

# Three servers of different sizes and loads, as at Margot's school: a big one that is busy,
# a middling one that is busier still, and a small idle one.
SERVERS: dict[str, Load] = {
    "app1": Load(cpus=8, load1=3.2, load5=3.0, load15=2.5, mem_total_kib=16 * GIB_KIB, mem_available_kib=9 * GIB_KIB,
                 swap_total_kib=2 * GIB_KIB, swap_used_kib=0, swapping=False, sessions=5),
    "app2": Load(cpus=4, load1=3.6, load5=3.1, load15=2.9, mem_total_kib=8 * GIB_KIB, mem_available_kib=2 * GIB_KIB,
                 swap_total_kib=2 * GIB_KIB, swap_used_kib=GIB_KIB // 2, swapping=False, sessions=4),
    "app3": Load(cpus=2, load1=0.1, load5=0.2, load15=0.2, mem_total_kib=4 * GIB_KIB, mem_available_kib=3 * GIB_KIB,
                 swap_total_kib=GIB_KIB, swap_used_kib=0, swapping=False, sessions=0),
}  # fmt: skip


def add_parser(subparsers: Any) -> None:
    """Register `demo`."""
    parser = subparsers.add_parser(
        NAME,
        help="run three servers and a thin client in a network-namespace lab (needs root)",
        description="Build a lab of network namespaces on a private bridge (no traffic leaves it), "
        "start three real `ltsp-mesh serve` daemons with different sizes and loads and one thin "
        "client, show `status` and `hosts` from the client, kill one server with SIGKILL and "
        "show that it is no longer listed, then remove everything.",
    )
    parser.set_defaults(func=run)


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _show(lab: Lab, title: str, *args: str) -> str:
    _say(f"\n$ ltsp-mesh {' '.join(args)}      # on the thin client: {title}")
    from ltsp_mesh.shell.labmesh import mesh

    proc = mesh(lab, "client", *args)
    _say(proc.stdout.rstrip() or "(nothing printed)")
    if proc.stderr.strip():
        _say(proc.stderr.rstrip())
    return proc.stdout.strip()


def run(args: argparse.Namespace) -> Result:
    """Run the demo; everything built is removed, even on failure or Ctrl-C."""
    # Imported here, not at the top: `hosts` runs at every login screen and pays for every
    # module the command line imports at start-up.
    from ltsp_mesh.shell.lab import Lab
    from ltsp_mesh.shell.labmesh import start_server, wait_ready
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM cleans up like Ctrl-C
    with tempfile.TemporaryDirectory(prefix="ltsp-mesh-demo-") as tmp:
        lab = Lab(hosts=[*SERVERS, "client"], workdir=Path(tmp))
        _say(f"Building lab {lab.prefix}: bridge {lab.bridge}, hosts {', '.join(lab.hosts)} on {lab.network}")
        with lab:
            for host, load in SERVERS.items():
                _say(f"  {host} ({lab.address(host)}): {load.cpus} CPUs, load {load.load1}, {load.sessions} sessions")
            procs = {host: start_server(lab, host, load, args=["--hostname", host]) for host, load in SERVERS.items()}
            _say("Starting `ltsp-mesh serve` on app1, app2, app3 (mDNS probing takes about 2 s) ...")
            wait_ready(lab, list(procs.values()))
            _show(lab, "every server, its figures and state", "status", "--interface", "eth0")
            line = _show(lab, "what LDM's get_hosts prints", "hosts", "--interface", "eth0")
            victim = next(h for h in SERVERS if lab.address(h) == line.split()[0])
            _say(f"\n$ kill -9 {procs[victim].pid}      # {victim}, the first choice, dies without a goodbye")
            lab.stop(procs[victim], signal.SIGKILL)
            after = _show(lab, f"{victim} is gone at once (it no longer answers)", "hosts", "--interface", "eth0")
            if lab.address(victim) in after.split():
                return Result(command=NAME, error=f"{victim} was still listed after kill -9", exit_code=FAILED)
            _say(f"\nRemoving lab {lab.prefix} ...")
        _say("Done: every namespace, veth and the bridge are gone.")
    return Result(command=NAME, streamed=True)
