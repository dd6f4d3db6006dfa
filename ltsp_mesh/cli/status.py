"""`ltsp-mesh status`: every discovered server with its figures and status, once or live."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from typing import Any

from ltsp_mesh.cli import bounds, client_options, refresh
from ltsp_mesh.cli.bounds import bounded
from ltsp_mesh.cli.exit_codes import DEGRADED, NOTHING_FOUND, OK, ExitCode
from ltsp_mesh.cli.render import Result, table
from ltsp_mesh.core.config import client_settings
from ltsp_mesh.core.view import mesh as mesh_view
from ltsp_mesh.core.view.mesh import ServerView

NAME = "status"
HEADERS = (
    "",
    "SERVER",
    "ADDRESS",
    "STATUS",
    "SES",
    "PEND",
    "CAP",
    "FILL",
    "LOAD/CPU",
    "MEM%",
    "SWAP",
    "RTT ms",
)
UNHEALTHY = {"Down", "Swapped", "Untrusted"}


def add_parser(subparsers: Any, help_text: str) -> None:
    """Register `status` and its options."""
    parser = subparsers.add_parser(
        NAME,
        help=help_text,
        description="Discover _ltsp._tcp servers, ask each for fresh load and show a table: the "
        "server the default algorithm would recommend now (marked *), then every server by status "
        "(Idle, Busy, Swapped, Draining, Down) and fill, then hosts with no ltsp-mesh figures "
        "(Unmeasured) and hosts that failed the trust check (Untrusted). Thresholds and trust come "
        "from LDM_LB_* in the environment. Exits 0 when all is well, 4 when a server is Down, "
        "Swapped or Untrusted, 3 when no server answered: usable as a monitoring check.",
    )
    client_options.add(parser)
    parser.add_argument(
        "--watch", action="store_true", help="redraw every --interval seconds until interrupted"
    )
    parser.add_argument(
        "--interval",
        type=bounded(float, bounds.INTERVAL_S),
        default=5.0,
        metavar="SECONDS",
        help=f"--watch period (default 5; {bounds.INTERVAL_S.describe()})",
    )
    parser.add_argument(
        "--count", type=bounded(int, bounds.COUNT), metavar="N", help="with --watch: stop after N refreshes"
    )
    parser.set_defaults(func=run)


def _row(view: ServerView) -> list[object]:
    mark = "*" if view.recommended else ""
    rtt = f"{view.response_ms:.1f}" if view.response_ms is not None else "-"
    r = view.record
    if r is None:
        return [mark, view.name, view.address, view.status, *["-"] * 7, rtt]
    return [
        mark,
        view.name,
        view.address,
        view.status,
        r.sessions,
        r.pending,
        r.capacity,
        f"{r.fill:.2f}",
        f"{r.load_per_cpu:.2f}",
        r.mem_percent,
        "yes" if r.swapping else "no",
        rtt,
    ]


def _exit_code(views: list[ServerView]) -> ExitCode:
    if not any(v.response_ms is not None for v in views) and not any(
        v.status == mesh_view.UNMEASURED for v in views
    ):
        return NOTHING_FOUND
    return DEGRADED if any(v.status in UNHEALTHY for v in views) else OK


async def snapshot(args: argparse.Namespace) -> tuple[list[ServerView], dict[str, Any]]:
    """One look at the mesh: the rows, and the JSON message for them."""
    settings = client_settings.build(os.environ)
    found, interfaces = await client_options.look(args, settings)
    accounted = {a.discovered.instance for a in found.answered} | {
        u.discovered.instance for u in found.unmeasured
    }
    accounted |= {u.discovered.instance for u in found.untrusted}
    silent = [d for d in found.discovered if d.instance not in accounted]
    mac = interfaces[0].mac or "00:00:00:00:00:00"
    views = mesh_view.build(
        found.answered,
        silent,
        [(u.discovered, u.address) for u in found.unmeasured],
        [(u.discovered, u.address, u.reason) for u in found.untrusted],
        settings=settings,
        mac=mac,
        rng=random.Random(),
    )
    message = mesh_view.to_message(views, time.time())
    message["elapsed_ms"] = found.elapsed_ms
    return views, message


def _text(views: list[ServerView]) -> str:
    return table(HEADERS, [_row(v) for v in views]) if views else "no _ltsp._tcp server found"


def run(args: argparse.Namespace) -> Result:
    """Show the mesh once, or redraw it until interrupted."""
    if not args.watch:
        views, message = asyncio.run(snapshot(args))
        return Result(command=NAME, data=message, text=_text(views), exit_code=_exit_code(views))
    redraw = sys.stdout.isatty() and not args.json
    latest = [OK]  # the exit code of the last refresh: what the watch ends with

    async def show() -> None:
        views, message = await snapshot(args)
        latest[0] = _exit_code(views)
        if args.json:
            sys.stdout.write(json.dumps(message) + "\n")
        else:
            # Home and clear: works in any ANSI terminal, over ssh too; piped output just
            # gets one table after another.
            header = (
                f"ltsp-mesh status  {time.strftime('%H:%M:%S')}  every {args.interval:g} s  (Ctrl-C to stop)"
            )
            sys.stdout.write(("\x1b[H\x1b[2J" if redraw else "\n") + header + "\n\n" + _text(views) + "\n")
        sys.stdout.flush()

    try:
        asyncio.run(refresh.repeat(show, interval_s=args.interval, count=args.count))
    except KeyboardInterrupt:
        pass  # Ctrl-C before the loop took SIGINT over: still the normal way to leave --watch
    return Result(command=NAME, streamed=True, exit_code=latest[0])
