"""Pure rules for turning raw system counters into Load figures.

Kept apart from the psutil calls (shell/server/sample.py) so that the rules are tested with plain
numbers: when a machine counts as swapping, and what counts as one user session.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

# Swap merely *used* says nothing (pages parked long ago); paging activity is what hurts
# interactive sessions. 256 KiB/s in or out, sustained over a sample period, is a machine
# that is paging right now.
SWAPPING_BYTES_PER_S: Final = 256 * 1024


@dataclass(frozen=True, slots=True)
class SwapCounters:
    """Cumulative bytes swapped in and out since boot, read at `at` (monotonic seconds)."""

    swapped_in: int
    swapped_out: int
    at: float


def is_swapping(previous: SwapCounters | None, current: SwapCounters) -> bool:
    """True when paging between the two readings ran above SWAPPING_BYTES_PER_S."""
    if previous is None or current.at <= previous.at:
        return False
    moved = max(0, current.swapped_in - previous.swapped_in) + max(
        0, current.swapped_out - previous.swapped_out
    )
    return moved / (current.at - previous.at) >= SWAPPING_BYTES_PER_S


def count_sessions(entries: Iterable[tuple[str, str, str]]) -> int:
    """Distinct user sessions among utmp entries of (user, terminal, remote host).

    One LDM login writes several utmp lines (the ssh session, terminals opened in it), all with
    the same user and client host; a local login has no host, so its terminal tells it apart.
    """
    return len({(user, host) if host else (user, "tty:" + terminal) for user, terminal, host in entries})
