"""The `ltsp-mesh` command line: one module per subcommand, one place for errors and exit codes."""

from __future__ import annotations

import argparse
import logging
import sys

from ltsp_mesh import __version__
from ltsp_mesh.cli import bench, browse, chooser, demo, drain, feed, hosts, install_hooks, serve, status
from ltsp_mesh.cli.exit_codes import FAILED, HELP, INTERRUPTED
from ltsp_mesh.cli.render import Result, render
from ltsp_mesh.errors import MeshError

SUBCOMMANDS = (serve, drain, hosts, status, browse, feed, chooser, install_hooks, demo, bench)


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand wired to its run()."""
    parser = argparse.ArgumentParser(
        prog="ltsp-mesh",
        description="Zero-configuration load balancing of LTSP thin-client logins over mDNS/DNS-SD.",
        epilog=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ltsp-mesh {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(subparsers)
    return parser


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="ltsp-mesh[%(process)d] %(levelname)s %(name)s: %(message)s")
    if verbosity < 2:
        logging.getLogger("zeroconf").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    as_json = bool(getattr(args, "json", False))
    try:
        result: Result = args.func(args)
    except MeshError as exc:
        result = Result(command=args.command, error=str(exc), exit_code=FAILED)
    except KeyboardInterrupt:
        result = Result(command=args.command, error="interrupted", exit_code=INTERRUPTED)
    render(result, as_json)
    sys.stdout.flush()
    return int(result.exit_code)
