"""The benchmark: every contender on a scenario, the same seeds for all, and the targets checked.

Targets (from the issue, checked whenever their scenario ran):
- Rudolfo storm: the default algorithm's peak / fair share is at most 1.05 ...
- ... and lower than every anchor's in the same run.
- mac-hash, crash: removing one of 30 servers moves only that server's clients (no needless
  move, and every client compared that was on it moved).
- mac-hash, add-server: the new server takes the clients that now hash to it, and no other
  client moves (no needless move).
With several seeds, each figure is the mean over the runs, and a target's detail says in how
many runs it held on its own.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.core.sim.anchors import ANCHORS
from ltsp_mesh.core.sim.metrics import Metrics, measure
from ltsp_mesh.core.sim.model import CONTENDERS, DEFAULT_CONTENDER, Run, simulate
from ltsp_mesh.core.sim.scenarios import Scenario

PEAK_OVER_FAIR_TARGET: Final = 1.05


@dataclass(frozen=True, slots=True)
class Row:
    """One contender on one scenario: its figures for each seed."""

    contender: str
    kind: str  # "ltsp-mesh" or "anchor"
    runs: tuple[Metrics, ...]

    def mean(self, figure: Callable[[Metrics], float | None]) -> float | None:
        """The mean of a figure over the runs (None when the figure does not apply)."""
        values = [v for v in (figure(m) for m in self.runs) if v is not None]
        return statistics.fmean(values) if values else None

    def worst(self, figure: Callable[[Metrics], float]) -> float:
        """The highest value of a figure over the runs."""
        return max(figure(m) for m in self.runs)


@dataclass(frozen=True, slots=True)
class Report:
    """A scenario's benchmark: a row per contender; `first_runs` are the first seed's runs (for plots)."""

    scenario: Scenario
    seeds: tuple[int, ...]
    rows: tuple[Row, ...]
    first_runs: tuple[Run, ...]

    def row(self, contender: str) -> Row | None:
        """The row of `contender`, if it ran."""
        return next((r for r in self.rows if r.contender == contender), None)


@dataclass(frozen=True, slots=True)
class Target:
    """One target: what was measured against what, and whether it held."""

    name: str
    scenario: str
    measured: str
    target: str
    met: bool
    detail: str


def kind_of(contender: str) -> str:
    """'anchor' for an anchor, 'ltsp-mesh' for one of ltsp-mesh's algorithms."""
    return "anchor" if contender in ANCHORS else "ltsp-mesh"


def benchmark(scenario: Scenario, seeds: Sequence[int], contenders: Iterable[str] = CONTENDERS) -> Report:
    """Run every contender on `scenario` once per seed and measure each run."""
    if not seeds:
        raise ValueError("benchmark needs at least one seed")
    rows, first = [], []
    for contender in contenders:
        runs = [simulate(scenario, contender, seed) for seed in seeds]
        first.append(runs[0])
        rows.append(Row(contender, kind_of(contender), tuple(measure(r) for r in runs)))
    return Report(scenario, tuple(seeds), tuple(rows), tuple(first))


def _peak(m: Metrics) -> float:
    return m.peak_over_fair


def _rudolfo_targets(report: Report) -> list[Target]:
    default = report.row(DEFAULT_CONTENDER)
    if default is None:
        return []
    n = len(report.seeds)
    mean = default.mean(_peak) or 0.0
    held = sum(m.peak_over_fair <= PEAK_OVER_FAIR_TARGET for m in default.runs)
    targets = [Target(f"{DEFAULT_CONTENDER} peak / fair share", report.scenario.name, f"{mean:.3f}",
                      f"<= {PEAK_OVER_FAIR_TARGET}", mean <= PEAK_OVER_FAIR_TARGET,
                      f"held in {held} of {n} runs" if n > 1 else "")]  # fmt: skip
    anchors = [r for r in report.rows if r.kind == "anchor"]
    if anchors:
        best = min(anchors, key=lambda r: r.mean(_peak) or 0.0)
        best_mean = best.mean(_peak) or 0.0
        beaten = sum(all(d.peak_over_fair < a.runs[i].peak_over_fair for a in anchors)
                     for i, d in enumerate(default.runs))  # fmt: skip
        detail = f"best anchor: {best.contender} {best_mean:.3f}"
        targets.append(Target(f"{DEFAULT_CONTENDER} better than every anchor", report.scenario.name,
                              f"{mean:.3f}", f"< {best_mean:.3f}", mean < best_mean,
                              detail + (f"; held in {beaten} of {n} runs" if n > 1 else "")))  # fmt: skip
    return targets


def _mac_hash_target(report: Report) -> list[Target]:
    row = report.row("mac-hash")
    change = report.scenario.change_at_s
    if row is None or change is None:
        return []
    needless = sum(m.needless_moves for m in row.runs)
    missed = sum(m.from_changed - m.moved + m.needless_moves for m in row.runs)
    moved, compared = sum(m.moved for m in row.runs), sum(m.compared for m in row.runs)
    share = moved / compared if compared else 0.0
    lost = [s.name for s in report.scenario.servers if s.dies_at_s is not None and s.dies_at_s >= change]
    joined = [s.name for s in report.scenario.servers if s.joins_at_s >= change and s.joins_at_s > 0]
    if lost:
        name = f"mac-hash: losing {', '.join(lost)} moves only its clients"
        detail = (
            f"moved {moved} of {compared} compared clients ({share:.1%}), all of them {', '.join(lost)}'s"
        )
        met = needless == 0 and missed == 0
    else:
        name = f"mac-hash: {', '.join(joined)} takes clients, nobody else moves"
        detail = f"moved {moved} of {compared} compared clients ({share:.1%}), all to {', '.join(joined)}"
        met = needless == 0
    if not met:
        detail = f"{needless} needless moves; " + detail.split(", all")[0]
    return [Target(name, report.scenario.name, f"{needless} needless moves", "0", met, detail)]


def targets(reports: Iterable[Report]) -> list[Target]:
    """The targets whose scenarios are among `reports`, in report order."""
    found: list[Target] = []
    for report in reports:
        if report.scenario.name == "rudolfo":
            found += _rudolfo_targets(report)
        if report.scenario.name in ("crash", "add-server"):
            found += _mac_hash_target(report)
    return found
