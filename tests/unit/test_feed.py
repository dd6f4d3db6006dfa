"""The greeter feed's message codec."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ltsp_mesh.core.codec import feed
from ltsp_mesh.errors import DecodeError


def _server(i: int, status: str = "Idle", recommended: bool = False) -> dict[str, object]:
    return {
        "name": f"app{i} [02:00:00:00:00:{i:02x}]",
        "address": f"10.0.0.{i}",
        "status": status,
        "recommended": recommended,
        "response_ms": 0.5,
        "sessions": i,
        "pending": 0,
        "capacity": 8,
        "fill": i / 8,
        "load": 0.25,
        "cpus": 8,
        "mem": 40,
        "swapping": False,
        "id": f"id{i}",
    }


def _message(n: int) -> dict[str, object]:
    return {"v": 1, "at": 1700000000.5, "servers": [_server(i, recommended=i == 1) for i in range(1, n + 1)]}


def test_a_message_round_trips_to_what_a_greeter_needs() -> None:
    decoded = feed.decode(feed.encode(_message(3), 8192))
    assert decoded.at == 1700000000.5 and not decoded.truncated
    assert [s.address for s in decoded.servers] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert decoded.servers[0].recommended and not decoded.servers[1].recommended
    assert (decoded.servers[2].sessions, decoded.servers[2].capacity, decoded.servers[2].load) == (3, 8, 0.25)


def test_a_message_too_large_for_the_queue_drops_tail_servers_and_says_so() -> None:
    packed = feed.encode(_message(200), 4096)
    assert len(packed) <= 4096
    decoded = feed.decode(packed)
    assert decoded.truncated
    assert 0 < len(decoded.servers) < 200
    assert decoded.servers[0].recommended  # the head of the list (the recommendation) survives


def test_an_unmeasured_server_needs_no_figures() -> None:
    message = {
        "v": 1,
        "at": 1.0,
        "servers": [
            {
                "name": "old",
                "address": "10.0.0.9",
                "status": "Unmeasured",
                "recommended": False,
                "response_ms": None,
            }
        ],
    }
    (server,) = feed.decode(feed.encode(message, 8192)).servers
    assert (server.status, server.sessions, server.load) == ("Unmeasured", None, None)


def test_readers_ignore_keys_they_do_not_know() -> None:
    message = {**_message(1), "future": {"x": 1}}
    assert len(feed.decode(msgpack.packb(message)).servers) == 1


@pytest.mark.parametrize(
    "obj",
    [
        {"v": 2, "at": 1.0, "servers": []},
        {"v": 1, "servers": []},
        {"v": 1, "at": 1.0, "servers": {}},
        {"v": 1, "at": 1.0, "servers": [{"name": "a", "address": "b", "status": "Sleeping"}]},
        {"v": 1, "at": float("nan"), "servers": []},
        [1, 2],
    ],
)
def test_decode_refuses_what_is_not_a_version_1_message(obj: object) -> None:
    with pytest.raises(DecodeError):
        feed.decode(msgpack.packb(obj))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1024))
def test_decode_raises_only_decode_error(data: bytes) -> None:
    try:
        feed.decode(data)
    except DecodeError:
        pass
