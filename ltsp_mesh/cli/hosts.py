"""`ltsp-mesh hosts`: the line LDM wants, the servers that answered, best first."""

from __future__ import annotations

import argparse
from typing import Any

from ltsp_mesh.cli import client_options
from ltsp_mesh.cli.exit_codes import NOTHING_FOUND, OK
from ltsp_mesh.cli.render import Result, jsonable
from ltsp_mesh.core.order import by_fill
from ltsp_mesh.core.services import Discovered

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


def _server_json(discovered: Discovered, address: str, *, measured: bool, response_ms: float | None = None,
                 record: Any = None) -> dict[str, Any]:  # fmt: skip
    return {
        "address": address,
        "instance": discovered.label,
        "host": discovered.host,
        "addresses": list(discovered.addresses),
        "ssh_port": discovered.ssh_port,
        "measured": measured,
        "response_ms": response_ms,
        "record": record,
    }


def run(args: argparse.Namespace) -> Result:
    """Survey and order the servers."""
    found = client_options.look(args)
    ordered = by_fill(found.answered)
    # Hosts with no load figures at all come after every measured server.
    unmeasured = sorted(found.unmeasured, key=lambda u: u.discovered.instance)
    hosts = [a.address for a in ordered] + [u.address for u in unmeasured]
    servers = [
        _server_json(a.discovered, a.address, measured=True, response_ms=a.response_ms, record=jsonable(a.record))
        for a in ordered
    ] + [_server_json(u.discovered, u.address, measured=False) for u in unmeasured]
    data = {
        "hosts": hosts,
        "servers": servers,
        "elapsed_ms": found.elapsed_ms,
        "counters": dict(found.counters),
    }
    return Result(
        command=NAME,
        data=data,
        text=" ".join(hosts),
        exit_code=OK if hosts else NOTHING_FOUND,
    )
