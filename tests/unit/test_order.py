"""core/order.py: the plain status order of answered servers: least filled first, drained ones left out."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.order import by_fill
from ltsp_mesh.core.record import ServerRecord, ServerState
from ltsp_mesh.core.services import Answered, Discovered

from .strategies import PROPERTY, records

RECORD = ServerRecord(
    server_id="0123456789abcdef",
    cpus=8,
    load_per_cpu=0.5,
    mem_percent=45,
    swapping=False,
    sessions=0,
    pending=0,
    capacity=8,
    state=ServerState.UP,
    query_port=377,
)


def answered(address: str, **changes: Any) -> Answered:
    record = dataclasses.replace(RECORD, **changes)
    discovered = Discovered(
        instance=f"s{address}._ltsp._tcp.local.",
        host=f"h{address}.local.",
        ssh_port=22,
        addresses=(address,),
        announced=record,
    )
    return Answered(discovered=discovered, address=address, record=record, response_ms=1.0)


def addresses(servers: list[Answered]) -> list[str]:
    return [a.address for a in servers]


def test_by_fill_of_no_servers_is_empty() -> None:
    assert by_fill([]) == []


def test_by_fill_leaves_out_drained_servers() -> None:
    servers = [answered("10.0.0.1", state=ServerState.DRAIN), answered("10.0.0.2")]
    assert addresses(by_fill(servers)) == ["10.0.0.2"]


def test_by_fill_puts_the_least_filled_first() -> None:
    servers = [
        answered("10.0.0.1", sessions=6),
        answered("10.0.0.2", sessions=2),
        answered("10.0.0.3", sessions=4),
    ]
    assert addresses(by_fill(servers)) == ["10.0.0.2", "10.0.0.3", "10.0.0.1"]


def test_by_fill_counts_pending_logins_and_weighs_by_capacity() -> None:
    servers = [
        answered("10.0.0.1", sessions=4, pending=0, capacity=4),  # fill 1.0
        answered("10.0.0.2", sessions=2, pending=3, capacity=8),  # fill 0.625
        answered("10.0.0.3", sessions=6, pending=0, capacity=16),  # fill 0.375
    ]
    assert addresses(by_fill(servers)) == ["10.0.0.3", "10.0.0.2", "10.0.0.1"]


def test_by_fill_breaks_a_tie_with_the_lower_load() -> None:
    servers = [
        answered("10.0.0.1", sessions=2, load_per_cpu=0.9),
        answered("10.0.0.2", sessions=2, load_per_cpu=0.3),
    ]
    assert addresses(by_fill(servers)) == ["10.0.0.2", "10.0.0.1"]


def test_fill_outranks_load() -> None:
    servers = [
        answered("10.0.0.1", sessions=3, load_per_cpu=0.1),
        answered("10.0.0.2", sessions=2, load_per_cpu=5.0),
    ]
    assert addresses(by_fill(servers)) == ["10.0.0.2", "10.0.0.1"]


def test_by_fill_orders_identical_figures_by_address() -> None:
    servers = [answered("10.0.0.2"), answered("10.0.0.1")]
    assert addresses(by_fill(servers)) == ["10.0.0.1", "10.0.0.2"]


@given(st.lists(records(), max_size=12))
@PROPERTY
def test_by_fill_returns_the_up_servers_least_filled_first(server_records: list[ServerRecord]) -> None:
    servers = [
        answered(f"10.0.{i}.1", **{f.name: getattr(r, f.name) for f in dataclasses.fields(r)})
        for i, r in enumerate(server_records)
    ]
    ordered = by_fill(servers)
    assert sorted(addresses(ordered)) == sorted(
        a.address for a in servers if a.record.state is ServerState.UP
    )
    keys = [(a.record.fill, a.record.load_per_cpu) for a in ordered]
    assert keys == sorted(keys)
