"""core/server/publish.py: when the TXT record is updated (hysteresis) and how often (RFC 6762 rate limit)."""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ltsp_mesh.core.record import ServerRecord, ServerState
from ltsp_mesh.core.server import publish
from tests.records import record

from .strategies import PROPERTY, SLOW_PROPERTY, records

PUBLISHED = record(load_per_cpu=0.50, mem_percent=40, sessions=12, pending=2, host_key_fp="SHA256:abc")
# The registration happened at t=0; "now" values below are seconds after it.
REGISTERED: tuple[float, ...] = (0.0,)
TICK_S = 0.1
TEN_MINUTES_TICKS = 6000


def changed(**changes: Any) -> ServerRecord:
    return dataclasses.replace(PUBLISHED, **changes)


# --- hysteresis --------------------------------------------------------------------------------


def test_an_unchanged_record_is_never_due() -> None:
    assert not publish.update_due(PUBLISHED, PUBLISHED, REGISTERED, now=3600.0)


@pytest.mark.parametrize("load", [0.41, 0.45, 0.49, 0.51, 0.55, 0.59])
def test_a_load_wobble_below_the_step_is_not_due(load: float) -> None:
    assert not publish.update_due(PUBLISHED, changed(load_per_cpu=load), REGISTERED, now=30.0)


@pytest.mark.parametrize(
    ("before", "after"),
    [(0.5, 0.6), (0.6, 0.7), (0.7, 0.6), (0.2, 0.3), (0.0, 0.1), (999.9, 1000.0), (0.5, 0.4), (2.0, 0.0)],
)
def test_a_load_change_of_the_step_or_more_is_due(before: float, after: float) -> None:
    # 0.7 - 0.6 is 0.0999...98 in floating point: a step of exactly 0.10 must still count.
    published = changed(load_per_cpu=before)
    assert publish.update_due(published, changed(load_per_cpu=after), REGISTERED, now=30.0)


@given(st.integers(0, 100_000), st.integers(-9, 9))
@PROPERTY
def test_any_load_wobble_below_the_step_is_not_significant(hundredths: int, wobble: int) -> None:
    published = changed(load_per_cpu=hundredths / 100)
    candidate = changed(load_per_cpu=min(max(hundredths + wobble, 0), 100_000) / 100)
    assert not publish.significant(published, candidate)


@given(st.integers(0, 100_000), st.integers(0, 100_000))
@PROPERTY
def test_any_load_change_of_ten_hundredths_or_more_is_significant(before: int, after: int) -> None:
    published, candidate = changed(load_per_cpu=before / 100), changed(load_per_cpu=after / 100)
    assert publish.significant(published, candidate) == (abs(after - before) >= 10)


@pytest.mark.parametrize(
    ("mem", "due"), [(41, False), (44, False), (36, False), (45, True), (35, True), (100, True)]
)
def test_memory_is_due_from_a_change_of_five_points(mem: int, due: bool) -> None:
    assert publish.update_due(PUBLISHED, changed(mem_percent=mem), REGISTERED, now=30.0) == due


@pytest.mark.parametrize(
    "changes",
    [
        {"sessions": 13},
        {"sessions": 11},
        {"pending": 3},
        {"swapping": True},
        {"state": ServerState.DRAIN},
        {"capacity": 9},
        {"cpus": 16},
        {"query_port": 1377},
        {"host_key_fp": "SHA256:def"},
        {"server_id": "fedcba"},
    ],
)
def test_any_change_of_a_counted_or_identifying_field_is_due(changes: dict[str, Any]) -> None:
    assert publish.update_due(PUBLISHED, changed(**changes), REGISTERED, now=30.0)


def test_a_small_drift_is_published_once_it_has_stood_a_minute() -> None:
    drifted = changed(load_per_cpu=0.55, mem_percent=42)
    assert not publish.update_due(PUBLISHED, drifted, REGISTERED, now=59.9)
    assert publish.update_due(PUBLISHED, drifted, REGISTERED, now=60.0)


# --- rate limit --------------------------------------------------------------------------------


def test_a_first_update_with_no_history_is_due() -> None:
    assert publish.update_due(PUBLISHED, changed(load_per_cpu=0.51), (), now=0.0)


def test_no_update_within_six_seconds_of_the_last() -> None:
    # The budget of ten a minute is spread out, so that one burst cannot spend it all at once.
    busier = changed(sessions=20)
    assert not publish.update_due(PUBLISHED, busier, (100.0,), now=105.9)
    assert publish.update_due(PUBLISHED, busier, (100.0,), now=106.0)


