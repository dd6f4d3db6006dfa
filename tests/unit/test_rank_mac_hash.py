"""core/rank/mac_hash.py: a client keeps its server; only a lost server's clients move."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltsp_mesh.core.config.client_settings import ClientSettings
from ltsp_mesh.core.discovery.services import Answered
from ltsp_mesh.core.rank import mac_hash
from ltsp_mesh.core.record import ServerState

from .fleet import macs, names, server

SETTINGS = ClientSettings()
MACS = macs(10_000)
FLEET = [server(f"app{i}", capacity=8) for i in range(5)]


def pick(answered: list[Answered], mac: str) -> str:
    return mac_hash.rank(answered, settings=SETTINGS, mac=mac, rng=random.Random(0))[0].record.server_id


def picks(answered: list[Answered]) -> dict[str, str]:
    return {mac: pick(answered, mac) for mac in MACS}


def test_same_client_gets_the_same_order_whatever_the_rng() -> None:
    orders = {
        tuple(names(mac_hash.rank(FLEET, settings=SETTINGS, mac=MACS[0], rng=random.Random(s))))
        for s in range(20)
    }
    assert len(orders) == 1


def test_order_does_not_depend_on_the_order_servers_answered_in() -> None:
    shuffled = FLEET[::-1]
    assert all(pick(FLEET, mac) == pick(shuffled, mac) for mac in MACS[:500])


def test_mac_spelling_does_not_matter() -> None:
    assert pick(FLEET, "00:1E:0B:47:AF:02") == pick(FLEET, "00-1e-0b-47-af-02")


def test_bad_mac_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a MAC"):
        mac_hash.rank(FLEET, settings=SETTINGS, mac="", rng=random.Random(0))


def test_lists_every_server_taking_logins() -> None:
    assert sorted(names(mac_hash.rank(FLEET, settings=SETTINGS, mac=MACS[1], rng=random.Random(0)))) == names(
        FLEET
    )


def test_removing_a_server_moves_only_its_clients_over_10000_macs() -> None:
    before = picks(FLEET)
    after = picks([a for a in FLEET if a.record.server_id != "app2"])
    moved = {mac for mac in MACS if before[mac] != after[mac]}
    assert moved == {mac for mac in MACS if before[mac] == "app2"}


def test_draining_server_moves_only_its_clients_over_10000_macs() -> None:
    before = picks(FLEET)
    draining = [
        dataclasses.replace(a, record=dataclasses.replace(a.record, state=ServerState.DRAIN))
        if a.record.server_id == "app4"
        else a
        for a in FLEET
    ]
    after = picks(draining)
    assert {m for m in MACS if before[m] != after[m]} == {m for m in MACS if before[m] == "app4"}


def test_joining_server_takes_its_share_within_2_points_and_only_moves_clients_to_itself() -> None:
    before = picks(FLEET)
    after = picks([*FLEET, server("new", capacity=8)])
    moved = [mac for mac in MACS if before[mac] != after[mac]]
    assert all(after[mac] == "new" for mac in moved)
    assert abs(len(moved) / len(MACS) - 1 / 6) < 0.02


def test_shares_follow_capacity_within_2_points_over_10000_macs() -> None:
    fleet = [server(f"w{c}", capacity=c) for c in (1, 2, 3, 4)]
    counts = Counter(pick(fleet, mac) for mac in MACS)
    assert all(abs(counts[f"w{c}"] / len(MACS) - c / 10) < 0.02 for c in (1, 2, 3, 4))


def test_server_keeps_its_clients_when_its_address_changes() -> None:
    moved = [
        dataclasses.replace(a, address="192.0.2.99") if a.record.server_id == "app1" else a for a in FLEET
    ]
    assert all(pick(FLEET, mac) == pick(moved, mac) for mac in MACS[:2000])


def test_load_does_not_move_clients() -> None:
    loaded = [
        dataclasses.replace(a, record=dataclasses.replace(a.record, load_per_cpu=9.0, sessions=500))
        for a in FLEET
    ]
    assert all(pick(FLEET, mac) == pick(loaded, mac) for mac in MACS[:2000])


def test_scores_are_finite_and_positive_for_extreme_capacities() -> None:
    assert all(0 < mac_hash.score(mac, "x", cap) < float("inf") for mac in MACS[:200] for cap in (1, 100_000))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    capacities=st.lists(st.integers(1, 64), min_size=2, max_size=10),
    removed=st.integers(0, 9),
    seed=st.integers(0, 2**32),
)
def test_removing_any_server_moves_only_its_clients(capacities: list[int], removed: int, seed: int) -> None:
    fleet = [server(f"h{i}", capacity=c) for i, c in enumerate(capacities)]
    gone = fleet[removed % len(fleet)].record.server_id
    rest = [a for a in fleet if a.record.server_id != gone]
    for mac in macs(200, seed=seed):
        before = pick(fleet, mac)
        if before != gone:
            assert pick(rest, mac) == before
