"""`ltsp-mesh sim`: the login-storm simulator's benchmark, plots and capacity planner."""

from __future__ import annotations

import argparse
import csv
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ltsp_mesh.cli import bounds
from ltsp_mesh.cli.bounds import Bound, bounded
from ltsp_mesh.cli.exit_codes import FAILED, OK
from ltsp_mesh.cli.render import Result, jsonable, table
from ltsp_mesh.core.record import MAX_CAPACITY
from ltsp_mesh.core.server.pending import DEFAULT_CLAIM_TTL_S
from ltsp_mesh.errors import ConfigError, MeshError

if TYPE_CHECKING:  # the simulator is imported in run(), never at start-up
    from ltsp_mesh.core.sim import Plan, Report, Row, Target

NAME = "sim"
PLAN = "plan"
# The names of core/sim/scenarios.py's SCENARIOS, spelled out here so that building the parser
# (which every command does, the hook included) does not import the simulator; a test keeps
# the two in step.
SCENARIO_NAMES: Final = ("rudolfo", "margot", "add-server", "crash")
MAX_RUNS: Final = 1000
SEED: Final = Bound(0, None)
RUNS: Final = Bound(1, MAX_RUNS)
DELAY_S: Final = Bound(0, 3600, "seconds")  # --txt-staleness, each end of --claim-delay
CLIENTS: Final = Bound(1, 100_000)
SERVER_CAPACITY: Final = Bound(1, MAX_CAPACITY)  # what a server may announce (mesh.conf CAPACITY)
MAX_FILL: Final = Bound(0, 1000, low_open=True)
BOOT_WINDOW_S: Final = Bound(0, 86_400, "seconds")
CSV_FIELDS: Final = (
    "scenario",
    "seed",
    "contender",
    "kind",
    "peak_over_fair",
    "end_over_fair",
    "peak_fill",
    "peak_fair",
    "moved_share",
    "moved",
    "compared",
    "needless_moves",
    "dead_logins",
    "logins",
)


DESCRIPTION: Final = """\
Simulate login storms, deterministically (virtual clock, seeded), and compare how evenly
every ltsp-mesh algorithm (ranked by the hook's own functions, on each client), broker mode
(broker: every client asks one broker; brokers-3: the clients split over three), the oracle
(one allocator that knows every pick at once: the best any rule can do) and the anchors
(pure-random, prototype-filtered, greedy-stale, x2go-broker, ldm-rating, ltsp-cluster) spread
the logins.

sim [SCENARIO ...]: the named scenarios (rudolfo, margot, add-server, crash; default all).
  PEAK/FAIR   the fullest any server got (sessions / capacity) over the highest fair share
              (all sessions / capacity of the servers up); 1.00 is a perfect spread
  END/FAIR    the same ratio at the end of the run (the storm is over)
  MOVED       clients whose server differs after the scenario's server change
  DEAD LOGINS logins sent to a server that was down
  VS ORACLE   PEAK/FAIR over the oracle's, when the oracle ran (+2.0%: 2 % above the bound)
  Then the targets; exits 1 when one is missed. Broker mode's targets follow, apart: they
  do not count towards the exit status yet.

sim plan: how many servers keep every server at or under --max-fill sessions per capacity
  unit (CAPACITY, by default CPUs) through a boot storm of --clients thin clients, found by
  simulating sites of growing size; several --server-capacity values are used in turn
  (16 32 = 16, 32, 16, ...). Exits 1 when no size up to 30 above the bound fits."""

EXAMPLES: Final = """\
examples:
  ltsp-mesh sim rudolfo --plot rudolfo.png     the 08:00 storm, and a plot of it
  ltsp-mesh sim rudolfo --runs 100             means over seeds 1-100
  ltsp-mesh sim crash add-server --claim-ttl 900
  ltsp-mesh sim plan --clients 1400 --server-capacity 16 24 --max-fill 2.5"""


def _what(value: str) -> str:
    if value not in (*SCENARIO_NAMES, PLAN):
        raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join((*SCENARIO_NAMES, PLAN))}")
    return value


