"""The broker's HTTP endpoint: bytes in through h11, the core's decision, bytes out.

One request per connection, then close (HTTP/1.0, what `nc` speaks). Everything a client can
grow is bounded: connections in all and per source, requests per source per second, the size
of the request head (h11's max_incomplete_event_size), the time to send it and to read the
answer. A client that sends nothing, drips, or never reads holds a socket for READ_TIMEOUT_S
or WRITE_TIMEOUT_S at most and is counted; nothing it sends can raise anything but a 4xx.
A bad setting in a well-formed request is answered all the same, ranked with its default: the
answer says so in a header, and the journal once per client and value (core/broker/warn_once).
"""

from __future__ import annotations

import asyncio
import http
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import h11

from ltsp_mesh.core.broker import answer, request
from ltsp_mesh.core.broker.answer import Reply
from ltsp_mesh.core.broker.request import BadRequest, BrokerRequest
from ltsp_mesh.core.broker.warn_once import WarnOnce, advice
from ltsp_mesh.core.ratelimit import RateLimiter
from ltsp_mesh.shell.listen import cannot_listen

log = logging.getLogger(__name__)

# The request line and headers of a hook's request are about 400 bytes; browsers send under
# 8 KiB, and 4 KiB is what the request target limit (request.MAX_TARGET_BYTES) needs with room.
MAX_HEAD_BYTES: Final = 4096
# A thin client on the LAN sends its request in one segment within a millisecond; two seconds
# is generous for a busy LAN and short enough that a silent client cannot hold a socket.
READ_TIMEOUT_S: Final = 2.0
WRITE_TIMEOUT_S: Final = 2.0
# 1400 clients booting within two minutes are about 12 requests a second; each takes about a
# millisecond. 256 connections at once is a storm far beyond that; 8 from one address is more
# than one thin client ever opens (it asks one broker at a time).
MAX_CONNECTIONS: Final = 256
MAX_CONNECTIONS_PER_SOURCE: Final = 8
# A thin client asks once per login screen: a burst of 20 and 10 a second is far above any
# honest client, and bounds what one host can make the broker rank and claim.
REQUESTS_PER_SOURCE_PER_S: Final = 10.0
REQUESTS_BURST: Final = 20.0
REQUESTS_PER_S: Final = 2000.0
# A refused connection's request is read for this long at most before the 503 goes out.
OVER_LIMIT_READ_S: Final = 0.1

# Given the request, the client's address and the address it connected to: the reply.
Decide = Callable[[BrokerRequest, str, str], Awaitable[Reply]]
# Given the method, the target and the client's address of a request for any path outside
# /ltsp-mesh/ (the status page, /metrics: shell/server/monitor.py): the reply. Such requests
# spend budgets of their own, never the thin clients'.
Pages = Callable[[bytes, bytes, str], Awaitable[Reply]]


@dataclass
class Limits:
    """What one endpoint allows; the defaults above, smaller in tests that show a bound holding."""

    max_connections: int = MAX_CONNECTIONS
    max_per_source: int = MAX_CONNECTIONS_PER_SOURCE
    read_timeout_s: float = READ_TIMEOUT_S
    write_timeout_s: float = WRITE_TIMEOUT_S
    per_source_per_s: float = REQUESTS_PER_SOURCE_PER_S
    per_source_burst: float = REQUESTS_BURST
    global_per_s: float = REQUESTS_PER_S


