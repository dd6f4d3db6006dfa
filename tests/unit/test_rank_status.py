"""core/status.py: each status holds exactly when its definition does."""

from __future__ import annotations

import pytest

from ltsp_mesh.core.config.client_settings import ClientSettings
from ltsp_mesh.core.record import ServerState
from ltsp_mesh.core.status import BEST_FIRST, BUSY_MEM_PERCENT, Status, busy_reasons, status_of

from .fleet import server

SETTINGS = ClientSettings(max_load_per_cpu=2.0, max_response_ms=250.0)


def test_server_that_did_not_answer_is_down() -> None:
    assert status_of(None, SETTINGS) is Status.DOWN


def test_draining_server_is_draining_even_when_swapping_and_overloaded() -> None:
    answer = server("d", state=ServerState.DRAIN, swapping=True, load=9.0)
    assert status_of(answer, SETTINGS) is Status.DRAINING


def test_swapping_server_is_swapped_even_when_overloaded() -> None:
    assert status_of(server("s", swapping=True, load=9.0), SETTINGS) is Status.SWAPPED


def test_swapping_server_is_swapped_whatever_ignore_swapping_says() -> None:
    assert status_of(server("s", swapping=True), ClientSettings(ignore_swapping=False)) is Status.SWAPPED


@pytest.mark.parametrize(
    "answer",
    [server("hot", load=2.01), server("slow", response_ms=250.5), server("mem", mem=BUSY_MEM_PERCENT)],
    ids=["load-over-max", "slower-than-max", "memory-90-percent"],
)
def test_server_over_a_limit_is_busy(answer: object) -> None:
    assert status_of(answer, SETTINGS) is Status.BUSY  # type: ignore[arg-type]


def test_server_exactly_at_the_limits_is_idle() -> None:
    answer = server("edge", load=2.0, response_ms=250.0, mem=BUSY_MEM_PERCENT - 1)
    assert status_of(answer, SETTINGS) is Status.IDLE


def test_fill_does_not_change_the_status() -> None:
    assert status_of(server("full", sessions=500, pending=50, capacity=1), SETTINGS) is Status.IDLE


def test_busy_limits_come_from_the_settings() -> None:
    assert status_of(server("warm", load=1.0), ClientSettings(max_load_per_cpu=0.5)) is Status.BUSY


def test_busy_reasons_say_which_limits_are_passed() -> None:
    reasons = busy_reasons(server("x", load=3.5, response_ms=400.0, mem=95), SETTINGS)
    assert reasons == ("load 3.50/CPU is over 2", "answered in 400 ms, over 250 ms", "memory 95% in use")


def test_best_first_order_lists_every_status_once() -> None:
    assert BEST_FIRST == (Status.IDLE, Status.BUSY, Status.SWAPPED, Status.DRAINING, Status.DOWN)
    assert set(BEST_FIRST) == set(Status)
