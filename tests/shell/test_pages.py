"""The monitoring pages beside the broker's path: the real endpoint on loopback, with a Monitor.

A daemon with no address yet has no view of the mesh (`live` is None): the pages still answer,
which is what these tests need; tests/lab/test_status_page.py shows them over real daemons.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ltsp_mesh.core.broker.answer import TEXT_TYPE, Reply
from ltsp_mesh.core.broker.request import BrokerRequest
from ltsp_mesh.shell.broker import endpoint
from ltsp_mesh.shell.server import monitor as monitor_module
from ltsp_mesh.shell.server.monitor import Monitor
from tests.records import record


@dataclass
class Broker:
    port: int
    counters: Counter[str]
    monitor: Monitor
    decided: list[BrokerRequest]


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    counters: Counter[str] = Counter()
    decided: list[BrokerRequest] = []

    async def decide(request: BrokerRequest, client: str, local: str) -> Reply:
        decided.append(request)
        return Reply(200, TEXT_TYPE, b"10.0.0.1\n")

    monitor = Monitor(lambda: None, counters, lambda: record(sessions=3), "testhost")
    server = await endpoint.start(
        "127.0.0.1", 0, endpoint.Endpoint(monitor.timed(decide), counters, pages=monitor.page)
    )
    monitor.start()
    try:
        yield Broker(server.sockets[0].getsockname()[1], counters, monitor, decided)
    finally:
        await monitor.stop()
        server.close()
        await server.wait_closed()


async def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), {k.lower(): v for k, v in headers.items()}, body


async def get(port: int, target: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    return await exchange(port, f"{method} {target} HTTP/1.0\r\nHost: x\r\n\r\n".encode())


async def test_the_status_page_is_html_from_this_server(broker: Broker) -> None:
    status, headers, body = await get(broker.port, "/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert b"ltsp-mesh on testhost" in body and headers["cache-control"] == "no-store"


async def test_metrics_are_in_the_exposition_format(broker: Broker) -> None:
    status, headers, body = await get(broker.port, "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert families["ltsp_mesh_sessions"].samples[0].value == 3


async def test_the_json_forms_answer(broker: Broker) -> None:
    for target in ("/status.json", "/decisions.json", "/decisions.json?client=10.0.0.9"):
        status, headers, _ = await get(broker.port, target)
        assert (status, headers["content-type"]) == (200, "application/json")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_nothing_on_the_page_can_change_state(broker: Broker, method: str) -> None:
    status, _, body = await get(broker.port, "/?client=10.0.0.1", method)
    assert status == 405 and b"read-only" in body


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /../../etc/passwd HTTP/1.0\r\n\r\n",
        b"GET /?client=<script> HTTP/1.0\r\n\r\n",
        b"GET /metrics?x HTTP/1.0\r\n\r\n",
        b"GET /%00 HTTP/1.0\r\n\r\n",
        b"GET /\xc3\xa9 HTTP/1.0\r\n\r\n",
        b"GET /" + b"a" * 3000 + b" HTTP/1.0\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello
        b"GET /\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 5\r\n\r\nabcde",
    ],
)
async def test_a_bad_request_gets_a_4xx_and_no_traceback(
    broker: Broker, request_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    status, _, body = await exchange(broker.port, request_bytes)
    assert 400 <= status < 500 and body.count(b"\n") == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_page_requests_neither_reach_nor_count_as_the_brokers(broker: Broker) -> None:
    for target in ("/", "/metrics", "/nope"):
        await get(broker.port, target)
    assert broker.decided == [] and broker.counters["broker_requests"] == 0


async def test_a_page_flood_is_refused_without_touching_the_thin_clients_budget(broker: Broker) -> None:
    answers = [
        (await get(broker.port, "/status.json"))[0] for _ in range(int(monitor_module.PAGES_BURST) + 3)
    ]
    assert answers.count(429) >= 3 and broker.counters["page_rate_limited"] >= 3
    status, _, body = await get(broker.port, "/ltsp-mesh/v1/hosts")
    assert (status, body) == (200, b"10.0.0.1\n")


async def test_a_page_is_rendered_once_per_second_whatever_the_viewers(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    renders = Counter[str]()
    real = broker.monitor.render

    def counting(*args: object) -> Reply:
        renders["n"] += 1
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(broker.monitor, "render", counting)
    bodies = {(await get(broker.port, "/"))[2] for _ in range(5)}
    assert renders["n"] == 1 and len(bodies) == 1


async def test_each_thin_clients_answer_is_timed_and_kept(broker: Broker) -> None:
    await get(broker.port, "/ltsp-mesh/v1/hosts?mac=02:00:00:00:00:07")
    assert sum(broker.monitor.answer_times.counts) == 1
    (decision,) = broker.monitor.decisions.recent()
    assert (decision.client, decision.mac, decision.status) == ("127.0.0.1", "02:00:00:00:00:07", 200)


async def test_head_gets_the_headers_of_the_page(broker: Broker) -> None:
    status, headers, _ = await get(broker.port, "/", "HEAD")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"


async def test_each_decision_goes_to_the_journal_when_debug_is_on(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ltsp_mesh.decisions")
    await get(broker.port, "/ltsp-mesh/v1/hosts?LDM_LB_ALGORITHM=mac-hash")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "ltsp_mesh.decisions"]
    assert line.startswith("client 127.0.0.1 mac-hash: 200")


async def test_decisions_stay_out_of_the_journal_by_default(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await get(broker.port, "/ltsp-mesh/v1/hosts")
    assert not [r for r in caplog.records if r.name == "ltsp_mesh.decisions"]


async def test_a_page_that_fails_is_a_500_and_the_broker_answers_on(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> Reply:
        raise RuntimeError("a bug")

    monkeypatch.setattr(broker.monitor, "render", broken)
    status, _, body = await get(broker.port, "/")
    assert status == 500 and body.count(b"\n") == 1 and broker.counters["page_failed"] == 1
    assert (await get(broker.port, "/ltsp-mesh/v1/hosts"))[0] == 200


async def test_a_failure_to_record_a_decision_never_costs_the_thin_client_its_answer(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(broker.monitor, "_decided", broken)
    answers = [await get(broker.port, "/ltsp-mesh/v1/hosts") for _ in range(2)]
    assert [(s, b) for s, _, b in answers] == [(200, b"10.0.0.1\n")] * 2
    assert broker.counters["monitor_failed"] == 2