def add_parser(subparsers: Any, help_text: str) -> None:
    """Register `sim`."""
    parser = subparsers.add_parser(
        NAME,
        help=help_text,
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "what",
        nargs="*",
        type=_what,
        metavar="SCENARIO",
        help=f"scenarios to run ({', '.join(SCENARIO_NAMES)}), or `plan`",
    )
    parser.add_argument(
        "--seed",
        type=bounded(int, SEED),
        default=1,
        help=f"the seed of the (first) run (default 1; {SEED.describe()})",
    )
    parser.add_argument(
        "--runs",
        type=bounded(int, RUNS),
        default=1,
        metavar="N",
        help=f"run N seeds from --seed on; figures are means over them (default 1; {RUNS.describe()})",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON document")
    output.add_argument(
        "--csv", action="store_true", help="print CSV, one line per scenario, algorithm and seed"
    )
    storm = parser.add_argument_group("scenario options")
    storm.add_argument(
        "--plot",
        metavar="FILE.png",
        type=Path,
        help="draw each server's sessions per capacity over time, one panel per algorithm "
        "(needs matplotlib: Debian's python3-matplotlib, or pip install '.[plot]' in a checkout)",
    )
    storm.add_argument(
        "--claim-ttl",
        type=bounded(float, bounds.CLAIM_TTL_S),
        metavar="S",
        help=f"the servers' pending-claim lifetime in seconds (default: the servers' own, {DEFAULT_CLAIM_TTL_S:g})",
    )
    storm.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="run only these algorithms and anchors (default all; targets need theirs to run)",
    )
    storm.add_argument(
        "--txt-staleness",
        type=bounded(float, DELAY_S),
        metavar="S",
        help=f"how old the TXT figures in mDNS caches are, in seconds (default 10; {DELAY_S.describe()})",
    )
    storm.add_argument(
        "--claim-delay",
        type=bounded(float, DELAY_S),
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="seconds from a server's answer to the client's claim reaching it, drawn in [LOW, HIGH] "
        "(default 0.01 0.4); longer delays let more clients decide on the same figures",
    )
    planning = parser.add_argument_group("plan options")
    planning.add_argument(
        "--clients",
        type=bounded(int, CLIENTS),
        metavar="N",
        help=f"thin clients booting in the storm ({CLIENTS.describe()})",
    )
    planning.add_argument(
        "--server-capacity",
        type=bounded(int, SERVER_CAPACITY),
        nargs="+",
        metavar="C",
        help=f"capacity of each server (CPUs by default), several used in turn ({SERVER_CAPACITY.describe()})",
    )
    planning.add_argument(
        "--max-fill",
        type=bounded(float, MAX_FILL),
        metavar="F",
        help=f"no server may go above F sessions per capacity unit (e.g. 2.5; {MAX_FILL.describe()})",
    )
    planning.add_argument(
        "--algorithm",
        default="least-loaded",
        metavar="NAME",
        help="the algorithm or anchor the clients use (default least-loaded)",
    )
    planning.add_argument(
        "--boot-window",
        type=bounded(float, BOOT_WINDOW_S),
        default=120.0,
        metavar="S",
        help=f"the clients boot within S seconds (default 120; {BOOT_WINDOW_S.describe()})",
    )
    parser.set_defaults(func=run)


def _check(args: argparse.Namespace, planning: bool) -> None:
    # Each value's own range is checked as it is parsed (bounds.bounded); these need several.
    plan_only = {
        "--clients": args.clients,
        "--server-capacity": args.server_capacity,
        "--max-fill": args.max_fill,
    }
    scenario_only = {
        "--plot": args.plot,
        "--claim-ttl": args.claim_ttl,
        "--claim-delay": args.claim_delay,
        "--txt-staleness": args.txt_staleness,
        "--only": args.only,
    }
    if planning:
        _check_plan(args, plan_only, scenario_only)
        return
    given = [name for name, value in plan_only.items() if value is not None]
    if given:
        raise ConfigError(f"{', '.join(given)} belong to `ltsp-mesh sim plan`")
    if args.claim_delay is not None and args.claim_delay[1] < args.claim_delay[0]:
        low, high = args.claim_delay
        raise ConfigError(
            f"--claim-delay HIGH={high} is not a number of seconds from {low:g} to {DELAY_S.high:g}"
        )


