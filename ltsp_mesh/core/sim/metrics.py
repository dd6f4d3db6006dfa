"""How even a run was: the figures of the benchmark table, computed from a `Run`.

Definitions (fill = sessions / capacity; fair share = all sessions / the capacity of the servers
that are up, at the same instant; both sampled at every 5 s tick):
- `peak_over_fair`: the fullest any server got during the run (max over ticks and servers of
  fill) divided by the highest the fair share got. 1.00 is perfect: no server ever went beyond
  what an even spread of the busiest moment would give it. Taking each maximum separately
  keeps the ramp of a storm out of it: half-way through the storm which picks have already
  become sessions is down to typing speed, not to the algorithm.
- `end_over_fair`: at the last tick (the end of the storm: `Scenario.end_s`), the fullest
  server's fill divided by the fair share then.
- `moved_share`: of the clients that logged in both before and after the scenario's server
  change (`Scenario.change_at_s`), the share whose first session after it was on another server
  than their last one before it. `needless_moves` counts those moves where neither server was
  the one that changed (mac-hash's promise: zero); `from_changed` counts the clients compared
  whose server before was one that went away. None when nothing changes.
- `dead_logins`: logins sent to a server that was down when the user pressed Enter.
"""

from __future__ import annotations

from dataclasses import dataclass

from ltsp_mesh.core.sim.model import Run


@dataclass(frozen=True, slots=True)
class Metrics:
    """The table's figures for one run."""

    contender: str
    peak_over_fair: float
    end_over_fair: float
    peak_fill: float
    peak_fair: float
    moved_share: float | None
    moved: int
    compared: int
    needless_moves: int
    from_changed: int
    dead_logins: int
    logins: int
    final_sessions: tuple[int, ...]


def fills_now(run: Run, tick: int) -> tuple[float, float]:
    """(fullest server's fill, fair share) at `tick`; (0, 0) when nothing is up or no session."""
    caps = run.capacities
    up = [i for i in range(len(caps)) if run.alive[i][tick]]
    capacity = sum(caps[i] for i in up)
    total = sum(run.sessions[i][tick] for i in up)
    if not up or capacity == 0:
        return 0.0, 0.0
    return max(run.sessions[i][tick] / caps[i] for i in up), total / capacity


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else 0.0


def moves(run: Run) -> tuple[int, int, int, int]:
    """(clients compared, moved, needless moves, compared ones whose server went away)."""
    change = run.scenario.change_at_s
    if change is None:
        return 0, 0, 0, 0
    joined = {i for i, s in enumerate(run.scenario.servers) if s.joins_at_s >= change}
    gone = {
        i for i, s in enumerate(run.scenario.servers) if s.dies_at_s is not None and s.dies_at_s >= change
    }
    changed = joined | gone
    before: dict[int, int] = {}
    after: dict[int, int] = {}
    for login in run.logins:  # in time order
        if login.at_s < change:
            before[login.client] = login.server
        else:
            after.setdefault(login.client, login.server)
    both = [c for c in after if c in before]
    moved = [c for c in both if before[c] != after[c]]
    needless = [c for c in moved if before[c] not in changed and after[c] not in changed]
    return len(both), len(moved), len(needless), sum(before[c] in gone for c in both)


def measure(run: Run) -> Metrics:
    """The figures of the benchmark table for `run`."""
    ticks = len(run.sessions[0]) if run.sessions else 0
    samples = [fills_now(run, k) for k in range(ticks)]
    peak_fill = max((f for f, _ in samples), default=0.0)
    peak_fair = max((fair for _, fair in samples), default=0.0)
    end_fill, end_fair = samples[-1] if samples else (0.0, 0.0)
    compared, moved, needless, from_changed = moves(run)
    return Metrics(
        contender=run.contender,
        peak_over_fair=_ratio(peak_fill, peak_fair),
        end_over_fair=_ratio(end_fill, end_fair),
        peak_fill=peak_fill,
        peak_fair=peak_fair,
        moved_share=moved / compared if run.scenario.change_at_s is not None and compared else None,
        moved=moved,
        compared=compared,
        needless_moves=needless,
        from_changed=from_changed,
        dead_logins=run.dead_logins,
        logins=len(run.logins),
        final_sessions=tuple(series[-1] if series else 0 for series in run.sessions),
    )


@dataclass(frozen=True, slots=True)
class Series:
    """A run over time, for plots: hours since the start, each server's fill, the fair share."""

    hours: tuple[float, ...]
    fills: tuple[tuple[float | None, ...], ...]  # [server][tick]; None while the server is down
    fair: tuple[float, ...]


def series(run: Run) -> Series:
    """Every server's fill and the fair share at each tick of `run`."""
    ticks = len(run.sessions[0]) if run.sessions else 0
    caps = run.capacities
    fills = tuple(
        tuple(run.sessions[i][k] / caps[i] if run.alive[i][k] else None for k in range(ticks))
        for i in range(len(caps))
    )
    return Series(
        hours=tuple(k * run.tick_s / 3600 for k in range(ticks)),
        fills=fills,
        fair=tuple(fills_at[1] for fills_at in (fills_now(run, k) for k in range(ticks))),
    )
