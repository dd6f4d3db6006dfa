"""core/sim/metrics.py: the benchmark's figures on small hand-made runs."""

from __future__ import annotations

import math

import pytest

from ltsp_mesh.core.sim.metrics import measure, moves, series
from ltsp_mesh.core.sim.model import Login, Run
from ltsp_mesh.core.sim.scenarios import Scenario, ServerSpec


def scenario(
    *caps: int, dies: dict[int, float] | None = None, joins: dict[int, float] | None = None
) -> Scenario:
    dies, joins = dies or {}, joins or {}
    servers = tuple(
        ServerSpec(f"s{i}", cpus=c, mem_mib=1024 * c, joins_at_s=joins.get(i, 0.0), dies_at_s=dies.get(i))
        for i, c in enumerate(caps)
    )
    return Scenario(name="hand", title="hand-made", servers=servers, clients=10, end_s=100.0)


def run(
    sc: Scenario,
    sessions: list[list[int]],
    alive: list[list[bool]] | None = None,
    logins: tuple[Login, ...] = (),
    dead_logins: int = 0,
) -> Run:
    alive = alive or [[True] * len(s) for s in sessions]
    return Run(
        sc, "hand", 0, 5.0, tuple(map(tuple, sessions)), tuple(map(tuple, alive)), logins, dead_logins, 0, 0
    )


def test_perfectly_even_spread_is_1() -> None:
    m = measure(run(scenario(4, 8), [[0, 2, 4], [0, 4, 8]]))
    assert (m.peak_over_fair, m.end_over_fair) == (1.0, 1.0)


def test_peak_over_fair_is_the_highest_fill_over_the_highest_fair_share() -> None:
    # Tick 1: s0 holds 6 on capacity 2 (fill 3) while the fair share is 6/4 = 1.5; tick 2 is even
    # at fill 2. The highest fill, 3, over the highest fair share, 2: 1.5.
    m = measure(run(scenario(2, 2), [[0, 6, 4], [0, 0, 4]]))
    assert m.peak_fill == 3.0 and m.peak_fair == 2.0 and m.peak_over_fair == 1.5
    assert m.end_over_fair == 1.0


def test_end_over_fair_is_taken_at_the_last_tick() -> None:
    m = measure(run(scenario(1, 1, 2), [[2, 3], [2, 1], [4, 4]]))
    assert m.end_over_fair == pytest.approx(3 / (8 / 4))


def test_a_down_server_counts_neither_in_the_fair_share_nor_as_the_fullest() -> None:
    sessions = [[3, 0], [3, 3], [3, 3]]
    alive = [[True, False], [True, True], [True, True]]
    m = measure(run(scenario(3, 3, 3, dies={0: 5.0}), sessions, alive))
    assert m.end_over_fair == 1.0 and m.peak_fair == 1.0


def test_dead_logins_and_final_sessions_are_reported_as_counted() -> None:
    m = measure(run(scenario(2, 2), [[1, 2], [0, 1]], dead_logins=7))
    assert m.dead_logins == 7 and m.final_sessions == (2, 1)


def test_no_sessions_at_all_gives_zero_not_a_division_error() -> None:
    m = measure(run(scenario(2, 2), [[0, 0], [0, 0]]))
    assert (m.peak_over_fair, m.end_over_fair) == (0.0, 0.0)


def test_moves_compare_each_clients_last_server_before_with_its_first_after() -> None:
    sc = scenario(4, 4, 4, dies={0: 50.0})
    logins = (
        Login(1, 0, 10.0),
        Login(2, 1, 10.0),
        Login(3, 2, 10.0),
        Login(4, 1, 10.0),
        Login(5, 2, 10.0),
        Login(4, 2, 30.0),  # client 4 changed server before the crash: its last one counts
        Login(1, 1, 60.0),  # from the dead server: a move, not a needless one
        Login(2, 2, 61.0),  # between live servers: a needless move
        Login(3, 2, 62.0),
        Login(4, 2, 63.0),
        Login(3, 1, 70.0),  # stayed (later logins ignored)
        Login(6, 1, 64.0),
    )  # only after: not compared
    assert moves(run(sc, [[0, 0]] * 3, logins=logins)) == (4, 2, 1, 1)
    m = measure(run(sc, [[0, 0]] * 3, logins=logins))
    assert (m.moved_share, m.compared, m.moved, m.needless_moves, m.from_changed) == (0.5, 4, 2, 1, 1)


def test_a_move_to_a_server_that_joined_is_not_needless() -> None:
    sc = scenario(4, 4, joins={1: 50.0})
    logins = (Login(1, 0, 10.0), Login(1, 1, 60.0))
    assert moves(run(sc, [[0, 0]] * 2, logins=logins)) == (1, 1, 0, 0)


def test_moved_share_is_none_when_no_server_changes() -> None:
    logins = (Login(1, 0, 10.0), Login(1, 1, 60.0))
    assert measure(run(scenario(4, 4), [[0, 0]] * 2, logins=logins)).moved_share is None


def test_series_gives_fills_with_gaps_while_down_and_the_fair_share() -> None:
    data = series(run(scenario(2, 4, joins={1: 5.0}), [[2, 4], [0, 4]], [[True, True], [False, True]]))
    assert data.hours == (0.0, 5.0 / 3600)
    assert data.fills == ((1.0, 2.0), (None, 1.0))
    assert data.fair[0] == 1.0 and math.isclose(data.fair[1], 8 / 6)
