"""core/sim/broker.py and broker mode in the model: brokers rank for their clients, the oracle bounds them."""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter

import pytest

from ltsp_mesh.core.broker.view import REFRESH_AHEAD_S
from ltsp_mesh.core.sim import model
from ltsp_mesh.core.sim.broker import BROKER_MODES, ORACLE, Oracle, SimBroker
from ltsp_mesh.core.sim.compare import benchmark, broker_targets, kind_of, over_oracle, targets
from ltsp_mesh.core.sim.metrics import measure
from ltsp_mesh.core.sim.model import CONTENDERS, simulate
from ltsp_mesh.core.sim.scenarios import MARGOT, RUDOLFO, ServerSpec
from ltsp_mesh.core.sim.servers import SimServer
from tests.unit.test_sim_model import SMALL  # the client-side tests' small storm, the same site

# Five servers of one size, and a client count that does not divide evenly.
EQUAL = dataclasses.replace(
    SMALL, servers=tuple(ServerSpec(f"e{i}", cpus=8, mem_mib=24576) for i in range(5)), clients=103
)


def booted(*capacities: int) -> list[SimServer]:
    """Live simulated servers of these capacities, empty."""
    servers = [
        SimServer(ServerSpec(f"s{i}", cpus=c, mem_mib=3072 * c), i, claim_ttl_s=900.0, session_mib=400)
        for i, c in enumerate(capacities)
    ]
    for s in servers:
        s.boot()
    return servers


def address(i: int) -> str:
    return f"10.1.0.{i + 1}"


# --- the contenders ---------------------------------------------------------------------------
def test_broker_modes_and_the_oracle_are_contenders_of_their_own_kinds() -> None:
    assert {"broker", "brokers-3", ORACLE} <= set(CONTENDERS)
    assert BROKER_MODES == {"broker": 1, "brokers-3": 3}
    assert kind_of("broker") == kind_of("brokers-3") == "ltsp-mesh broker" and kind_of(ORACLE) == "bound"


@pytest.mark.parametrize("contender", ["broker", "brokers-3", ORACLE])
def test_same_seed_gives_the_same_run(contender: str) -> None:
    assert simulate(SMALL, contender, 7) == simulate(SMALL, contender, 7)


def test_brokers_3_run_is_deterministic_for_a_seed_and_differs_between_seeds() -> None:
    assert simulate(MARGOT, "brokers-3", 3) == simulate(MARGOT, "brokers-3", 3)
    assert simulate(SMALL, "brokers-3", 1).logins != simulate(SMALL, "brokers-3", 2).logins


def test_broker_modes_face_the_same_morning_as_the_client_side_mode() -> None:
    runs = [simulate(SMALL, c, 5) for c in ("least-loaded", "broker", "brokers-3", ORACLE)]
    times = [sorted((login.client, login.at_s) for login in run.logins) for run in runs]
    assert times[0] == times[1] == times[2] == times[3]


def test_a_broker_claims_once_per_decision_and_every_reply_comes_back() -> None:
    sim = model._Simulation(SMALL, "broker", 1)
    run = sim.run()
    assert run.claims == run.hooks == SMALL.clients
    assert sim.transit == {}


def test_the_oracle_sends_no_claims() -> None:
    assert simulate(SMALL, ORACLE, 1).claims == 0


def test_brokers_3_splits_the_clients_round_robin_over_three_views() -> None:
    sim = model._Simulation(SMALL, "brokers-3", 1)
    sim.run()
    assert len(sim.brokers) == 3 and all(b.refreshes > 0 for b in sim.brokers)
    assert [sim._broker(sim.clients[i]) for i in range(6)] == sim.brokers * 2


# --- one broker -------------------------------------------------------------------------------
def test_a_broker_refreshes_on_the_first_request_and_then_only_when_due() -> None:
    broker = SimBroker(booted(8, 8), random.Random(1))
    for i, now in enumerate((0.0, 0.5, REFRESH_AHEAD_S - 0.01, REFRESH_AHEAD_S, REFRESH_AHEAD_S + 0.1)):
        broker.decide(address(i), "02:00:00:00:00:01", now)
    assert broker.refreshes == 2


def test_a_broker_counts_its_pick_at_once_before_the_server_hears_of_it() -> None:
    servers = booted(8, 8, 8)
    broker = SimBroker(servers, random.Random(2))
    pick = broker.decide(address(0), "02:00:00:00:00:01", 0.0)
    assert pick is not None
    pending = {a.address: a.record.pending for _, a in broker.view.servers(0.0)}
    assert pending[servers[pick].address] == 1 and sum(pending.values()) == 1
    assert servers[pick].ledger.count(0.0) == 0


def test_a_brokers_picks_between_refreshes_spread_instead_of_herding() -> None:
    # 30 requests within one refresh, no claim arrived anywhere: only the broker's own count
    # tells them apart. Best of two on equal servers never lets one run two ahead of another.
    broker = SimBroker(booted(8, 8, 8), random.Random(1))
    picks = Counter(broker.decide(address(i), "02:00:00:00:00:01", i * 0.01) for i in range(30))
    assert broker.refreshes == 1 and sum(picks.values()) == 30
    assert len(picks) == 3 and max(picks.values()) - min(picks.values()) <= 2


def test_a_broker_never_hands_out_a_server_that_died_before_its_last_refresh() -> None:
    servers = booted(8, 8, 8)
    broker = SimBroker(servers, random.Random(3))
    broker.decide(address(0), "02:00:00:00:00:01", 0.0)
    servers[0].die()
    later = [broker.decide(address(i), "02:00:00:00:00:01", 1.0 + i * 0.05) for i in range(1, 60)]
    assert broker.refreshes > 1 and 0 not in later


