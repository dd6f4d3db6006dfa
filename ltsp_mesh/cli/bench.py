"""`ltsp-mesh bench`: measured figures against the targets, printed side by side."""

from __future__ import annotations

import argparse
from typing import Any

from ltsp_mesh.cli.exit_codes import FAILED, OK
from ltsp_mesh.cli.lab_tools import import_lab
from ltsp_mesh.cli.render import Result, table

NAME = "bench"
# Each suite and its module in ltsp_mesh.lab.bench.
SUITE_MODULES = {
    "core": "core_suite",
    "hook": "hook",
    "broker": "broker",
    "trust": "trust",
    "storm": "storm",
    "unicast": "unicast",
    "soak": "soak",
}
SUITES = tuple(SUITE_MODULES)


def add_parser(subparsers: Any, help_text: str) -> None:
    """Register `bench`."""
    parser = subparsers.add_parser(
        NAME,
        help=help_text,
        description="Run a benchmark suite in its own network-namespace lab and print each figure "
        "beside its target. `core`: hosts wall time against 10 servers, daemon CPU and memory at "
        "steady state, mDNS packets per server at constant load. `hook`: the real get_hosts script, chrooted in Python-free roots (busybox; dash with netcat-openbsd), "
        "asking a broker, against 10 and 30 servers, beside the Python client. `broker`: one broker's answer time, CPU and memory in a storm of 1,000 requests at 30 servers, how its picks spread over capacity, and the idle mesh's packets per server. `trust`: signing and "
        "checking a reply or TXT record, in microseconds. `unicast`: DNS and mDNS packets per server and "
        "per client with BIND9 across a router, steady and in a login storm, against the prototype's "
        "polling of every server. `soak`: 30 daemons and thin clients hooking without pause for 10 minutes while servers "
        "are killed and restarted, change address and are flooded from spoofed sources: runs without a line, dead servers "
        "printed, fallbacks, daemon RSS and fds (--quick: 8 daemons, about a minute). Exits 1 if a target is missed.",
    )
    parser.add_argument("suite", choices=sorted(SUITES), help="which benchmark")
    parser.add_argument("--quick", action="store_true", help="fewer samples (for smoke tests)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> Result:
    """Run the suite and tabulate its figures."""
    # Imported here, not at the top: `hosts` runs at every login screen and pays for every
    # module the command line imports at start-up; and the Debian package has no lab.
    suite = import_lab(f"bench.{SUITE_MODULES[args.suite]}", NAME)
    figures = suite.run(quick=args.quick)
    rows = [
        [
            f.name,
            f"{f.value:.2f} {f.unit}",
            f"{f.comparison} {f.target:g} {f.unit}",
            "ok" if f.met else "MISSED",
            f.detail,
        ]
        for f in figures
    ]
    met = all(f.met for f in figures)
    return Result(
        command=NAME,
        data=[
            {
                "name": f.name,
                "value": f.value,
                "unit": f.unit,
                "target": f.target,
                "comparison": f.comparison,
                "met": f.met,
                "detail": f.detail,
            }
            for f in figures
        ],
        text=table(("FIGURE", "MEASURED", "TARGET", "", "DETAIL"), rows),
        exit_code=OK if met else FAILED,
    )
