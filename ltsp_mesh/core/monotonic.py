"""A guard for the monotonic `now` that pure, stateful decisions take as an argument."""

from __future__ import annotations

import math


class Monotonic:
    """Remembers the latest `now` and refuses one that goes back: a caller passing a wall clock
    (which NTP can step back) is a bug that would expire claims or picks at the wrong time."""

    __slots__ = ("latest",)

    def __init__(self) -> None:
        self.latest = -math.inf

    def advance(self, now: float) -> None:
        """Accept `now`; ValueError when it is not a time or is before the latest one."""
        if not math.isfinite(now):
            raise ValueError(f"now={now} is not a time")
        if now < self.latest:
            raise ValueError(f"now={now} is before {self.latest}: pass a monotonic clock")
        self.latest = now
