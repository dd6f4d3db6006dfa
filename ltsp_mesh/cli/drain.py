"""`ltsp-mesh drain`: stop (or resume) handing this server out for new logins."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ltsp_mesh.cli.render import Result
from ltsp_mesh.core.codec.control import ControlOp, ControlRequest, DrainState
from ltsp_mesh.shell.server import control

NAME = "drain"


def add_parser(subparsers: Any, help_text: str) -> None:
    """Register `drain` and its options."""
    parser = subparsers.add_parser(
        NAME,
        help=help_text,
        description="Tell the running daemon to drain (announce st=drain: clients never pick this "
        "server for a new login, running sessions are untouched) or to take logins again. The "
        "state survives a restart of the daemon. `status` shows it.",
    )
    parser.add_argument("action", choices=("on", "off", "status"))
    parser.add_argument("--reason", default="", help="why, shown by status (e.g. 'kernel update')")
    parser.add_argument(
        "--control-socket",
        type=Path,
        default=Path(control.DEFAULT_SOCKET),
        metavar="PATH",
        help="the daemon's control socket (default %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> Result:
    """Ask the daemon; report its drain state."""
    if args.action == "status":
        message = ControlRequest(op=ControlOp.STATUS)
    else:
        message = ControlRequest(
            op=ControlOp.DRAIN, drain=DrainState(draining=args.action == "on", reason=args.reason)
        )
    reply = control.request(args.control_socket, message)
    drain = reply["drain"]
    name = str(reply["service"]).split("._ltsp._tcp", 1)[0]
    if drain["draining"]:
        text = (
            f"{name}: draining{': ' + drain['reason'] if drain['reason'] else ''} (new logins go elsewhere)"
        )
    else:
        text = f"{name}: taking logins"
    return Result(command=NAME, data=reply, text=text)
