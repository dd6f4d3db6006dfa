"""The direct query responder on UDP 377: bytes in, core decision, bytes out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import cast

from ltsp_mesh.core import wire
from ltsp_mesh.core.record import ServerRecord
from ltsp_mesh.errors import DecodeError

log = logging.getLogger(__name__)


# Given a decoded request and its source address, the daemon acts on it (a claim updates the
# pending ledger) and returns the record to answer with.
Serve = Callable[[wire.Request, str], ServerRecord]


class QueryProtocol(asyncio.DatagramProtocol):
    """Answers `stats` and `claim` requests with the current record; drops and counts the rest."""

    def __init__(self, serve: Serve, counters: Counter[str]) -> None:
        self._serve = serve
        self._counters = counters
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            request = wire.decode_request(data)
        except DecodeError as exc:
            self._counters["udp_dropped_malformed"] += 1
            log.debug("dropped a datagram from %s: %s", addr[0], exc)
            return
        reply = wire.reply_to(request, len(data), self._serve(request, addr[0]), time.time())
        if reply is None:
            self._counters["udp_dropped_unpadded"] += 1
            log.debug("dropped an unpadded request from %s (%d bytes)", addr[0], len(data))
            return
        assert self._transport is not None
        self._transport.sendto(reply, addr)
        self._counters["udp_answered"] += 1

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)


async def start(host: str, port: int, serve: Serve, counters: Counter[str]) -> asyncio.DatagramTransport:
    """Bind the responder on (host, port) and return its transport."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: QueryProtocol(serve, counters), local_addr=(host, port), reuse_port=False
    )
    return transport
