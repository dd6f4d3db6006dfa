"""core/view/history.py: each server's fill over the last hours, bounded."""

from __future__ import annotations

import math

import pytest

from ltsp_mesh.core.view.history import FillHistory


def test_a_column_is_recorded_once_per_step() -> None:
    history = FillHistory(step_s=10, window_s=100)
    assert history.record(0.0, {"a": 0.5}, 0.5)
    assert not history.record(5.0, {"a": 0.9}, 0.9)
    assert history.record(10.0, {"a": 0.7}, 0.7)
    assert list(history.times) == [0.0, 10.0]
    assert history.of("a") == pytest.approx((0.5, 0.7))


def test_the_window_keeps_only_the_last_columns() -> None:
    history = FillHistory(step_s=10, window_s=30)
    for i in range(10):
        history.record(10.0 * i, {"a": float(i)}, None)
    assert list(history.times) == [70.0, 80.0, 90.0]
    assert history.of("a") == (7.0, 8.0, 9.0)
    assert len(history.fair) == 3


def test_a_server_not_heard_in_a_column_has_a_gap() -> None:
    history = FillHistory(step_s=1, window_s=10)
    history.record(0.0, {"a": 0.1, "b": 0.2}, None)
    history.record(1.0, {"a": 0.1}, None)
    history.record(2.0, {"a": 0.1, "b": 0.4}, None)
    b = history.of("b")
    assert b[0] == pytest.approx(0.2) and math.isnan(b[1]) and b[2] == pytest.approx(0.4)


def test_a_server_that_joins_later_is_aligned_with_the_others() -> None:
    history = FillHistory(step_s=1, window_s=10)
    history.record(0.0, {"a": 0.1}, None)
    history.record(1.0, {"a": 0.1, "late": 0.3}, None)
    late = history.of("late")
    assert len(late) == len(history.times) == 2 and math.isnan(late[0])


def test_a_server_silent_for_the_whole_window_is_forgotten() -> None:
    history = FillHistory(step_s=1, window_s=3)
    history.record(0.0, {"a": 0.1, "gone": 0.5}, None)
    for t in (1.0, 2.0, 3.0):
        history.record(t, {"a": 0.1}, None)
    assert [s.name for s in history.series()] == ["a"]


def test_servers_beyond_the_bound_are_refused_and_counted() -> None:
    history = FillHistory(step_s=1, window_s=10, max_servers=2)
    history.record(0.0, {"a": 0.1, "b": 0.1, "c": 0.1}, None)
    assert len(history) == 2 and history.refused == 1


def test_a_clock_set_back_starts_the_history_again() -> None:
    history = FillHistory(step_s=1, window_s=10)
    history.record(100.0, {"a": 0.1}, None)
    history.record(50.0, {"a": 0.2}, None)
    assert list(history.times) == [50.0] and history.of("a") == pytest.approx((0.2,))


def test_a_fill_that_is_no_number_is_a_gap() -> None:
    history = FillHistory(step_s=1, window_s=10)
    history.record(0.0, {"a": 0.1}, math.inf)
    history.record(1.0, {"a": math.nan}, None)
    assert math.isnan(history.of("a")[1]) and math.isnan(history.fair[0])


@pytest.mark.parametrize(
    "options", [{"step_s": 0}, {"step_s": math.nan}, {"window_s": 1, "step_s": 2}, {"max_servers": 0}]
)
def test_nonsense_bounds_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        FillHistory(**options)  # type: ignore[arg-type]


def test_the_charts_points_are_computed_once_per_column() -> None:
    history = FillHistory(step_s=1, window_s=1000)
    for t in range(500):
        history.record(float(t), {"a": t / 500}, 0.5)
    first = history.shown(50)
    assert history.shown(50)[0] is first[0]  # the same points, not computed again
    history.record(500.0, {"a": 1.0}, 0.5)
    assert history.shown(50)[0]["a"][-1] == 1.0
