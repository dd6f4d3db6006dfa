"""The `ltsp-mesh` command line: one module per subcommand, one place for errors and exit codes."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ltsp_mesh import __version__
from ltsp_mesh.cli.commands import COMMANDS
from ltsp_mesh.cli.exit_codes import FAILED, HELP, INTERRUPTED
from ltsp_mesh.cli.render import Result, render
from ltsp_mesh.errors import MeshError


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand wired to its run().

    With `only`, just that subcommand's module is imported (the others are listed by name and
    help): `hosts` runs at every login screen, and importing every command's machinery would
    cost it tens of milliseconds before it did anything.
    """
    parser = argparse.ArgumentParser(
        prog="ltsp-mesh",
        description="Zero-configuration load balancing of LTSP thin-client logins over mDNS/DNS-SD.",
        epilog=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ltsp-mesh {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        if only is None or name == only:
            importlib.import_module(f"ltsp_mesh.cli.{module}").add_parser(subparsers, help_text)
        else:
            subparsers.add_parser(name, help=help_text)
    return parser


def _command_in(argv: list[str]) -> str | None:
    # The top-level options take no values, so the first word that is no option is the command.
    first = next((word for word in argv if not word.startswith("-")), None)
    return first if first in COMMANDS else None


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="ltsp-mesh[%(process)d] %(levelname)s %(name)s: %(message)s")
    if verbosity < 2:
        logging.getLogger("zeroconf").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    words = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command_in(words))
    args = parser.parse_args(words)
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
