"""`ltsp-mesh chooser --mqueue NAME`: pick a server in a terminal, from the greeter feed."""

from __future__ import annotations

import argparse
import os
import select
import sys
import termios
import time
import tty
from typing import IO, Any

from ltsp_mesh.cli.bounds import Bound, bounded
from ltsp_mesh.cli.exit_codes import INTERRUPTED, OK
from ltsp_mesh.cli.render import Result
from ltsp_mesh.errors import DecodeError, MeshError

NAME = "chooser"
WAIT_S = Bound(0, 3600, "seconds")
_KEYS = {
    b"\x1b[A": "up",
    b"\x1bOA": "up",
    b"\x1b[B": "down",
    b"\x1bOB": "down",
    b"\r": "enter",
    b"\n": "enter",
    b"q": "quit",
    b"Q": "quit",
    b"\x1b": "quit",
    b"k": "up",
    b"j": "down",
}


def add_parser(subparsers: Any, help_text: str) -> None:
    """Register `chooser` and its options."""
    parser = subparsers.add_parser(
        NAME,
        help=help_text,
        description="Show the servers the feed publishes in the POSIX message queue NAME, refreshed "
        "as new snapshots arrive, with the recommended one marked and selected. Enter logs in to "
        "the selection, a digit picks that line, arrows move, q quits. The chosen address is "
        "printed on standard output; the screen is drawn on the terminal. Exits 130 when quit.",
    )
    parser.add_argument("--mqueue", required=True, metavar="NAME", help="the queue `ltsp-mesh feed` fills")
    parser.add_argument(
        "--wait",
        type=bounded(float, WAIT_S),
        default=30.0,
        metavar="SECONDS",
        help=f"how long to wait for the feed's queue to exist (default 30; {WAIT_S.describe()})",
    )
    parser.set_defaults(func=run)


def _open_queue(name: str, wait_s: float) -> Any:
    from ltsp_mesh.shell.client.mqueue import MessageQueue

    end = time.monotonic() + wait_s
    while True:
        try:
            return MessageQueue(name, create=False)
        except FileNotFoundError:
            if time.monotonic() >= end:
                raise MeshError(f"no queue {name!r}: start `ltsp-mesh feed --mqueue {name}` first") from None
            time.sleep(0.2)
        except OSError as exc:
            raise MeshError(f"cannot open message queue {name!r}: {exc.strerror}") from exc


def _terminal() -> tuple[IO[bytes], IO[bytes]]:
    try:
        tty_in = open("/dev/tty", "rb", buffering=0)  # noqa: SIM115  # closed in run()
        tty_out = open("/dev/tty", "wb", buffering=0)  # noqa: SIM115  # closed in run()
        return tty_in, tty_out
    except OSError:
        raise MeshError("the chooser needs a terminal (/dev/tty)") from None


def run(args: argparse.Namespace) -> Result:
    """Show the list, follow the feed, and print the chosen address."""
    from ltsp_mesh.core.codec import feed
    from ltsp_mesh.core.view import chooser_screen
    from ltsp_mesh.core.view.chooser_screen import Action, State

    queue = _open_queue(args.mqueue, args.wait)
    tty_in, tty_out = _terminal()
    saved = termios.tcgetattr(tty_in.fileno())
    state, clock, chosen = State(), "-", None
    try:
        tty.setcbreak(tty_in.fileno())
        while chosen is None:
            tty_out.write(b"\x1b[H\x1b[2J" + chooser_screen.screen(state, clock).encode() + b"\n")
            readable, _, _ = select.select([tty_in, queue], [], [], 1.0)
            if queue in readable:
                latest = None
                while (data := queue.receive()) is not None:
                    latest = data
                if latest is not None:
                    try:
                        message = feed.decode(latest)
                    except DecodeError:
                        continue  # not a feed message: keep showing the last good one
                    state, clock = chooser_screen.on_message(state, message), time.strftime("%H:%M:%S")
            if tty_in in readable:
                key = os.read(tty_in.fileno(), 8)
                state, action = chooser_screen.on_key(state, _KEYS.get(key, key.decode(errors="replace")))
                if action is Action.QUIT:
                    break
                if action is Action.CHOSEN:
                    chosen = state.selected
    finally:
        termios.tcsetattr(tty_in.fileno(), termios.TCSADRAIN, saved)
        tty_out.write(b"\x1b[H\x1b[2J")
        tty_in.close()
        tty_out.close()
        queue.close()
    if chosen is None:
        return Result(command=NAME, error="no server chosen", exit_code=INTERRUPTED)
    sys.stdout.write(chosen + "\n")
    return Result(command=NAME, streamed=True, exit_code=OK)
