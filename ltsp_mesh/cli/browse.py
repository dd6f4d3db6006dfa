"""`ltsp-mesh browse`: watch servers join, change their figures and leave, as it happens."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from ltsp_mesh.cli.bounds import Bound, bounded
from ltsp_mesh.cli.render import Result, jsonable
from ltsp_mesh.errors import ConfigError
from ltsp_mesh.shell import netif

if TYPE_CHECKING:
    from ltsp_mesh.shell.client.watch import Event

NAME = "browse"
DURATION_S = Bound(0, 7 * 86_400, "seconds", low_open=True)  # a week: longer is "until interrupted"


def add_parser(subparsers: Any, help_text: str) -> None:
    """Register `browse` and its options."""
    parser = subparsers.add_parser(
        NAME,
        help=help_text,
        description="Run a DNS-SD browser for _ltsp._tcp and print one line per change: added, "
        "updated (new TXT figures) or removed (a goodbye, or the record expired). Runs until "
        "interrupted or for --duration seconds.",
    )
    parser.add_argument(
        "--interface",
        action="append",
        default=[],
        metavar="NAME",
        help="browse on this interface only (repeat for more); default: all multicast-capable ones",
    )
    parser.add_argument(
        "--duration",
        type=bounded(float, DURATION_S),
        metavar="SECONDS",
        help=f"stop after this long ({DURATION_S.describe()}; default: until interrupted)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    parser.set_defaults(func=run)


def _line(event: Event, as_json: bool) -> str:
    if as_json:
        return json.dumps(jsonable(event))
    figures = ""
    if event.record:
        r = event.record
        figures = f" st={r.state.value} ses={r.sessions} pend={r.pending} cap={r.capacity} load={r.load_per_cpu:.2f}"
    elif event.problem:
        figures = f" ({event.problem})"
    return f"{event.at:.3f} {event.change:<7} {event.instance} {' '.join(event.addresses)}{figures}".rstrip()


def run(args: argparse.Namespace) -> Result:
    """Browse and print events as they come."""
    # Imported here, not at the top: `hosts` runs at every login screen and pays for every
    # module the command line imports at start-up.
    from ltsp_mesh.shell.client.watch import watch

    interfaces = netif.select(args.interface)
    if not interfaces:
        raise ConfigError("no up, multicast-capable IPv4 interface to browse on; name one with --interface")

    def emit(event: Event) -> None:
        sys.stdout.write(_line(event, args.json) + "\n")
        sys.stdout.flush()

    asyncio.run(watch(interfaces, emit, args.duration))
    return Result(command=NAME, streamed=True)
