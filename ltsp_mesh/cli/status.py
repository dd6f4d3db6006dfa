"""`ltsp-mesh status`: a table of every discovered server, its figures and its state."""

from __future__ import annotations

import argparse
from typing import Any

from ltsp_mesh.cli import client_options
from ltsp_mesh.cli.exit_codes import NOTHING_FOUND, OK
from ltsp_mesh.cli.render import Result, jsonable, table
from ltsp_mesh.core.order import by_fill
from ltsp_mesh.core.record import ServerRecord, ServerState

NAME = "status"
HEADERS = ("SERVER", "ADDRESS", "STATE", "SES", "PEND", "CAP", "FILL", "LOAD/CPU", "CPUS", "MEM%", "SWAP", "RTT ms")


def add_parser(subparsers: Any) -> None:
    """Register `status` and its options."""
    parser = subparsers.add_parser(
        NAME,
        help="show every discovered server with its figures and state",
        description="Discover _ltsp._tcp servers, ask each for fresh load and show a table: "
        "servers that answered first, in the order `hosts` prints them, then those that did not "
        "answer (their figures are the announced ones). Exits 3 when no server answered.",
    )
    client_options.add(parser)
    parser.set_defaults(func=run)


def _row(label: str, address: str, state: str, record: ServerRecord | None, rtt: str) -> list[object]:
    if record is None:
        return [label, address, state, *["-"] * 8, rtt]
    return [label, address, state, record.sessions, record.pending, record.capacity, f"{record.fill:.2f}",
            f"{record.load_per_cpu:.2f}", record.cpus, record.mem_percent, "yes" if record.swapping else "no", rtt]  # fmt: skip


def run(args: argparse.Namespace) -> Result:
    """Survey and tabulate the servers."""
    found = client_options.look(args)
    answered_by_instance = {a.discovered.instance: a for a in found.answered}
    rows, servers = [], []
    for answer in by_fill(found.answered) + [a for a in found.answered if a.record.state is ServerState.DRAIN]:
        state = "up" if answer.record.state is ServerState.UP else "draining"
        rows.append(_row(answer.discovered.label, answer.address, state, answer.record, f"{answer.response_ms:.1f}"))
        servers.append({"instance": answer.discovered.label, "address": answer.address, "state": state,
                        "response_ms": answer.response_ms, "record": jsonable(answer.record)})  # fmt: skip
    unmeasured = {u.discovered.instance for u in found.unmeasured}
    for found_server in found.discovered:
        if found_server.instance in answered_by_instance or found_server.instance in unmeasured:
            continue
        address = found_server.addresses[0]
        rows.append(_row(found_server.label, address, "no answer", found_server.announced, "-"))
        servers.append({"instance": found_server.label, "address": address, "state": "no answer",
                        "response_ms": None, "record": jsonable(found_server.announced),
                        "txt_problem": found_server.txt_problem or None})  # fmt: skip
    for host in sorted(found.unmeasured, key=lambda u: u.discovered.instance):
        rows.append(_row(host.discovered.label, host.address, "unmeasured", None, "-"))
        servers.append({"instance": host.discovered.label, "address": host.address, "state": "unmeasured",
                        "response_ms": None, "record": None, "txt_problem": host.discovered.txt_problem})  # fmt: skip
    text = table(HEADERS, rows) if rows else "no _ltsp._tcp server found"
    return Result(
        command=NAME,
        data={"servers": servers, "elapsed_ms": found.elapsed_ms, "counters": dict(found.counters)},
        text=text,
        exit_code=OK if found.answered or found.unmeasured else NOTHING_FOUND,
    )
