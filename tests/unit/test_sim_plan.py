"""core/sim/plan.py: how many servers a site needs, from the same model."""

from __future__ import annotations

import pytest

from ltsp_mesh.core.sim.plan import lower_bound, plan, site_capacities


def test_site_capacities_take_the_given_ones_in_turn() -> None:
    assert site_capacities([16, 32], 5) == [16, 32, 16, 32, 16]


def test_lower_bound_is_the_fewest_servers_that_hold_the_clients_at_the_fill() -> None:
    assert lower_bound(100, [10], 2.0) == 5
    assert lower_bound(101, [10], 2.0) == 6
    assert lower_bound(100, [16, 32], 2.0) == 3  # 16 + 32 + 16 = 64 capacity, 128 sessions
    assert lower_bound(1, [8], 2.0) == 1


def test_answer_keeps_every_server_under_the_fill_and_one_fewer_did_not() -> None:
    result = plan(300, [8, 16], 2.5)
    assert result.answer is not None and result.answer >= result.lower_bound
    last = result.steps[-1]
    assert last.servers == result.answer and last.ok and last.peak_fill <= 2.5
    assert all(not s.ok for s in result.steps[:-1])


def test_answer_does_not_fall_as_clients_grow() -> None:
    answers = [plan(n, [8, 16], 2.0).answer for n in (50, 100, 200, 400, 800)]
    assert all(a is not None for a in answers)
    assert answers == sorted(answers)  # type: ignore[type-var]  # checked not None above
    assert answers[0] < answers[-1]


def test_a_herding_anchor_needs_more_servers_than_least_loaded() -> None:
    mesh = plan(200, [8], 2.5).answer
    greedy = plan(200, [8], 2.5, contender="greedy-stale", extra_servers=3)
    assert mesh is not None and (greedy.answer is None or greedy.answer > mesh)


def test_no_answer_within_the_search_limit_is_none() -> None:
    result = plan(200, [8], 2.5, contender="x2go-broker", extra_servers=1)
    assert result.answer is None and len(result.steps) == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"clients": 0},
        {"max_fill": 0.0},
        {"capacities": []},
        {"capacities": [0]},
        {"contender": "nope"},
        {"seeds": ()},
    ],
)
def test_impossible_questions_are_value_errors(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"clients": 10, "capacities": [8], "max_fill": 2.0, **kwargs}
    with pytest.raises(ValueError):
        plan(**args)  # type: ignore[arg-type]  # the point is a bad value
