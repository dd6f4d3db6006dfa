"""The direct query responder on UDP 377: bytes in, core decision, bytes out, never a queue.

It owns a non-blocking socket and reads it whenever it is readable, reading the clock once per
datagram. Each reply is sent at once with sendto; when the kernel cannot take it now (EAGAIN,
ENOBUFS, an unreachable host), the reply is dropped and counted by reason, never kept.
asyncio's datagram transport would keep it instead, in a user-space buffer without a bound.

Replies to spoofed on-link sources wait in the kernel's neighbour queue for an ARP answer that
never comes, charged to this socket's send buffer; a burst from a few hundred such sources
fills it, and then no reply goes out, honest ones included. So before answering, the reply
gate (core/server/reply_gate.py) asks what the kernel knows of the source's next hop: replies
to resolved neighbours go out, a neighbour being resolved gets none, an unknown one gets one
only while the replies waiting stay under half the send buffer. Every drop is counted, as
`udp_dropped_<reason>`, in the daemon's counters (`ltsp-mesh drain status` shows them).
Measured in the lab (tests/lab/test_spoofing.py): 10 s of 3,000 spoofed requests a second from
231 sources, every honest query answered during and after, the daemon 0.2 MiB larger; with
asyncio's transport, none answered and 10 MiB larger.
"""

from __future__ import annotations

import array
import asyncio
import errno
import fcntl
import logging
import socket
import termios
import time
from collections import Counter
from collections.abc import Callable
from typing import Final

from ltsp_mesh.core.codec import load_query
from ltsp_mesh.core.ratelimit import RateLimiter
from ltsp_mesh.core.server import reply_gate
from ltsp_mesh.core.server.queries import Instant
from ltsp_mesh.core.server.reply_gate import Reach, ReachCache
from ltsp_mesh.errors import DecodeError
from ltsp_mesh.shell.listen import cannot_listen
from ltsp_mesh.shell.server.neighbours import Neighbours

log = logging.getLogger(__name__)

# Datagrams read per wake-up before the loop runs its other work again: a flood then costs the
# broker and the announcer a bounded delay, and the socket's receive buffer (bounded by the
# kernel) drops what this process cannot keep up with.
READ_BATCH: Final = 64
# The kernel's queue of datagrams not read yet: about a third of a second of a 3,000/s flood (a
# datagram takes about 1.2 KiB of it with its overhead), so that a pause of the loop (a storm of
# first contacts to look up, another process on the CPU) does not drop honest requests. Bounded
# memory in the kernel; root may set it past net.core.rmem_max, others get at most that.
RECEIVE_BUFFER_BYTES: Final = 1024 * 1024
SO_RCVBUFFORCE: Final = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux; Python names it from 3.12

# Given a decoded request, the datagram it arrived in, its source address and the time it was
# read, the daemon acts on it (a claim updates the pending ledger) and returns the reply
# datagram, or None when the reply would be larger than the request.
Answer = Callable[[load_query.Request, bytes, str, Instant], bytes | None]
# What the kernel knows of the next hop towards a source address (shell/server/neighbours.py).
ReachOf = Callable[[str], Reach]


def send_error_counter(exc: OSError) -> str:
    """The counter a reply that could not be sent goes to, named for the reason."""
    if isinstance(exc, BlockingIOError) or exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
        return "udp_dropped_send_full"
    name = errno.errorcode.get(exc.errno or 0, "other").lower()
    return f"udp_dropped_send_{name}"


class Responder:
    """Answers `stats` and `claim` requests with the current record; drops and counts the rest."""

    def __init__(
        self,
        sock: socket.socket,
        answer: Answer,
        counters: Counter[str],
        limiter: RateLimiter,
        reach_of: ReachOf,
        on_close: Callable[[], None] = lambda: None,
    ) -> None:
        self._sock = sock
        self._answer = answer
        self._limiter = limiter
        self._counters = counters
        self._reach_of = reach_of
        self._reach = ReachCache()
        self._on_close = on_close
        # What the kernel really gives (it doubles what is asked); half of it is the most that
        # replies to unresolved neighbours may hold.
        self._reserve = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) // 2
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)
        self._closed = False

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the responder is bound to."""
        host, port = self._sock.getsockname()
        return str(host), int(port)

    def close(self) -> None:
        """Stop reading and close the socket; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._on_close()

    def _readable(self) -> None:
        for _ in range(READ_BATCH):
            try:
                data, addr = self._sock.recvfrom(load_query.MAX_DATAGRAM_BYTES + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # an ICMP error for an earlier reply, reported on this socket
                self._counters["udp_receive_errors"] += 1
                log.debug("UDP error: %s", exc)
                continue
            self.datagram_received(data, addr)

    def _queued_bytes(self) -> int:
        """What the socket holds that the kernel has not sent yet (SIOCOUTQ)."""
        out = array.array("i", [0])
        fcntl.ioctl(self._sock.fileno(), termios.TIOCOUTQ, out, True)
        return out[0]

    def _verdict(self, reach: Reach) -> reply_gate.Verdict:
        queued = self._queued_bytes() if reach is Reach.UNKNOWN else 0
        return reply_gate.decide(reach, queued, self._reserve)

    def _drop(self, verdict: reply_gate.Verdict) -> bool:
        if verdict is reply_gate.Verdict.SEND:
            return False
        self._counters[f"udp_dropped_{verdict.value}"] += 1
        return True

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        """Decide and send the reply to one datagram."""
        now = Instant(time.monotonic(), time.time())
        source = addr[0]
        # First what is known of the source's next hop: a reply that could not leave costs
        # nothing, not even budget, so that spoofed sources cannot use up the global one.
        reach = self._reach.get(source, now.monotonic)
        if reach is not None and self._drop(self._verdict(reach)):
            return
        # Before any decoding, lookup or signing: a flood costs the server as little as possible.
        if not self._limiter.allow(source, now.monotonic):
            self._counters["udp_dropped_rate_limited"] += 1
            return
        try:
            request = load_query.decode_request(data)
        except DecodeError as exc:
            self._counters["udp_dropped_malformed"] += 1
            log.debug("dropped a datagram from %s: %s", source, exc)
            return
        if reach is None:
            reach = self._reach_of(source)
            self._counters["udp_neighbour_lookups"] += 1
            self._reach.put(source, reach, now.monotonic)
            if self._drop(self._verdict(reach)):
                return
        reply = self._answer(request, data, source, now)
        if reply is None:
            self._counters["udp_dropped_unpadded"] += 1
            log.debug("dropped an unpadded request from %s (%d bytes)", addr[0], len(data))
            return
        try:
            self._sock.sendto(reply, addr)
        except OSError as exc:
            self._counters[send_error_counter(exc)] += 1
            return
        self._counters["udp_answered"] += 1
        then = reply_gate.after(reach, reply_gate.Verdict.SEND)
        if then is not reach:  # the reply makes the kernel resolve the next hop: wait for that
            self._reach.put(source, then, now.monotonic)


async def start(
    host: str, port: int, answer: Answer, counters: Counter[str], limiter: RateLimiter | None = None
) -> Responder:
    """Bind the responder on (host, port) and return it; ConfigError when it cannot."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise cannot_listen("direct queries (UDP)", host, port, "QUERY_PORT / --query-port", exc) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER_BYTES)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
    neighbours = Neighbours()
    return Responder(sock, answer, counters, limiter or RateLimiter(), neighbours.reach, neighbours.close)
