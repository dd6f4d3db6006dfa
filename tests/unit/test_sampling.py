"""core/server/sampling.py: when a machine is swapping, and what counts as one user session."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.server.sampling import SWAPPING_BYTES_PER_S, SwapCounters, count_sessions, is_swapping

from .strategies import PROPERTY

START = SwapCounters(swapped_in=10_000_000, swapped_out=20_000_000, at=1000.0)


def later(seconds: float, swapped_in: int = 0, swapped_out: int = 0) -> SwapCounters:
    """The counters `seconds` after START, with that many more bytes moved each way."""
    return SwapCounters(START.swapped_in + swapped_in, START.swapped_out + swapped_out, START.at + seconds)


# --- swapping ----------------------------------------------------------------------------------


def test_the_first_sample_is_not_swapping() -> None:
    assert not is_swapping(None, START)


@pytest.mark.parametrize(
    ("current", "swapping"),
    [
        (later(10.0), False),
        (later(10.0, swapped_in=10 * SWAPPING_BYTES_PER_S), True),  # exactly the threshold
        (later(10.0, swapped_in=10 * SWAPPING_BYTES_PER_S - 1), False),
        (later(10.0, swapped_out=10 * SWAPPING_BYTES_PER_S), True),
        (later(10.0, swapped_in=5 * SWAPPING_BYTES_PER_S, swapped_out=5 * SWAPPING_BYTES_PER_S), True),
        (later(1.0, swapped_in=SWAPPING_BYTES_PER_S // 2), False),
        (later(0.5, swapped_in=SWAPPING_BYTES_PER_S // 2), True),  # the rate counts, not the bytes
    ],
)
def test_swapping_means_paging_at_or_above_the_threshold_rate(current: SwapCounters, swapping: bool) -> None:
    assert is_swapping(START, current) == swapping


def test_swap_merely_used_is_not_swapping() -> None:
    # Counters high since boot but not moving: pages parked long ago.
    assert not is_swapping(START, later(10.0))


@pytest.mark.parametrize(
    "current",
    [
        SwapCounters(swapped_in=0, swapped_out=0, at=1010.0),  # counters reset (reboot, module reload)
        SwapCounters(swapped_in=5, swapped_out=2**64 - 1, at=1010.0),  # one counter wrapped, the other jumped
        SwapCounters(
            swapped_in=START.swapped_in, swapped_out=START.swapped_out, at=START.at
        ),  # no time passed
        later(-5.0, swapped_in=10**9),  # the clock went backwards
    ],
)
def test_odd_counters_never_crash(current: SwapCounters) -> None:
    assert isinstance(is_swapping(START, current), bool)


def test_a_counter_reset_is_not_swapping() -> None:
    assert not is_swapping(START, SwapCounters(swapped_in=0, swapped_out=0, at=1010.0))


def test_no_time_passing_is_not_swapping() -> None:
    assert not is_swapping(START, SwapCounters(10**12, 10**12, at=START.at))


counters = st.builds(
    SwapCounters,
    swapped_in=st.integers(0, 2**64),
    swapped_out=st.integers(0, 2**64),
    at=st.floats(allow_nan=False),
)


@given(st.one_of(st.none(), counters), counters)
@PROPERTY
def test_is_swapping_answers_for_any_pair_of_readings(
    previous: SwapCounters | None, current: SwapCounters
) -> None:
    assert isinstance(is_swapping(previous, current), bool)


@given(counters, st.integers(0, 2**64), st.integers(0, 2**64), st.floats(0.001, 3600.0))
@PROPERTY
def test_counters_that_went_down_are_never_swapping(
    previous: SwapCounters, drop_in: int, drop_out: int, seconds: float
) -> None:
    current = SwapCounters(
        max(0, previous.swapped_in - drop_in), max(0, previous.swapped_out - drop_out), previous.at + seconds
    )
    assert not is_swapping(previous, current)


# --- sessions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "sessions"),
    [
        ([], 0),
        ([("alice", "pts/0", "10.0.0.21")], 1),
        # One LDM login writes several utmp lines: the ssh session and terminals opened in it.
        (
            [
                ("alice", "pts/0", "10.0.0.21"),
                ("alice", "pts/1", "10.0.0.21"),
                ("alice", "pts/2", "10.0.0.21"),
            ],
            1,
        ),
        ([("alice", "pts/0", "10.0.0.21"), ("alice", "pts/1", "10.0.0.22")], 2),  # two thin clients
        ([("alice", "pts/0", "10.0.0.21"), ("bob", "pts/1", "10.0.0.21")], 2),  # two users, one client
        ([("alice", "tty1", ""), ("alice", "tty2", "")], 2),  # local logins: the terminal tells them apart
        ([("alice", "tty1", ""), ("alice", "tty1", "")], 1),
        ([("alice", "tty1", ""), ("alice", "pts/0", "10.0.0.21")], 2),
        ([("alice", "tty1", ""), ("alice", "", "tty1")], 2),  # a host named like a terminal is still a host
    ],
)
def test_count_sessions_counts_each_user_once_per_client(
    entries: list[tuple[str, str, str]], sessions: int
) -> None:
    assert count_sessions(entries) == sessions


def test_count_sessions_reads_any_iterable() -> None:
    assert count_sessions(iter([("alice", "pts/0", "10.0.0.21")])) == 1


entries = st.lists(
    st.tuples(
        st.sampled_from(["alice", "bob"]),
        st.sampled_from(["tty1", "pts/0", "pts/1"]),
        st.sampled_from(["", "10.0.0.21", "10.0.0.22"]),
    ),
    max_size=20,
)


@given(entries)
@PROPERTY
def test_repeating_utmp_lines_never_adds_sessions(lines: list[tuple[str, str, str]]) -> None:
    assert count_sessions(lines + lines) == count_sessions(lines)
    assert 0 <= count_sessions(lines) <= len(lines)
