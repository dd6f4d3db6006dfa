"""`ltsp-mesh hosts`: the line LDM wants, the live servers ranked by LDM_LB_ALGORITHM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.handlers
import os
import random
import socket
from pathlib import Path
from typing import Any

from ltsp_mesh.cli import bounds, client_options
from ltsp_mesh.cli.bounds import bounded
from ltsp_mesh.cli.exit_codes import NOTHING_FOUND, OK
from ltsp_mesh.cli.render import Result, jsonable
from ltsp_mesh.core.config.client_settings import Algorithm
from ltsp_mesh.core.discovery.services import Discovered
from ltsp_mesh.shell.client import host_list

NAME = "hosts"
SYSLOG_SOCKET = "/dev/log"
# Where --hook's syslog messages go instead of SYSLOG_SOCKET: the lab's tests bind their own.
SYSLOG_SOCKET_VARIABLE = "LTSP_MESH_SYSLOG_SOCKET"


def add_parser(subparsers: Any, help_text: str) -> None:
    """Register `hosts` and its options."""
    parser = subparsers.add_parser(
        NAME,
        help=help_text,
        description="Discover _ltsp._tcp servers, ask each for fresh load, rank them with "
        "LDM_LB_ALGORITHM (from the environment, as LDM exports lts.conf, or from --lts-conf) and "
        "print their IPv4 addresses on one line, separated by single spaces, best first. A server "
        "that does not answer the direct query is never printed. Exits 3 when no server answered. "
        "With --hook (what the get_hosts hook runs): claim the first server, remember the list, "
        "print the last good list or LDM_LB_FALLBACK / $SERVER when none answers, and exit 0. "
        "A bad LDM_LB_* value is a warning (on stderr; with --hook in syslog too) and its default.",
    )
    client_options.add_interface(parser)
    parser.add_argument(
        "--timeout-ms",
        metavar="MS",
        type=bounded(int, bounds.TIMEOUT_MS),
        help=f"the whole deadline (default: LDM_LB_TIMEOUT_MS, 400; {bounds.TIMEOUT_MS.describe()})",
    )
    parser.add_argument(
        "--browse-ms",
        metavar="MS",
        type=bounded(int, bounds.BROWSE_MS),
        default=host_list.DEFAULT_BROWSE_MS,
        help="how long to collect mDNS answers (default %(default)s)",
    )
    parser.add_argument("--algorithm", choices=[a.value for a in Algorithm], help="override LDM_LB_ALGORITHM")
    parser.add_argument(
        "--lts-conf",
        type=Path,
        metavar="FILE",
        help="read LDM_LB_* from this lts.conf for this client (the environment still wins)",
    )
    parser.add_argument("--first", action="store_true", help="print only the best server (XDMCP setups)")
    parser.add_argument("--hook", action="store_true", help="behave as LDM's get_hosts hook (see above)")
    parser.add_argument(
        "--cache-dir", metavar="DIR", help="where --hook keeps the last good list (default /run/ltsp-mesh)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(func=run)


def _server_json(
    discovered: Discovered,
    address: str,
    *,
    measured: bool,
    response_ms: float | None = None,
    record: Any = None,
) -> dict[str, Any]:
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


def _syslog(address: str = SYSLOG_SOCKET) -> logging.Handler | None:
    """A handler sending ltsp-mesh's warnings to syslog, as the sh hook's logger does; None
    when there is no syslog socket (stderr still has them)."""
    try:
        handler = logging.handlers.SysLogHandler(
            address, facility=logging.handlers.SysLogHandler.LOG_DAEMON, socktype=socket.SOCK_DGRAM
        )
    except OSError:
        return None
    handler.ident = "ltsp-mesh: "
    handler.setLevel(logging.WARNING)
    return handler


def run(args: argparse.Namespace) -> Result:
    """Decide the list and print it."""
    options = host_list.Options(
        interfaces=tuple(args.interface),
        timeout_ms=args.timeout_ms,
        browse_ms=args.browse_ms,
        lts_conf=args.lts_conf,
        algorithm=args.algorithm,
        first_only=args.first,
        hook=args.hook,
        cache_dir=args.cache_dir,
    )
    # Run as a hook, stderr often goes nowhere (LDM discards it): warnings go to syslog too.
    handler = _syslog(os.environ.get(SYSLOG_SOCKET_VARIABLE) or SYSLOG_SOCKET) if args.hook else None
    package = logging.getLogger("ltsp_mesh")
    if handler is not None:
        package.addHandler(handler)
    try:
        decision = asyncio.run(host_list.decide(options, os.environ, random.Random()))
    finally:
        if handler is not None:
            package.removeHandler(handler)
            handler.close()
    servers = [
        _server_json(
            a.discovered, a.address, measured=True, response_ms=a.response_ms, record=jsonable(a.record)
        )
        for a in decision.ranked
    ] + [_server_json(u.discovered, u.address, measured=False) for u in decision.unmeasured]
    data = {
        "hosts": decision.hosts,
        "source": decision.source.value,
        "algorithm": decision.settings.algorithm.value,
        "servers": servers,
        "elapsed_ms": decision.survey.elapsed_ms if decision.survey else 0.0,
        "counters": dict(decision.counters),
    }
    live = decision.source is host_list.Source.LIVE
    return Result(
        command=NAME,
        data=data,
        text=" ".join(decision.hosts),
        exit_code=OK if live or args.hook else NOTHING_FOUND,
    )
