"""`ltsp-mesh demo [SCENE]`: servers and thin clients in a namespace lab, end to end."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from ltsp_mesh.cli.lab_tools import import_lab
from ltsp_mesh.cli.render import Result

NAME = "demo"
SCENES = ("core", "margot", "rudolfo")


def add_parser(subparsers: Any, help_text: str) -> None:
    """Register `demo`."""
    parser = subparsers.add_parser(
        NAME,
        help=help_text,
        description="Build a lab of network namespaces on a private bridge (no traffic leaves it), run "
        "real `ltsp-mesh serve` daemons and clients, show what happens, then remove everything. "
        "core (the default): three servers of different sizes and loads and one client; status and "
        "hosts; one server killed with SIGKILL is no longer listed. margot and rudolfo replay the "
        "guides docs/margot.md and docs/rudolfo.md step by step.",
    )
    parser.add_argument(
        "scene", nargs="?", default="core", choices=SCENES, help="what to show (default core)"
    )
    parser.set_defaults(func=run)


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def run(args: argparse.Namespace) -> Result:
    """Run the scene; everything built is removed, even on failure or Ctrl-C."""
    # Imported here, not at the top: `hosts` runs at every login screen and pays for every
    # module the command line imports at start-up; and the Debian package has no lab.
    scenes = import_lab("scenes", NAME)

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM cleans up like Ctrl-C
    scenes.SCENES[args.scene](_say)
    _say("Done: every namespace, veth and the bridge are gone.")
    return Result(command=NAME, streamed=True)
