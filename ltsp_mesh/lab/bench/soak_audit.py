"""The soak's bookkeeping: when each server address was down, and what each hook run printed.

Pure: the soak harness (soak.py) records its own faults here as it makes them (kills,
restarts, address changes, all in CLOCK_MONOTONIC seconds) and every hook run it observed, and
`audit` says which runs broke a promise.

"Down" is read from the harness's own timeline, with the grace the broker's design allows
(docs/broker.md): a server that stops answering drops out of every answer given more than about
a second later (a request finds the view at most about 1 s old; a refresh waits 100 ms at most
for a server that just died). An address counts as down from GRACE_S after its server was
killed or it left its server, until a daemon is started with it again (listing it before the
new daemon answered cannot happen, so the earliest moment is the fair one). A hook run printed
a dead server when it printed an address that was down for the whole run: from before the hook
started until after it ended, so the broker's answer, whenever within the run it was made, was
given at least GRACE_S after the fault.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

# About a second (docs/broker.md), doubled for a 2-core machine running 30 daemons.
GRACE_S: Final = 2.0
# How soon a renumbered server must be listed at its new address (issue 11).
FOLLOW_S: Final = 5.0


@dataclass(frozen=True)
class HookRun:
    """One run of the real hook on one thin client, as the harness saw it."""

    client: str
    started: float
    ended: float
    printed: tuple[str, ...]
    # The hook's own account through logger: it printed no broker's answer (the last good
    # list, LDM_LB_FALLBACK or $SERVER instead), or a broker after the first answered.
    fell_back: bool = False
    failed_over: bool = False
    note: str = ""


@dataclass(frozen=True)
class Renumbering:
    """A server's address changed at `at`."""

    host: str
    old: str
    new: str
    at: float
    running: bool  # whether its daemon ran then (a stopped server has nothing to announce)


@dataclass
class Timeline:
    """Each server's address and whether its daemon runs, and when each address was down.

    `homes` are the servers' first addresses (their daemons running from the start), `spares`
    the addresses they may move to: down until a server takes one.
    """

    homes: Mapping[str, str]
    spares: Sequence[str] = ()
    _state: dict[str, tuple[str, bool]] = field(default_factory=dict)
    _down: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    _since: dict[str, float] = field(default_factory=dict)
    renumberings: list[Renumbering] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._state = {host: (address, True) for host, address in self.homes.items()}
        self._since = dict.fromkeys(self.spares, -math.inf)

    @property
    def addresses(self) -> set[str]:
        """Every address a server had or may take."""
        return {*self.homes.values(), *self.spares}

    def address(self, host: str) -> str:
        """`host`'s address now."""
        return self._state[host][0]

    def running(self, host: str) -> bool:
        """Whether `host`'s daemon runs now, as far as the harness knows."""
        return self._state[host][1]

    def _live(self) -> set[str]:
        return {address for address, running in self._state.values() if running}

    def _set(self, host: str, address: str, running: bool, at: float) -> None:
        before = self._live()
        self._state[host] = (address, running)
        after = self._live()
        for gone in before - after:
            self._since[gone] = at
        for back in after - before:
            if back in self._since:
                self._down.setdefault(back, []).append((self._since.pop(back), at))

    def stopped(self, host: str, at: float) -> None:
        """`host`'s daemon was killed (or found dead) at `at`."""
        self._set(host, self.address(host), False, at)

    def started(self, host: str, at: float) -> None:
        """`host`'s daemon was started again at `at`."""
        self._set(host, self.address(host), True, at)

    def renumbered(self, host: str, address: str, at: float) -> None:
        """`host` left its address for `address` at `at`."""
        old = self.address(host)
        self._set(host, address, self.running(host), at)
        self.renumberings.append(Renumbering(host, old, address, at, self.running(host)))

    def down_intervals(self, address: str) -> list[tuple[float, float]]:
        """When `address` had no running server: closed intervals, and the open one (to inf)."""
        closed = list(self._down.get(address, []))
        if address in self._since:
            closed.append((self._since[address], math.inf))
        return closed

    def down_since(self, address: str, at: float) -> float:
        """When `address` went down, for a moment `at` it was down (-inf: it never had a server)."""
        return next((down for down, up in self.down_intervals(address) if down <= at <= up), math.nan)

    def dead_during(self, address: str, start: float, end: float, grace_s: float = GRACE_S) -> bool:
        """Whether `address` was down, past the grace, from `start` to `end`."""
        return any(down + grace_s <= start and end <= up for down, up in self.down_intervals(address))

    def held(self, address: str, start: float, end: float) -> bool:
        """Whether a running server kept `address` from `start` to `end` (it had it at `start`)."""
        return not any(down < end and up > start for down, up in self.down_intervals(address))


@dataclass(frozen=True)
class Audit:
    """What the hook runs of one soak add up to."""

    runs: int
    silent: list[HookRun]  # the runs without a line
    dead_in_answers: list[tuple[HookRun, str]]
    dead_in_fallbacks: list[tuple[HookRun, str]]
    strangers: list[tuple[HookRun, str]]  # an address no server ever had
    fallbacks: list[HookRun]  # the runs that printed no broker's answer
    failed_over: int
    renumberings: int  # that stayed put for FOLLOW_S before the soak ended
    followed: int  # of those, listed at the new address within FOLLOW_S

    @property
    def fell_back(self) -> int:
        """Runs that printed no broker's answer (the last good list, LDM_LB_FALLBACK, $SERVER)."""
        return len(self.fallbacks)

    @property
    def without_a_line(self) -> int:
        """Runs that printed no line of hosts for LDM."""
        return len(self.silent)


def audit(runs: Sequence[HookRun], timeline: Timeline, end: float) -> Audit:
    """Check every run against the timeline of a soak that ended at `end`."""
    known = timeline.addresses
    dead_answers: list[tuple[HookRun, str]] = []
    dead_fallbacks: list[tuple[HookRun, str]] = []
    strangers: list[tuple[HookRun, str]] = []
    for run in runs:
        for address in run.printed:
            if address not in known:
                strangers.append((run, address))
            elif timeline.dead_during(address, run.started, run.ended):
                (dead_fallbacks if run.fell_back else dead_answers).append((run, address))
    eligible = [
        r
        for r in timeline.renumberings
        if r.running and r.at + FOLLOW_S <= end and timeline.held(r.new, r.at, r.at + FOLLOW_S)
    ]
    followed = [
        r
        for r in eligible
        if any(
            not run.fell_back
            and run.started >= r.at
            and run.ended <= r.at + FOLLOW_S
            and r.new in run.printed
            for run in runs
        )
    ]
    return Audit(
        runs=len(runs),
        silent=[run for run in runs if not run.printed],
        dead_in_answers=dead_answers,
        dead_in_fallbacks=dead_fallbacks,
        strangers=strangers,
        fallbacks=[run for run in runs if run.fell_back],
        failed_over=sum(1 for run in runs if run.failed_over),
        renumberings=len(eligible),
        followed=len(followed),
    )
