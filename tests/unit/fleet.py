"""Builders for the ranking tests: servers that answered (or stayed silent) with given figures."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence

from hypothesis import strategies as st

from ltsp_mesh.core.discovery.services import Answered, Discovered
from ltsp_mesh.core.record import ServerState
from tests.records import record

_ADDRESSES: dict[str, str] = {}


def address_of(name: str) -> str:
    """A stable, unique IPv4 address per server name."""
    if name not in _ADDRESSES:
        n = len(_ADDRESSES) + 1
        _ADDRESSES[name] = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
    return _ADDRESSES[name]


def discovered(name: str) -> Discovered:
    """A server as discovery found it."""
    return Discovered(
        instance=f"{name}._ltsp._tcp.local.",
        host=f"{name}.local.",
        ssh_port=22,
        addresses=(address_of(name),),
        announced=None,
    )


def server(
    name: str,
    *,
    sessions: int = 0,
    pending: int = 0,
    capacity: int = 8,
    load: float = 0.5,
    swapping: bool = False,
    mem: int = 40,
    state: ServerState = ServerState.UP,
    response_ms: float = 5.0,
) -> Answered:
    """A server that answered the direct query with these figures."""
    figures = record(
        server_id=name,
        load_per_cpu=load,
        mem_percent=mem,
        swapping=swapping,
        sessions=sessions,
        pending=pending,
        capacity=capacity,
        state=state,
    )
    return Answered(
        discovered=discovered(name), address=address_of(name), record=figures, response_ms=response_ms
    )


def first_picks(
    decide: Callable[[random.Random], list[Answered]], decisions: int, seed: int = 1
) -> Counter[str]:
    """How often each server is first over `decisions` decisions, each with its own seeded rng."""
    rng = random.Random(seed)
    picks: Counter[str] = Counter()
    for _ in range(decisions):
        order = decide(random.Random(rng.getrandbits(64)))
        picks[order[0].record.server_id] += 1
    return picks


def macs(count: int, seed: int = 7) -> list[str]:
    """`count` distinct random unicast MACs."""
    rng = random.Random(seed)
    found: set[str] = set()
    while len(found) < count:
        octets = [rng.randrange(256) for _ in range(6)]
        octets[0] &= 0xFE
        found.add(":".join(f"{o:02x}" for o in octets))
    return sorted(found)


def names(servers: Sequence[Answered]) -> list[str]:
    return [a.record.server_id for a in servers]


@st.composite
def fleets(draw: st.DrawFn, min_size: int = 0, max_size: int = 12) -> list[Answered]:
    """Servers with distinct names and any plausible figures, drain and swapping included."""
    count = draw(st.integers(min_size, max_size))
    return [
        server(
            f"s{i}",
            sessions=draw(st.integers(0, 200)),
            pending=draw(st.integers(0, 20)),
            capacity=draw(st.integers(1, 64)),
            load=draw(st.integers(0, 1000)) / 100,
            swapping=draw(st.booleans()),
            mem=draw(st.integers(0, 100)),
            state=draw(st.sampled_from(ServerState)),
            response_ms=draw(st.floats(0.1, 2000.0)),
        )
        for i in range(count)
    ]