def _check_plan(args: argparse.Namespace, plan_only: dict[str, Any], scenario_only: dict[str, Any]) -> None:
    if args.what != [PLAN]:
        raise ConfigError("`plan` takes no scenario names: ltsp-mesh sim plan --clients N ...")
    given = [name for name, value in scenario_only.items() if value is not None]
    if given:
        raise ConfigError(f"{', '.join(given)} belong to scenarios, not to `sim plan`")
    missing = [name for name, value in plan_only.items() if value is None]
    if missing:
        raise ConfigError(
            f"sim plan needs {', '.join(missing)} (e.g. --clients 1400 --server-capacity 16 32 "
            "--max-fill 2.5)"
        )


def run(args: argparse.Namespace) -> Result:
    """Run the scenarios (or the planner) and tabulate the figures."""
    planning = PLAN in args.what
    _check(args, planning)
    seeds = tuple(range(args.seed, args.seed + args.runs))
    return _plan(args, seeds) if planning else _scenarios(args, seeds)


# --- scenarios --------------------------------------------------------------------------------
def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _moved(row: Row) -> str:
    share = row.mean(lambda m: m.moved_share)
    if share is None:
        return "-"
    return f"{share:.1%} ({sum(m.moved for m in row.runs)}/{sum(m.compared for m in row.runs)})"


def _table(report: Report) -> str:
    from ltsp_mesh.core.sim import ORACLE, over_oracle

    many = len(report.seeds) > 1
    versus = report.row(ORACLE) is not None
    headers = (
        ["ALGORITHM", "KIND", "PEAK/FAIR"]
        + (["WORST"] if many else [])
        + ["END/FAIR", "MOVED", "DEAD LOGINS"]
    )
    headers += ["VS ORACLE"] if versus else []
    rows = []
    for row in report.rows:
        kind = row.kind + (" (default)" if row.contender == "least-loaded" else "")
        cells = [row.contender, kind, _fmt(row.mean(lambda m: m.peak_over_fair))]
        cells += [_fmt(row.worst(lambda m: m.peak_over_fair))] if many else []
        cells += [
            _fmt(row.mean(lambda m: m.end_over_fair)),
            _moved(row),
            _fmt(row.mean(lambda m: float(m.dead_logins)), ".0f" if not many else ".1f"),
        ]
        cells += [_fmt(over_oracle(report, row.contender), "+.1%")] if versus else []
        rows.append(cells)
    seeds = f"seed {report.seeds[0]}" if not many else f"seeds {report.seeds[0]}-{report.seeds[-1]}, means"
    fair = max(m.peak_fair for row in report.rows for m in row.runs)
    head = f"{report.scenario.title} ({seeds}; fair share at its peak: {fair:.2f} sessions per capacity unit)"
    return head + "\n" + table(headers, rows)


def _targets_table(found: list[Target]) -> str:
    rows = [[t.name, t.scenario, t.measured, t.target, "ok" if t.met else "MISSED", t.detail] for t in found]
    return table(("TARGET", "SCENARIO", "MEASURED", "TARGET", "", "DETAIL"), rows)