class Endpoint:
    """Accepts thin clients' connections and answers each with one reply."""

    def __init__(
        self, decide: Decide, counters: Counter[str], limits: Limits | None = None, pages: Pages | None = None
    ) -> None:
        self.decide, self.counters, self.pages = decide, counters, pages
        self.limits = limits or Limits()
        self.limiter = RateLimiter(
            per_source_per_s=self.limits.per_source_per_s,
            per_source_burst=self.limits.per_source_burst,
            global_per_s=self.limits.global_per_s,
        )
        self.open: Counter[str] = Counter()
        self.warned = WarnOnce()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: admit, read one request, answer, close."""
        peer = writer.get_extra_info("peername")
        local = writer.get_extra_info("sockname")
        client = str(peer[0]) if peer else "?"
        total = sum(self.open.values())
        self.open[client] += 1
        try:
            if total >= self.limits.max_connections or self.open[client] > self.limits.max_per_source:
                self.counters["broker_connections_over_limit"] += 1
                # Take in what the client sent at once: closing with its request unread would
                # reset the connection, and the hook would never see why.
                try:
                    async with asyncio.timeout(OVER_LIMIT_READ_S):
                        await reader.read(MAX_HEAD_BYTES)
                except TimeoutError:
                    pass
                await self._send_raw(writer, answer.refusal(503, "too many connections; try another broker"))
                return
            conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
            reply = await self._reply(conn, reader, client, str(local[0]) if local else "")
            if reply is not None:
                await self._send(conn, writer, reply)
        finally:
            self.open[client] -= 1
            if self.open[client] <= 0:
                del self.open[client]
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    async def _reply(
        self, conn: h11.Connection, reader: asyncio.StreamReader, client: str, local: str
    ) -> Reply | None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.limits.read_timeout_s):
                event = await _next_request(conn, reader)
        except TimeoutError:
            self.counters["broker_read_timeouts"] += 1
            return answer.refusal(408, f"the request did not arrive within {self.limits.read_timeout_s:g} s")
        except h11.RemoteProtocolError as exc:
            self.counters["broker_bad_http"] += 1
            return answer.refusal(exc.error_status_hint, f"not an HTTP request: {exc}")
        if event is None:
            self.counters["broker_closed_early"] += 1
            return None
        if self.pages is not None and not event.target.startswith(request.API_ROOT.encode()):
            return await self.pages(event.method, event.target, client)
        self.counters["broker_requests"] += 1
        if not self.limiter.allow(client, loop.time()):
            self.counters["broker_rate_limited"] += 1
            return answer.refusal(429, "too many requests from this address; try again in a second")
        try:
            decoded = request.decode(event.method, event.target)
        except BadRequest as exc:
            self.counters[f"broker_refused_{exc.status}"] += 1
            log.info("refused a request from %s: %s", client, exc.reason)
            return answer.refusal(exc.status, exc.reason)
        self._warn(decoded, client, loop.time())
        return await self.decide(decoded, client, local)

    def _warn(self, decoded: BrokerRequest, client: str, now: float) -> None:
        for bad in decoded.bad:
            self.counters["broker_bad_settings"] += 1
            if self.warned.should_log(client, bad, now):
                log.warning("%s", advice(client, bad))
        if self.warned.over_rate:
            self.counters["broker_bad_settings_unlogged"] = self.warned.over_rate

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, reply: Reply) -> None:
        headers = [
            ("Content-Type", reply.content_type),
            ("Content-Length", str(len(reply.body))),
            ("Connection", "close"),
            ("Cache-Control", "no-store"),
            *((answer.WARNING_HEADER, warning) for warning in reply.warnings),
        ]
        try:
            data = conn.send(
                h11.Response(status_code=reply.status, headers=headers, reason=_phrase(reply.status))
            )
            if conn.our_state is h11.SEND_BODY:
                data = (data or b"") + (conn.send(h11.Data(data=reply.body)) or b"")
                data += conn.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:
            # The request was too broken for h11 to frame an answer to it: answer plainly.
            await self._send_raw(writer, reply)
            return
        await self._write(writer, data or b"")
        self.counters[f"broker_answered_{reply.status}"] += 1

    async def _send_raw(self, writer: asyncio.StreamWriter, reply: Reply) -> None:
        head = (
            f"HTTP/1.0 {reply.status} {_phrase(reply.status)}\r\n"
            f"Content-Type: {reply.content_type}\r\nContent-Length: {len(reply.body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode("ascii")
        await self._write(writer, head + reply.body)
        self.counters[f"broker_answered_{reply.status}"] += 1

    async def _write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        try:
            writer.write(data)
            async with asyncio.timeout(self.limits.write_timeout_s):
                await writer.drain()
        except (OSError, TimeoutError) as exc:
            self.counters["broker_write_failed"] += 1
            log.debug("could not answer %s: %s", writer.get_extra_info("peername"), exc)


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


async def _next_request(conn: h11.Connection, reader: asyncio.StreamReader) -> h11.Request | None:
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Request):
            return event
        if event is h11.NEED_DATA:
            data = await reader.read(MAX_HEAD_BYTES)
            conn.receive_data(data)  # b"" is EOF, which h11 turns into ConnectionClosed
            continue
        if isinstance(event, h11.ConnectionClosed):
            return None
        raise h11.RemoteProtocolError(f"unexpected {type(event).__name__} before the request", 400)


async def start(host: str, port: int, endpoint: Endpoint) -> asyncio.Server:
    """Listen on (host, port); ConfigError naming the port and the fix when that fails."""
    try:
        return await asyncio.start_server(
            endpoint.serve, host, port, reuse_address=True, backlog=MAX_CONNECTIONS
        )
    except OSError as exc:
        raise cannot_listen(
            "thin clients (the broker, TCP)", host, port, "BROKER_PORT / --broker-port", exc
        ) from None