def test_a_broker_may_hand_out_a_server_that_died_since_its_refresh_as_the_real_one_would() -> None:
    servers = booted(8, 8)
    broker = SimBroker(servers, random.Random(4))
    broker.decide(address(0), "02:00:00:00:00:01", 0.0)
    servers[0].die()
    between = {broker.decide(address(i), "02:00:00:00:00:01", 0.01 * i) for i in range(1, 20)}
    assert 0 in between and broker.refreshes == 1


def test_brokers_see_each_others_picks_only_through_claims_that_reached_servers() -> None:
    servers = booted(8, 8, 8)
    first, second = SimBroker(servers, random.Random(5)), SimBroker(servers, random.Random(6))
    own = second.decide(address(100), "02:00:00:00:00:01", 0.0)  # its refresh, before the first's picks
    picks = [first.decide(address(i), "02:00:00:00:00:01", 0.0) for i in range(9)]
    assert sum(a.record.pending for _, a in second.view.servers(0.5)) == 1  # its own pick only
    for i, pick in [(100, own), *enumerate(picks)]:
        assert pick is not None
        servers[pick].ledger.claim(address(i), 0.2)  # every claim arrives
    second.decide(address(101), "02:00:00:00:00:01", 1.0)  # due: refreshes
    assert second.refreshes == 2
    assert sum(a.record.pending for _, a in second.view.servers(1.0)) == 9 + 2


def test_a_claims_reply_replaces_the_servers_figures_and_ends_the_pick() -> None:
    servers = booted(8, 8)
    broker = SimBroker(servers, random.Random(7))
    pick = broker.decide(address(0), "02:00:00:00:00:01", 0.0)
    assert pick is not None
    servers[pick].ledger.claim(address(0), 0.1)
    broker.replied(address(0), servers[pick], servers[pick].answered(0.1), 0.2)
    assert broker.view.in_flight(0.2) == {}
    assert sum(a.record.pending for _, a in broker.view.servers(0.2)) == 1


def test_a_login_to_a_server_that_died_after_the_brokers_pick_is_counted_and_retried_elsewhere() -> None:
    # Every client is given a server within the first 10 s; `a` dies at 50 s, before anyone types.
    servers = (dataclasses.replace(SMALL.servers[0], dies_at_s=50.0),) + SMALL.servers[1:]
    scenario = dataclasses.replace(SMALL, servers=servers, boot_window_s=(0.0, 10.0), typing_s=(100.0, 100.0))
    run = simulate(scenario, "broker", 1)
    assert run.dead_logins > 0
    assert sorted(login.client for login in run.logins) == list(range(SMALL.clients))
    assert all(login.server != 0 for login in run.logins)


# --- the oracle -------------------------------------------------------------------------------
def test_the_oracle_gives_the_lowest_fill_after_one_more_login() -> None:
    servers = booted(4, 8)
    servers[1].sessions = set(range(8))  # fill 1.0 now, 9/8 after one more
    servers[0].sessions = set(range(100, 104))  # fill 1.0 now, 5/4 after one more
    assert Oracle(servers, random.Random(1)).decide(0) == 1


def test_the_oracle_counts_picks_until_the_login_and_never_twice_per_client() -> None:
    servers = booted(8, 8)
    oracle = Oracle(servers, random.Random(2))
    first = oracle.decide(0)
    assert first is not None and oracle.decide(1) == 1 - first
    assert oracle.decide(0) == first and oracle.pending(first) == 1  # asked again: same count
    oracle.settled(0)
    assert oracle.pending(first) == 0


def test_the_oracle_never_gives_a_dead_server() -> None:
    servers = booted(48, 4)
    servers[0].die()
    oracle = Oracle(servers, random.Random(3))
    assert {oracle.decide(i) for i in range(20)} == {1}
    servers[1].die()
    assert oracle.decide(99) is None


def test_the_oracle_never_exceeds_fair_plus_one_session_on_equal_servers() -> None:
    run = simulate(EQUAL, ORACLE, 1)
    assert len(run.logins) == EQUAL.clients
    assert max(max(s) for s in run.sessions) <= math.ceil(EQUAL.clients / len(EQUAL.servers))


def test_no_contender_ends_a_storm_more_evenly_than_the_oracle() -> None:
    peaks = {c: measure(simulate(SMALL, c, 2)).peak_over_fair for c in CONTENDERS}
    assert all(peaks[ORACLE] <= p for p in peaks.values())


# --- the benchmark ----------------------------------------------------------------------------
def test_broker_targets_follow_the_defaults_among_the_binding_ones() -> None:
    report = benchmark(RUDOLFO, (1,), ("least-loaded", "broker", "brokers-3", ORACLE, "ltsp-cluster"))
    assert [t.name for t in targets([report])] == [
        "least-loaded peak / fair share",
        "least-loaded better than every anchor",
        *[t.name for t in broker_targets([report])],
    ]
    assert [t.name for t in broker_targets([report])] == [
        "broker within 1% of the oracle",
        "broker better than least-loaded and every anchor",
        "brokers-3 within 3% of the oracle",
    ]
    assert over_oracle(report, ORACLE) == 0.0


def test_broker_targets_need_the_rudolfo_storm_and_the_oracle() -> None:
    assert broker_targets([benchmark(MARGOT, (1,), ("broker", ORACLE))]) == []
    report = benchmark(RUDOLFO, (1,), ("broker", "brokers-3"))
    assert broker_targets([report]) == []
    assert over_oracle(report, "broker") is None
