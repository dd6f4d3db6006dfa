"""`ltsp-mesh feed --mqueue NAME`: keep a POSIX message queue filled for a greeter."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import Any

from ltsp_mesh.cli import bounds, client_options
from ltsp_mesh.cli.bounds import bounded
from ltsp_mesh.cli.render import Result
from ltsp_mesh.errors import MeshError

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
        "--interval",
        type=bounded(float, bounds.INTERVAL_S),
        default=5.0,
        metavar="SECONDS",
        help=f"refresh period (default 5; {bounds.INTERVAL_S.describe()})",
    )
    parser.add_argument(
        "--count", type=bounded(int, bounds.COUNT), metavar="N", help="stop after N refreshes"
    )
    client_options.add(parser, json=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> Result:
    """Publish snapshots until stopped (SIGTERM, SIGINT, or --count)."""
    # Imported here, not at the top: `hosts` runs at every login screen and pays for every
    # module the command line imports at start-up.
    from ltsp_mesh.cli import refresh
    from ltsp_mesh.cli.status import snapshot
    from ltsp_mesh.core.codec import feed
    from ltsp_mesh.shell.client.mqueue import MessageQueue

    args.json = False
    # Outside the loop (which takes both signals over), SIGTERM stops and cleans up like Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        queue = MessageQueue(args.mqueue, create=True)
    except OSError as exc:
        raise MeshError(f"cannot open message queue {args.mqueue!r}: {exc.strerror}") from exc

    async def publish() -> None:
        _, message = await snapshot(args)
        queue.publish(feed.encode(message, queue.message_bytes))
        log.info("published %d servers", len(message["servers"]))

    try:
        asyncio.run(refresh.repeat(publish, interval_s=args.interval, count=args.count))
    except KeyboardInterrupt:
        pass  # a signal before the loop took SIGINT and SIGTERM over: stop all the same
    finally:
        queue.close()
        queue.unlink()
    return Result(command=NAME, streamed=True)
