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

Broker mode's targets (issue 10), checked by `broker_targets` and reported apart: they do not
decide the exit status until broker mode meets them (see broker.py for what they compare):
- Rudolfo storm: `broker`'s peak / fair share within 1 % of the oracle's ...
- ... and lower than the client-side default's and every anchor's;
- `brokers-3` within 3 % of the oracle's.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.core.sim.anchors import ANCHORS
from ltsp_mesh.core.sim.broker import BROKER_MODES, ORACLE
from ltsp_mesh.core.sim.metrics import Metrics, measure
from ltsp_mesh.core.sim.model import CONTENDERS, DEFAULT_CONTENDER, Run, simulate
from ltsp_mesh.core.sim.scenarios import Scenario

PEAK_OVER_FAIR_TARGET: Final = 1.05
# Broker mode against the oracle: how far above the bound's peak / fair share each may end.
BROKER_OVER_ORACLE: Final = 0.01
BROKERS_OVER_ORACLE: Final = 0.03


@dataclass(frozen=True, slots=True)
class Row:
    """One contender on one scenario: its figures for each seed."""

    contender: str
    kind: str  # "ltsp-mesh", "ltsp-mesh broker", "bound" or "anchor" (see kind_of)
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
    """'anchor' for an anchor, 'ltsp-mesh broker' for broker mode, 'bound' for the oracle,
    'ltsp-mesh' for one of ltsp-mesh's algorithms run by the client itself."""
    if contender in ANCHORS:
        return "anchor"
    if contender in BROKER_MODES:
        return "ltsp-mesh broker"
    return "bound" if contender == ORACLE else "ltsp-mesh"


def over_oracle(report: Report, contender: str) -> float | None:
    """How far `contender`'s mean peak / fair share is above the oracle's (0.02: 2 % above)."""
    row, oracle = report.row(contender), report.row(ORACLE)
    if row is None or oracle is None:
        return None
    ours, bound = row.mean(_peak), oracle.mean(_peak)
    return None if ours is None or not bound else ours / bound - 1.0


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
    targets = [
        Target(
            f"{DEFAULT_CONTENDER} peak / fair share",
            report.scenario.name,
            f"{mean:.3f}",
            f"<= {PEAK_OVER_FAIR_TARGET}",
            mean <= PEAK_OVER_FAIR_TARGET,
            f"held in {held} of {n} runs" if n > 1 else "",
        )
    ]
    anchors = [r for r in report.rows if r.kind == "anchor"]
    if anchors:
        best = min(anchors, key=lambda r: r.mean(_peak) or 0.0)
        best_mean = best.mean(_peak) or 0.0
        beaten = sum(
            all(d.peak_over_fair < a.runs[i].peak_over_fair for a in anchors)
            for i, d in enumerate(default.runs)
        )
        detail = f"best anchor: {best.contender} {best_mean:.3f}"
        targets.append(
            Target(
                f"{DEFAULT_CONTENDER} better than every anchor",
                report.scenario.name,
                f"{mean:.3f}",
                f"< {best_mean:.3f}",
                mean < best_mean,
                detail + (f"; held in {beaten} of {n} runs" if n > 1 else ""),
            )
        )
    return targets


def _within_oracle(report: Report, contender: str, margin: float) -> list[Target]:
    row, oracle = report.row(contender), report.row(ORACLE)
    if row is None or oracle is None:
        return []
    mean, bound = row.mean(_peak) or 0.0, oracle.mean(_peak) or 0.0
    n = len(report.seeds)
    held = sum(
        m.peak_over_fair <= o.peak_over_fair * (1 + margin)
        for m, o in zip(row.runs, oracle.runs, strict=True)
    )
    detail = f"oracle {bound:.3f}, {contender} {(over_oracle(report, contender) or 0.0):+.1%}"
    return [
        Target(
            f"{contender} within {margin:.0%} of the oracle",
            report.scenario.name,
            f"{mean:.3f}",
            f"<= {bound * (1 + margin):.3f}",
            mean <= bound * (1 + margin),
            detail + (f"; held in {held} of {n} runs" if n > 1 else ""),
        )
    ]


def _broker_beats(report: Report, contender: str) -> list[Target]:
    row = report.row(contender)
    others = [r for r in report.rows if r.kind == "anchor" or r.contender == DEFAULT_CONTENDER]
    if row is None or not others:
        return []
    mean = row.mean(_peak) or 0.0
    best = min(others, key=lambda r: r.mean(_peak) or 0.0)
    best_mean = best.mean(_peak) or 0.0
    n = len(report.seeds)
    beaten = sum(
        all(m.peak_over_fair < o.runs[i].peak_over_fair for o in others) for i, m in enumerate(row.runs)
    )
    name = f"{contender} better than {DEFAULT_CONTENDER} and every anchor"
    detail = f"best of them: {best.contender} {best_mean:.3f}"
    detail += f"; held in {beaten} of {n} runs" if n > 1 else ""
    return [Target(name, report.scenario.name, f"{mean:.3f}", f"< {best_mean:.3f}", mean < best_mean, detail)]


def broker_targets(reports: Iterable[Report]) -> list[Target]:
    """Broker mode's targets on the Rudolfo storm, for the contenders that ran."""
    found: list[Target] = []
    for report in reports:
        if report.scenario.name == "rudolfo":
            found += _within_oracle(report, "broker", BROKER_OVER_ORACLE)
            found += _broker_beats(report, "broker")
            found += _within_oracle(report, "brokers-3", BROKERS_OVER_ORACLE)
    return found


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
            found += _rudolfo_targets(report) + broker_targets([report])
        if report.scenario.name in ("crash", "add-server"):
            found += _mac_hash_target(report)
    return found
