"""The UDP and TCP responders and the query client, on loopback sockets."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from ltsp_mesh.core.codec import legacy_xml, load_query
from ltsp_mesh.core.codec.legacy_xml import ServerReport
from ltsp_mesh.core.discovery.services import Discovered
from ltsp_mesh.core.ratelimit import RateLimiter
from ltsp_mesh.core.record import Load, ServerRecord, ServerState, record_from_load
from ltsp_mesh.core.server.queries import Instant
from ltsp_mesh.core.server.reply_gate import Reach
from ltsp_mesh.shell import query
from ltsp_mesh.shell.server import respond_tcp, respond_udp

LOAD = Load(
    cpus=4,
    load1=1.0,
    load5=0.5,
    load15=0.25,
    mem_total_kib=4096,
    mem_available_kib=1024,
    swap_total_kib=0,
    swap_used_kib=0,
    swapping=False,
    sessions=3,
)
RECORD = record_from_load(
    LOAD, server_id="abc123", pending=1, capacity=4, state=ServerState.UP, query_port=377
)
REPORT = ServerReport(
    hostname="app1", server_id="abc123", state=ServerState.UP, load=LOAD, pending=1, capacity=4, ssh_port=22
)


def _unsigned(request: load_query.Request, datagram: bytes, source: str, now: Instant) -> bytes | None:
    return load_query.reply_to(request, len(datagram), RECORD, 1.0)


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.replies.put_nowait(data)


@pytest.fixture
async def udp_port() -> AsyncIterator[tuple[int, Counter[str]]]:
    counters: Counter[str] = Counter()
    responder = await respond_udp.start("127.0.0.1", 0, _unsigned, counters)
    try:
        yield responder.address[1], counters
    finally:
        responder.close()


async def _exchange(
    port: int, datagrams: list[bytes], expect: int, wait_s: float = 2.0, source: str = "127.0.0.1"
) -> list[bytes]:
    """Send `datagrams`; return the replies once `expect` have come, or whatever came in `wait_s`.

    A test that expects replies waits for them, not for a fixed time; one that expects none
    must wait out some silence, and a responder that answers on loopback does so within
    milliseconds, so a quarter of a second of it is the proof.
    """
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(
        _Client, local_addr=(source, 0), remote_addr=("127.0.0.1", port)
    )
    replies: list[bytes] = []
    try:
        for datagram in datagrams:
            transport.sendto(datagram)
        async with asyncio.timeout(wait_s if expect else 0.25):
            while len(replies) < max(expect, 1):
                replies.append(await client.replies.get())
    except TimeoutError:
        pass
    finally:
        transport.close()
    return replies + [client.replies.get_nowait() for _ in range(client.replies.qsize())]


def _request() -> bytes:
    return load_query.encode_request(load_query.Request(load_query.Op.STATS, os.urandom(16)))


async def test_udp_responder_answers_a_padded_stats_request(udp_port: tuple[int, Counter[str]]) -> None:
    port, counters = udp_port
    (reply,) = await _exchange(port, [_request()], expect=1)
    assert load_query.decode_reply(reply).record == RECORD
    assert counters["udp_answered"] == 1


async def test_udp_responder_drops_and_counts_malformed_datagrams(udp_port: tuple[int, Counter[str]]) -> None:
    port, counters = udp_port
    # (asyncio never sends an empty datagram; the lab test sends a real one)
    replies = await _exchange(port, [b"\xc1" * 600, b"\x80", _request()[:30]], expect=0)
    assert replies == []
    assert counters["udp_dropped_malformed"] == 3


async def test_udp_responder_drops_and_counts_unpadded_requests(udp_port: tuple[int, Counter[str]]) -> None:
    port, counters = udp_port
    bare = load_query.encode_request(load_query.Request(load_query.Op.STATS, os.urandom(16)), pad_to=0)
    assert await _exchange(port, [bare], expect=0) == []
    assert counters["udp_dropped_unpadded"] == 1


async def test_tcp_responder_writes_the_document_and_closes() -> None:
    counters: Counter[str] = Counter()
    server = await respond_tcp.start("127.0.0.1", 0, lambda: REPORT, counters)
    try:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        data = await asyncio.wait_for(reader.read(), timeout=5)  # read() returns at EOF only
        writer.close()
        assert legacy_xml.decode(data) == REPORT
    finally:
        server.close()
        await server.wait_closed()
    assert counters["tcp_answered"] == 1


def _target(port: int) -> query.Target:
    discovered = Discovered(
        instance="a._ltsp._tcp.local.", host="a.local.", ssh_port=22, addresses=("127.0.0.1",), announced=None
    )
    return query.Target(discovered, "127.0.0.1", port)


async def test_query_all_returns_the_fresh_record_and_a_response_time(
    udp_port: tuple[int, Counter[str]],
) -> None:
    port, _ = udp_port
    counters: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    (answer,), _ = await query.query_all([_target(port)], loop.time() + 2, counters)
    assert answer.record == RECORD
    assert answer.address == "127.0.0.1"
    assert answer.response_ms >= 0
    assert counters["query_answered"] == 1


async def test_query_all_gives_up_on_a_silent_server_at_the_deadline() -> None:
    loop = asyncio.get_running_loop()
    silent, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    try:
        counters: Counter[str] = Counter()
        deadline = loop.time() + 0.2
        answered, _ = await query.query_all(
            [_target(silent.get_extra_info("sockname")[1])], deadline, counters
        )
        assert answered == []
        assert counters["query_unanswered"] == 1
        assert loop.time() >= deadline
    finally:
        silent.close()


async def test_query_all_ignores_a_reply_with_a_nonce_it_did_not_send() -> None:
    loop = asyncio.get_running_loop()

    class WrongNonce(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            reply = load_query.Reply(record=RECORD, nonce=os.urandom(16), timestamp=1.0)
            self.transport.sendto(load_query.encode_reply(reply), addr)  # type: ignore[attr-defined]

    liar, _ = await loop.create_datagram_endpoint(WrongNonce, local_addr=("127.0.0.1", 0))
    try:
        counters: Counter[str] = Counter()
        answered, _ = await query.query_all(
            [_target(liar.get_extra_info("sockname")[1])], loop.time() + 0.2, counters
        )
        assert answered == []
        assert counters["query_replies_unexpected"] == 1
    finally:
        liar.close()


async def test_query_all_with_no_targets_returns_at_once() -> None:
    assert await query.query_all([], asyncio.get_running_loop().time(), Counter()) == ([], {})


def test_record_fixture_is_consistent() -> None:
    assert isinstance(RECORD, ServerRecord) and REPORT.record(377) == RECORD


async def test_udp_responder_hands_each_request_and_its_source_to_the_daemon() -> None:
    seen: list[tuple[load_query.Op, str]] = []

    def answer(request: load_query.Request, datagram: bytes, source: str, now: Instant) -> bytes | None:
        seen.append((request.op, source))
        return _unsigned(request, datagram, source, now)

    responder = await respond_udp.start("127.0.0.1", 0, answer, Counter())
    try:
        claim = load_query.encode_request(load_query.Request(load_query.Op.CLAIM, os.urandom(16)))
        (reply,) = await _exchange(responder.address[1], [claim], expect=1)
    finally:
        responder.close()
    assert seen == [(load_query.Op.CLAIM, "127.0.0.1")]
    assert load_query.decode_reply(reply).record == RECORD


async def test_udp_responder_hands_the_daemon_the_time_the_datagram_was_read() -> None:
    times: list[Instant] = []

    def answer(request: load_query.Request, datagram: bytes, source: str, now: Instant) -> bytes | None:
        times.append(now)
        return _unsigned(request, datagram, source, now)

    before = Instant(time.monotonic(), time.time())
    responder = await respond_udp.start("127.0.0.1", 0, answer, Counter())
    try:
        await _exchange(responder.address[1], [_request()], expect=1)
    finally:
        responder.close()
    (now,) = times
    assert before.monotonic <= now.monotonic <= time.monotonic() and before.wall <= now.wall <= time.time()


class _FullSocket(socket.socket):
    """A UDP socket whose sends fail as a full send buffer does, while `full` is set."""

    full = True

    def sendto(self, *args: object) -> int:  # type: ignore[override]
        if self.full:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        return super().sendto(*args)  # type: ignore[call-overload,no-any-return]


def _responder(
    sock: socket.socket, counters: Counter[str], reach: dict[str, Reach], limiter: RateLimiter | None = None
) -> respond_udp.Responder:
    """A responder on `sock` whose kernel answers `reach` (RESOLVED for any other source)."""
    sock.setblocking(False)
    sock.bind(("127.0.0.1", 0))
    return respond_udp.Responder(
        sock, _unsigned, counters, limiter or RateLimiter(), lambda source: reach.get(source, Reach.RESOLVED)
    )


async def test_a_reply_the_kernel_cannot_take_now_is_dropped_and_counted_not_queued() -> None:
    counters: Counter[str] = Counter()
    sock = _FullSocket(socket.AF_INET, socket.SOCK_DGRAM)
    responder = _responder(sock, counters, {})
    try:
        assert await _exchange(responder.address[1], [_request()], expect=0) == []
        assert counters["udp_dropped_send_full"] == 1
        sock.full = False
        # Nothing was kept: the next request gets exactly its own reply.
        replies = await _exchange(responder.address[1], [_request()], expect=1)
        assert len(replies) == 1 and counters["udp_answered"] == 1
    finally:
        responder.close()


def test_a_send_error_is_counted_by_its_name() -> None:
    assert respond_udp.send_error_counter(OSError(errno.ENOBUFS, "x")) == "udp_dropped_send_enobufs"
    assert respond_udp.send_error_counter(OSError(errno.EHOSTUNREACH, "x")) == "udp_dropped_send_ehostunreach"
    assert respond_udp.send_error_counter(BlockingIOError(errno.EAGAIN, "x")) == "udp_dropped_send_full"


async def test_a_source_being_resolved_gets_no_reply_and_is_counted() -> None:
    counters: Counter[str] = Counter()
    responder = _responder(
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM), counters, {"127.0.0.1": Reach.RESOLVING}
    )
    try:
        assert await _exchange(responder.address[1], [_request(), _request()], expect=0) == []
    finally:
        responder.close()
    assert counters["udp_dropped_unresolved"] == 2 and counters["udp_answered"] == 0


async def test_an_unknown_source_gets_one_reply_then_waits_for_its_resolution() -> None:
    counters: Counter[str] = Counter()
    responder = _responder(
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM), counters, {"127.0.0.1": Reach.UNKNOWN}
    )
    try:
        replies = await _exchange(responder.address[1], [_request(), _request(), _request()], expect=1)
        assert len(replies) == 1
    finally:
        responder.close()
    assert counters["udp_answered"] == 1 and counters["udp_dropped_unresolved"] == 2


async def test_the_kernel_is_asked_once_per_source_until_the_recheck() -> None:
    counters: Counter[str] = Counter()
    responder = _responder(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), counters, {})
    try:
        assert len(await _exchange(responder.address[1], [_request() for _ in range(5)], expect=5)) == 5
    finally:
        responder.close()
    assert counters["udp_neighbour_lookups"] == 1


async def test_a_source_the_gate_refuses_spends_no_budget() -> None:
    # 127.0.0.2 stands for a spoofed source (never resolved), 127.0.0.3 for an honest one; the
    # global budget is 3. Only the spoofed source's first request is looked up (and spends a
    # token); the rest are refused before the budget, so the honest request finds tokens left.
    counters: Counter[str] = Counter()
    limiter = RateLimiter(global_per_s=3.0)
    responder = _responder(
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM), counters, {"127.0.0.2": Reach.RESOLVING}, limiter
    )
    try:
        port = responder.address[1]
        assert await _exchange(port, [_request() for _ in range(30)], expect=0, source="127.0.0.2") == []
        assert len(await _exchange(port, [_request()], expect=1, source="127.0.0.3")) == 1
    finally:
        responder.close()
    assert counters["udp_dropped_unresolved"] == 30 and counters["udp_dropped_rate_limited"] == 0