def _csv(reports: list[Report]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for report in reports:
        for row in report.rows:
            for seed, m in zip(report.seeds, row.runs, strict=True):
                writer.writerow(
                    [
                        report.scenario.name,
                        seed,
                        row.contender,
                        row.kind,
                        f"{m.peak_over_fair:.4f}",
                        f"{m.end_over_fair:.4f}",
                        f"{m.peak_fill:.4f}",
                        f"{m.peak_fair:.4f}",
                        "" if m.moved_share is None else f"{m.moved_share:.4f}",
                        m.moved,
                        m.compared,
                        m.needless_moves,
                        m.dead_logins,
                        m.logins,
                    ]
                )
    return out.getvalue()


def _row_json(report: Report, row: Row) -> dict[str, Any]:
    from ltsp_mesh.core.sim import over_oracle

    runs = [jsonable(m) for m in row.runs]
    return {
        "contender": row.contender,
        "kind": row.kind,
        "peak_over_fair": row.mean(lambda m: m.peak_over_fair),
        "peak_over_oracle": over_oracle(report, row.contender),
        "end_over_fair": row.mean(lambda m: m.end_over_fair),
        "moved_share": row.mean(lambda m: m.moved_share),
        "dead_logins": row.mean(lambda m: float(m.dead_logins)),
        "runs": runs,
    }


def _scenario_json(report: Report) -> dict[str, Any]:
    scenario = report.scenario
    change = scenario.change_at_s
    return {
        "name": scenario.name,
        "title": scenario.title,
        "claim_ttl_s": scenario.claim_ttl_s,
        "claim_delay_s": list(scenario.claim_delay_s),
        "txt_staleness_s": scenario.txt_staleness_s,
        "change_at": scenario.clock(change) if change is not None else None,
        "rows": [_row_json(report, row) for row in report.rows],
    }


def _scenarios(args: argparse.Namespace, seeds: tuple[int, ...]) -> Result:
    import dataclasses

    from ltsp_mesh.core.sim import CONTENDERS, SCENARIOS, benchmark, targets

    unknown = [name for name in args.only or () if name not in CONTENDERS]
    if unknown:
        raise ConfigError(f"--only {' '.join(unknown)}: not one of {', '.join(CONTENDERS)}")
    contenders = [c for c in CONTENDERS if c in args.only] if args.only else list(CONTENDERS)

    names = list(dict.fromkeys(args.what)) or list(SCENARIO_NAMES)
    chosen = [SCENARIOS[n] for n in names]
    if args.claim_ttl is not None:
        chosen = [dataclasses.replace(s, claim_ttl_s=args.claim_ttl) for s in chosen]
    if args.claim_delay is not None:
        chosen = [
            dataclasses.replace(s, claim_delay_s=(args.claim_delay[0], args.claim_delay[1])) for s in chosen
        ]
    if args.txt_staleness is not None:
        chosen = [dataclasses.replace(s, txt_staleness_s=args.txt_staleness) for s in chosen]
    reports = [benchmark(scenario, seeds, contenders) for scenario in chosen]
    found = targets(reports)
    plot = None
    if args.plot is not None:
        _draw(reports, args.plot)
        plot = str(args.plot)
    met = all(t.met for t in found)
    data = {
        "seeds": list(seeds),
        "scenarios": [_scenario_json(r) for r in reports],
        "targets": [jsonable(t) for t in found],
        "plot": plot,
    }
    if args.csv:
        missed = [
            f"target missed: {t.name} ({t.scenario}): {t.measured}, target {t.target}"
            for t in found
            if not t.met
        ]
        return Result(
            command=NAME, data=data, text=_csv(reports), warnings=missed, exit_code=OK if met else FAILED
        )
    text = "\n\n".join(_table(r) for r in reports)
    if found:
        text += "\n\n" + _targets_table(found)
    if plot:
        text += f"\n\nplot: {plot}"
    return Result(command=NAME, data=data, text=text, exit_code=OK if met else FAILED)


# --- plot -------------------------------------------------------------------------------------
def _draw(reports: list[Report], path: Path) -> None:
    """Each server's fill over time, one panel per algorithm; one row per scenario (a grid for one)."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ConfigError(
            "--plot needs matplotlib: apt install python3-matplotlib (in a checkout: pip install '.[plot]')"
        ) from exc
    if not path.parent.is_dir():
        raise ConfigError(f"--plot {path}: the directory {path.parent} does not exist")
    matplotlib.use("Agg")  # a file, never a window
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    from ltsp_mesh.core.sim import series

    panels = max(len(r.rows) for r in reports)
    ncols = 4 if len(reports) == 1 else panels
    per_report = math.ceil(panels / ncols)
    nrows = per_report * len(reports)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.8 * nrows), squeeze=False)
    for r_index, report in enumerate(reports):
        scenario = report.scenario
        fair_peak = max(m.peak_fair for row in report.rows for m in row.runs)
        top = min(max(m.peak_fill for row in report.rows for m in row.runs), 3 * fair_peak) * 1.08 or 1.0
        sizes = sorted({s.weight for s in scenario.servers})
        cmap = plt.get_cmap("viridis")
        colour = {c: cmap(0.85 * i / max(len(sizes) - 1, 1)) for i, c in enumerate(sizes)}
        cells = [axes[r_index * per_report + k // ncols][k % ncols] for k in range(per_report * ncols)]
        for ax, row, run in zip(cells, report.rows, report.first_runs, strict=False):
            data, metrics = series(run), row.runs[0]
            for spec, fills in zip(scenario.servers, data.fills, strict=True):
                ax.plot(
                    data.hours,
                    [math.nan if f is None else f for f in fills],
                    lw=0.7,
                    alpha=0.8,
                    color=colour[spec.weight],
                )
            ax.plot(data.hours, data.fair, "k--", lw=1.2)
            ax.set_ylim(0, top)
            ax.set_title(
                f"{row.contender}{' (default)' if row.contender == 'least-loaded' else ''}\n"
                f"peak {metrics.peak_over_fair:.2f}x fair, end {metrics.end_over_fair:.2f}x",
                fontsize=9,
            )
            if metrics.peak_fill > top:
                ax.text(
                    0.5,
                    0.9,
                    f"off scale: peaks at {metrics.peak_fill:.1f}",
                    transform=ax.transAxes,
                    ha="center",
                    fontsize=8,
                    color="crimson",
                )
            ax.xaxis.set_major_locator(MaxNLocator(4))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda h, _, sc=scenario: sc.clock(h * 3600)))
            ax.tick_params(labelsize=7)
        cells[0].set_ylabel(f"{scenario.name}\nsessions / capacity", fontsize=8)
        legend = [Line2D([], [], color=colour[c], label=f"capacity {c}") for c in sizes]
        legend.append(Line2D([], [], color="k", ls="--", label="fair share"))
        spare = cells[len(report.rows) :]
        for ax in spare:
            ax.axis("off")
        (spare[0] if spare else cells[-1]).legend(handles=legend, loc="center", fontsize=8, frameon=False)
    if len(reports) == 1:
        fig.suptitle(f"{reports[0].scenario.title} (seed {reports[0].seeds[0]})", fontsize=11)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=80)
    except OSError as exc:
        raise MeshError(f"--plot {path}: cannot write it: {exc.strerror or exc}") from exc
    finally:
        plt.close(fig)


# --- plan -------------------------------------------------------------------------------------
def _plan_text(result: Plan) -> str:
    caps = ", ".join(str(c) for c in result.capacities)
    head = (
        f"{result.clients} clients booting together, servers of capacity {caps}"
        f"{' in turn' if len(result.capacities) > 1 else ''}, no server above {result.max_fill:g} sessions "
        f"per capacity unit ({result.contender}, {len(result.seeds)} run(s) each):"
    )
    rows = [
        [s.servers, s.capacity, f"{s.fair_fill:.2f}", f"{s.peak_fill:.2f}", "ok" if s.ok else "over"]
        for s in result.steps
    ]
    body = table(("SERVERS", "CAPACITY", "FAIR FILL", "PEAK FILL", ""), rows)
    if result.answer is None:
        return f"{head}\n{body}"
    capacity = result.steps[-1].capacity
    tail = (
        f"answer: {result.answer} servers (capacity {capacity}); a perfect spread would need "
        f"{result.lower_bound}"
    )
    return f"{head}\n{body}\n{tail}"


def _plan(args: argparse.Namespace, seeds: tuple[int, ...]) -> Result:
    from ltsp_mesh.core.sim import CONTENDERS, plan

    if args.algorithm not in CONTENDERS:
        raise ConfigError(f"--algorithm={args.algorithm!r} is not one of {', '.join(CONTENDERS)}")
    result = plan(
        args.clients,
        args.server_capacity,
        args.max_fill,
        contender=args.algorithm,
        seeds=seeds,
        boot_window_s=args.boot_window,
    )
    data = jsonable(result)
    if args.csv:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("servers", "capacity", "fair_fill", "peak_fill", "ok"))
        for s in result.steps:
            writer.writerow((s.servers, s.capacity, f"{s.fair_fill:.4f}", f"{s.peak_fill:.4f}", int(s.ok)))
        text = out.getvalue()
    else:
        text = _plan_text(result)
    if result.answer is None:
        last = result.steps[-1].servers
        error = (
            f"no site of {result.lower_bound} to {last} servers keeps every server at or under "
            f"{result.max_fill:g} with {result.contender}"
        )
        return Result(command=NAME, data=data, text=text, error=error, exit_code=FAILED)
    return Result(command=NAME, data=data, text=text, exit_code=OK)
