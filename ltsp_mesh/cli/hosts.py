"""`ltsp-mesh hosts`: the line LDM wants, the servers that answered, best first."""

from __future__ import annotations

import argparse
from typing import Any

from ltsp_mesh.cli import client_options
from ltsp_mesh.cli.exit_codes import NOTHING_FOUND, OK
from ltsp_mesh.cli.render import Result, jsonable
from ltsp_mesh.core.order import by_fill

NAME = "hosts"


def add_parser(subparsers: Any) -> None:
    """Register `hosts` and its options."""
    parser = subparsers.add_parser(
        NAME,
        help="print the live servers, best first, on one line (what LDM's get_hosts prints)",
        description="Discover _ltsp._tcp servers, ask each for fresh load, and print the IPv4 "
        "addresses of those that answered on one line, separated by single spaces, least loaded "
        "per capacity first. A server that does not answer the direct query is never printed. "
        "Exits 3 when no server answered.",
    )
    client_options.add(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> Result:
    """Survey and order the servers."""
    found = client_options.look(args)
    ordered = by_fill(found.answered)
    hosts = [a.address for a in ordered]
    data = {
        "hosts": hosts,
        "servers": [
            {
                "address": a.address,
                "instance": a.discovered.label,
                "host": a.discovered.host,
                "addresses": list(a.discovered.addresses),
                "ssh_port": a.discovered.ssh_port,
                "response_ms": a.response_ms,
                "record": jsonable(a.record),
            }
            for a in ordered
        ],
        "elapsed_ms": found.elapsed_ms,
        "counters": dict(found.counters),
    }
    return Result(
        command=NAME,
        data=data,
        text=" ".join(hosts),
        exit_code=OK if ordered else NOTHING_FOUND,
    )