def test_ten_updates_in_the_last_minute_block_an_eleventh() -> None:
    ten = tuple(float(t) for t in range(10))
    assert not publish.update_due(PUBLISHED, changed(sessions=20), ten, now=59.9)


def test_updates_older_than_a_minute_no_longer_count() -> None:
    ten = tuple(float(t) for t in range(10))
    assert publish.update_due(PUBLISHED, changed(sessions=20), ten, now=60.0)


def test_recent_keeps_the_sends_inside_the_window() -> None:
    assert publish.recent((0.0, 10.0, 50.0, 69.9), now=70.0) == (50.0, 69.9)
    assert publish.recent((10.0,), now=70.0) == ()


# --- the rate limit under any sequence of candidates -------------------------------------------


def run_announcer(next_candidate: Callable[[int], ServerRecord], first: ServerRecord) -> list[float]:
    """Offer a candidate every 0.1 s for ten minutes, as shell/server/announce.py does; return send times."""
    published, sent_at, sends = first, REGISTERED, [0.0]
    for tick in range(1, TEN_MINUTES_TICKS + 1):
        now = tick * TICK_S
        candidate = next_candidate(tick)
        if publish.update_due(published, candidate, sent_at, now):
            published, sent_at = candidate, publish.recent(sent_at, now) + (now,)
            sends.append(now)
    return sends


def most_in_any_window(sends: list[float], window_s: float) -> int:
    """The largest number of sends inside any half-open window [t, t + window_s)."""
    return max(sum(1 for s in sends if start <= s < start + window_s) for start in sends)


@given(
    st.lists(records(), min_size=1, max_size=8),
    st.sampled_from([1.0, 0.5, 0.05, 0.005]),
    st.integers(0, 2**32 - 1),
)
@settings(SLOW_PROPERTY, max_examples=150)
def test_never_more_than_ten_updates_in_any_minute(
    pool: list[ServerRecord], switch: float, seed: int
) -> None:
    # Candidates come from `pool`; at each tick a new one is picked with probability `switch`,
    # from a wobble every 0.1 s to states that last about 20 s.
    rng = random.Random(seed)
    choices = [pool[0]]
    for _ in range(TEN_MINUTES_TICKS):
        choices.append(rng.choice(pool) if rng.random() < switch else choices[-1])
    sends = run_announcer(lambda tick: choices[tick], first=pool[0])
    assert most_in_any_window(sends, publish.WINDOW_S) <= publish.MAX_UPDATES_PER_MINUTE


def test_never_more_than_ten_updates_in_any_minute_when_every_candidate_differs() -> None:
    # The worst case: a new session count every 0.1 s, each one significant.
    sends = run_announcer(lambda tick: changed(sessions=tick % 1000), first=PUBLISHED)
    assert most_in_any_window(sends, publish.WINDOW_S) <= publish.MAX_UPDATES_PER_MINUTE
    assert all(b - a >= 6.0 - 1e-9 for a, b in itertools.pairwise(sends))


@given(st.integers(1, TEN_MINUTES_TICKS - 100), st.integers(1, 50))
@SLOW_PROPERTY
def test_a_lasting_change_of_sessions_is_published_within_six_seconds(start: int, sessions: int) -> None:
    # The rate limit delays, it must not lose: a change that stays is announced soon after.
    def candidate(tick: int) -> ServerRecord:
        busy = tick >= start
        return changed(
            sessions=PUBLISHED.sessions + sessions if busy else PUBLISHED.sessions,
            load_per_cpu=0.5 + (tick % 3) / 100,
        )

    sends = run_announcer(candidate, first=PUBLISHED)
    after = [s for s in sends if s >= start * TICK_S]
    assert after and after[0] - start * TICK_S <= 6.0 + TICK_S


def test_an_unchanged_record_is_announced_again_when_its_signature_is_due() -> None:
    assert not publish.update_due(PUBLISHED, PUBLISHED, REGISTERED, 299.0, resign_after_s=300.0)
    assert publish.update_due(PUBLISHED, PUBLISHED, REGISTERED, 300.0, resign_after_s=300.0)


def test_an_unchanged_record_is_never_announced_again_without_signing() -> None:
    assert not publish.update_due(PUBLISHED, PUBLISHED, REGISTERED, 10_000.0)
