"""The range of every numeric command-line option: one argparse `type=` for all, one source per bound.

An option means the same range in every command that has it (`--timeout-ms` in hosts, status,
feed and known-hosts); where the core has a limit (a timeout, a lease, a capacity), the bound is
the core's. A value outside its range is a usage error, which argparse prints in one line naming
the option, the value and the range:

    ltsp-mesh hosts: error: argument --timeout-ms: 5 is out of range (10 to 60000 ms)

Checks that need two options at once (`--browse-ms` at most `--timeout-ms`) stay in the command.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from ltsp_mesh.core.config.client_settings import MAX_TIMEOUT_MS

Number = TypeVar("Number", int, float)
_SHOWN_CHARS: Final = 40  # of a rejected value, in the one-line message


@dataclass(frozen=True, slots=True)
class Bound:
    """The values an option accepts: `low` to `high` (no upper bound when None), in `unit`."""

    low: float
    high: float | None
    unit: str = ""
    low_open: bool = False  # `low` itself is refused: a duration or a fill must be above 0

    def __post_init__(self) -> None:
        if self.high is not None and self.high < self.low:
            raise ValueError(f"a bound from {self.low} to {self.high} is empty")

    def holds(self, value: float) -> bool:
        """Whether `value` is in range (NaN and infinities never are)."""
        # An int is always finite, and may be too large to become a float for the check.
        if isinstance(value, float) and not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        return above and (self.high is None or value <= self.high)

    def describe(self) -> str:
        """The range in words, as --help, README and the errors give it: `0.5 to 3600 seconds`."""
        unit = f" {self.unit}" if self.unit else ""
        if self.high is None:
            return (
                f"above {_number(self.low)}{unit}" if self.low_open else f"{_number(self.low)} or more{unit}"
            )
        if self.low_open:
            return f"above {_number(self.low)} and at most {_number(self.high)}{unit}"
        return f"{_number(self.low)} to {_number(self.high)}{unit}"


def _number(value: float) -> str:
    # 60000, not 6e+04; 0.5 as 0.5.
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True, slots=True)
class Bounded(Generic[Number]):
    """An argparse `type=`: `kind(text)`, refused unless `bound` holds it (made by `bounded`)."""

    kind: Callable[[str], Number]
    bound: Bound

    def __call__(self, text: str) -> Number:
        value = self.kind(text)  # a word that is no number keeps argparse's "invalid int value"
        if not self.bound.holds(value):
            shown = text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."
            raise argparse.ArgumentTypeError(f"{shown} is out of range ({self.bound.describe()})")
        return value

    @property
    def __name__(self) -> str:
        # argparse names the type in its message for a word that is no number: "invalid int value".
        return getattr(self.kind, "__name__", "number")


def bounded(kind: Callable[[str], Number], bound: Bound) -> Bounded[Number]:
    """The argparse `type=` for a number in `bound`: `type=bounded(int, TIMEOUT_MS)`."""
    return Bounded(kind, bound)


# The shared bounds. The client commands' deadline: the core's LDM_LB_TIMEOUT_MS ceiling, and at
# least 10 ms, under which no mDNS answer can come back even on loopback.
TIMEOUT_MS: Final = Bound(10, MAX_TIMEOUT_MS, "ms")
BROWSE_MS: Final = Bound(1, MAX_TIMEOUT_MS, "ms")  # and at most --timeout-ms, checked by the command
INTERVAL_S: Final = Bound(0.5, 3600, "seconds")  # status --watch and feed: a refresh a second is plenty
COUNT: Final = Bound(1, None)
# A pending claim: a second at least (a claim must outlive its own round trip), a day at most.
CLAIM_TTL_S: Final = Bound(1, 86_400, "seconds")
