"""Each server's fill over the last hours, kept in memory for the status page's charts.

One column of samples every `step_s` (all servers at once, and the mesh's fair share beside
them), `window_s` of them kept: a ring per server of 4-byte floats, NaN where the server was
not heard. Bounded whatever the mesh does: at most `max_servers` series (the newest names are
refused and counted once the table is full; a series whose window holds nothing but gaps is
dropped), so 30 servers over 4 hours at one column every 15 s take about 120 KB.
Pure: time (wall-clock seconds, for the chart's axis) is passed in.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

STEP_S: Final = 15.0
WINDOW_S: Final = 4 * 3600.0
# A site of 1400 thin clients has 30 servers; the broker follows 512 instances at most
# (live_view.MAX_INSTANCES), and a page of more than 256 charts is no longer read by anyone.
MAX_SERVERS: Final = 256


@dataclass(frozen=True, slots=True)
class Series:
    """One server's fills, aligned with `History.times`; NaN where it was not heard."""

    name: str
    fills: tuple[float, ...]


@dataclass
class FillHistory:
    """A ring of sample columns: times, the fair share, and one fill series per server."""

    step_s: float = STEP_S
    window_s: float = WINDOW_S
    max_servers: int = MAX_SERVERS
    times: array[float] = field(default_factory=lambda: array("d"))
    fair: array[float] = field(default_factory=lambda: array("f"))
    _fills: dict[str, array[float]] = field(default_factory=dict)
    _heard: dict[str, float] = field(default_factory=dict)  # name -> the last column it had a fill in
    refused: int = 0
    # The charts' points, computed once per column rather than at every look at the page.
    _shown: tuple[int, int, dict[str, list[float]], list[float]] | None = field(default=None, repr=False)
    _version: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.step_s) and self.step_s > 0):
            raise ValueError(f"step_s={self.step_s} must be a positive number of seconds")
        if not (math.isfinite(self.window_s) and self.window_s >= self.step_s):
            raise ValueError(f"window_s={self.window_s} must be at least step_s")
        if self.max_servers < 1:
            raise ValueError(f"max_servers={self.max_servers} must be at least 1")

    @property
    def columns(self) -> int:
        """How many columns the window holds at most."""
        return int(self.window_s // self.step_s)

    def due(self, now: float) -> bool:
        """True when a column taken at `now` would be recorded."""
        return not self.times or now >= self.times[-1] + self.step_s or now < self.times[-1]

    def record(self, now: float, fills: Mapping[str, float], fair: float | None) -> bool:
        """Add the column `fills` (server name -> fill) taken at `now`; False when not yet due.

        A clock set back starts the history again rather than drawing time backwards."""
        if not math.isfinite(now):
            raise ValueError(f"now={now} is not a time")
        if self.times and now < self.times[-1]:
            self.times, self.fair, self._fills, self._heard = array("d"), array("f"), {}, {}
            self._version += 1
        if not self.due(now):
            return False
        width = len(self.times)
        for name in sorted(n for n, v in fills.items() if math.isfinite(v)):
            if name not in self._fills:
                if len(self._fills) >= self.max_servers:
                    self.refused += 1
                    continue
                self._fills[name] = array("f", [math.nan] * width)
        self.times.append(now)
        self.fair.append(math.nan if fair is None or not math.isfinite(fair) else fair)
        for name, series in self._fills.items():
            value = fills.get(name, math.nan)
            if math.isfinite(value):
                series.append(value)
                self._heard[name] = now
            else:
                series.append(math.nan)
        excess = len(self.times) - self.columns
        if excess > 0:
            del self.times[:excess], self.fair[:excess]
            for series in self._fills.values():
                del series[:excess]
        for name in [n for n, heard in self._heard.items() if heard < self.times[0]]:
            del self._fills[name], self._heard[name]  # nothing but gaps left in its window
        self._version += 1
        return True

    def series(self) -> list[Series]:
        """Every server's series, by name."""
        return [Series(name, tuple(self._fills[name])) for name in sorted(self._fills)]

    def shown(self, points: int) -> tuple[dict[str, list[float]], list[float]]:
        """Every series and the fair share cut to at most `points` values, each the highest of
        its stretch of time (NaN where it has none): what a chart draws."""
        if self._shown is None or self._shown[:2] != (self._version, points):
            series = {name: downsample(values, points) for name, values in self._fills.items()}
            self._shown = (self._version, points, series, downsample(self.fair, points))
        return self._shown[2], self._shown[3]

    def of(self, name: str) -> tuple[float, ...]:
        """The fills of `name` (empty when it has none)."""
        found = self._fills.get(name)
        return tuple(found) if found is not None else ()

    def __len__(self) -> int:
        return len(self._fills)


def downsample(values: Sequence[float], points: int) -> list[float]:
    """At most `points` values: each the highest of its stretch (NaN when it has none), so a
    storm's peak is never averaged away."""
    if len(values) <= points:
        return list(values)
    result = []
    for index in range(points):
        start, end = index * len(values) // points, (index + 1) * len(values) // points
        heard = [v for v in values[start:end] if v == v]  # NaN is the one value unequal to itself
        result.append(max(heard) if heard else math.nan)
    return result
