"""`ltsp-mesh feed --mqueue NAME`: keep a POSIX message queue filled for a greeter."""

from __future__ import annotations

import argparse
import logging
import signal
import time
from typing import Any

from ltsp_mesh.cli import client_options
from ltsp_mesh.cli.render import Result
from ltsp_mesh.errors import ConfigError, MeshError

NAME = "feed"
log = logging.getLogger(__name__)


def add_parser(subparsers: Any, help_text: str) -> None:
    """Register `feed` and its options."""
    parser = subparsers.add_parser(
        NAME,
        help=help_text,
        description="On a thin client: look at the mesh every --interval seconds and put the ranked "
        "server list with statuses, as one msgpack message, into the POSIX message queue NAME "
        "(created if missing, one message deep: the newest snapshot replaces the old one). A "
        "greeter in any language reads it; docs/greeter-feed.md describes the format. The queue "
        "is removed when the feed stops (SIGTERM, SIGINT).",
    )
    parser.add_argument("--mqueue", required=True, metavar="NAME", help="the queue's name, e.g. ltsp-mesh")
    parser.add_argument(
        "--interval", type=float, default=5.0, metavar="SECONDS", help="refresh period (default 5)"
    )
    parser.add_argument("--count", type=int, metavar="N", help="stop after N refreshes")
    client_options.add(parser, json=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> Result:
    """Publish snapshots until stopped."""
    # Imported here, not at the top: `hosts` runs at every login screen and pays for every
    # module the command line imports at start-up.
    from ltsp_mesh.cli.status import snapshot
    from ltsp_mesh.core.codec import feed
    from ltsp_mesh.shell.client.mqueue import MessageQueue

    if not 0.5 <= args.interval <= 3600:
        raise ConfigError(f"--interval={args.interval} is outside 0.5..3600 seconds")
    if args.count is not None and args.count < 1:
        raise ConfigError(f"--count={args.count} must be at least 1")
    args.json = False
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop (and clean up) like Ctrl-C
    try:
        queue = MessageQueue(args.mqueue, create=True)
    except OSError as exc:
        raise MeshError(f"cannot open message queue {args.mqueue!r}: {exc.strerror}") from exc
    published = 0
    try:
        while args.count is None or published < args.count:
            started = time.monotonic()
            _, message = snapshot(args)
            queue.publish(feed.encode(message, queue.message_bytes))
            published += 1
            log.info("published %d servers", len(message["servers"]))
            if args.count is None or published < args.count:
                time.sleep(max(0.0, args.interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        pass
    finally:
        queue.close()
        queue.unlink()
    return Result(command=NAME, streamed=True)
