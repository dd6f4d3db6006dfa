"""The direct query responder on UDP 377: bytes in, core decision, bytes out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import cast

from ltsp_mesh.core.codec import load_query
from ltsp_mesh.core.ratelimit import RateLimiter
from ltsp_mesh.errors import DecodeError
from ltsp_mesh.shell.listen import cannot_listen

log = logging.getLogger(__name__)


# Given a decoded request, the datagram it arrived in and its source address, the daemon acts on
# it (a claim updates the pending ledger) and returns the reply datagram, or None when the reply
# would be larger than the request.
Answer = Callable[[load_query.Request, bytes, str], bytes | None]


class QueryProtocol(asyncio.DatagramProtocol):
    """Answers `stats` and `claim` requests with the current record; drops and counts the rest."""

    def __init__(self, answer: Answer, counters: Counter[str], limiter: RateLimiter) -> None:
        self._answer = answer
        self._limiter = limiter
        self._counters = counters
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        # Before any decoding or signing: a flood costs the server as little as possible.
        if not self._limiter.allow(addr[0], time.monotonic()):
            self._counters["udp_dropped_rate_limited"] += 1
            return
        try:
            request = load_query.decode_request(data)
        except DecodeError as exc:
            self._counters["udp_dropped_malformed"] += 1
            log.debug("dropped a datagram from %s: %s", addr[0], exc)
            return
        reply = self._answer(request, data, addr[0])
        if reply is None:
            self._counters["udp_dropped_unpadded"] += 1
            log.debug("dropped an unpadded request from %s (%d bytes)", addr[0], len(data))
            return
        assert self._transport is not None
        self._transport.sendto(reply, addr)
        self._counters["udp_answered"] += 1

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)


async def start(
    host: str, port: int, answer: Answer, counters: Counter[str], limiter: RateLimiter | None = None
) -> asyncio.DatagramTransport:
    """Bind the responder on (host, port) and return its transport; ConfigError when it cannot."""
    loop = asyncio.get_running_loop()
    budget = limiter or RateLimiter()
    try:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: QueryProtocol(answer, counters, budget), local_addr=(host, port), reuse_port=False
        )
    except OSError as exc:
        raise cannot_listen("direct queries (UDP)", host, port, "QUERY_PORT / --query-port", exc) from None
    return transport
