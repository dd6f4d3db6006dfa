"""The ltsp-cluster load balancer source: parsing its answer, asking it on loopback."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ltsp_mesh.core.codec import ltsp_cluster
from ltsp_mesh.errors import ConfigError, DecodeError
from ltsp_mesh.shell.client.ltsp_cluster import recommend


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://lb.example:8008/ltsp-cluster-lb/lb", ("lb.example", 8008, "/ltsp-cluster-lb/lb")),
        ("http://10.0.0.1/", ("10.0.0.1", 80, "/")),
        ("http://10.0.0.1/get?mac=aa", ("10.0.0.1", 80, "/get?mac=aa")),
    ],
)
def test_parse_url_splits_host_port_and_path(url: str, expected: tuple[str, int, str]) -> None:
    assert ltsp_cluster.parse_url(url) == expected


@pytest.mark.parametrize("url", ["https://lb/", "lb:8008", "", "http://:80/", "http://lb:99999/"])
def test_parse_url_refuses_what_it_cannot_ask(url: str) -> None:
    with pytest.raises(ConfigError):
        ltsp_cluster.parse_url(url)


def test_decode_response_reads_a_bare_address() -> None:
    assert (
        ltsp_cluster.decode_response(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n10.0.0.7\n")
        == "10.0.0.7"
    )


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.0 500 Oops\r\n\r\n10.0.0.7",
        b"HTTP/1.0 200 OK\r\n\r\napp1.example",
        b"10.0.0.7",
        b"HTTP/1.0 200 OK\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\n" + b"1" * 5000,
    ],
)
def test_decode_response_refuses_anything_but_a_200_with_an_address(data: bytes) -> None:
    with pytest.raises(DecodeError):
        ltsp_cluster.decode_response(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_decode_response_raises_only_decode_error(data: bytes) -> None:
    try:
        ltsp_cluster.decode_response(data)
    except DecodeError:
        pass


def test_prefer_moves_a_live_recommendation_first() -> None:
    assert ltsp_cluster.prefer(["a", "b", "c"], "c") == ["c", "a", "b"]


def test_prefer_ignores_a_recommendation_that_did_not_answer() -> None:
    assert ltsp_cluster.prefer(["a", "b"], "z") == ["a", "b"]
    assert ltsp_cluster.prefer(["a", "b"], None) == ["a", "b"]


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def http() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> str:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/lb"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def _answer(body: bytes, status: bytes = b"200 OK") -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 " + status + b"\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    return handler


async def test_recommend_returns_the_address_the_balancer_names(
    http: Callable[[Handler], Awaitable[str]],
) -> None:
    url = await http(_answer(b"10.1.2.3\n"))
    counters: Counter[str] = Counter()
    assert await recommend(url, asyncio.get_running_loop().time() + 2, counters) == "10.1.2.3"
    assert counters["loadbalancer_answered"] == 1


async def test_recommend_gives_none_for_an_error_status(http: Callable[[Handler], Awaitable[str]]) -> None:
    url = await http(_answer(b"10.1.2.3", b"503 Busy"))
    assert await recommend(url, asyncio.get_running_loop().time() + 2, Counter()) is None


async def test_recommend_gives_up_at_the_deadline(http: Callable[[Handler], Awaitable[str]]) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    url = await http(silent)
    counters: Counter[str] = Counter()
    assert await recommend(url, asyncio.get_running_loop().time() + 0.2, counters) is None
    assert counters["loadbalancer_failed"] == 1


async def test_recommend_gives_none_when_nothing_listens() -> None:
    assert await recommend("http://127.0.0.1:9/", asyncio.get_running_loop().time() + 1, Counter()) is None
