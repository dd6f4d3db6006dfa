"""Capacity planning: how many servers keep every server under a given fill through a boot storm.

The question is answered by the simulator itself, not by arithmetic alone: a site of n servers
(capacities taken in turn from the ones given, e.g. 16, 32, 16, 32, ...) takes a storm of N
clients booting within `boot_window_s`, ranked by `contender`; the answer is the smallest n for
which no server's fill (sessions per capacity unit) goes above `max_fill` in any of the runs.
The search starts at the fair-share bound (the fewest servers whose total capacity holds N
clients at `max_fill`, which no algorithm can beat) and adds one server at a time, up to
`max_servers`. Each server has 3 GiB of RAM per capacity unit, as on the Rudolfo site.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.core.sim.metrics import measure
from ltsp_mesh.core.sim.model import CONTENDERS, DEFAULT_CONTENDER, simulate
from ltsp_mesh.core.sim.scenarios import Scenario, ServerSpec

MIB_PER_CAPACITY: Final = 3072
# Past the storm: the last boot, plus the slowest typist, plus a minute.
_SETTLE_S: Final = 240.0
# The search gives up this many servers past the fair-share bound (a herding anchor may never fit).
DEFAULT_EXTRA_SERVERS: Final = 30


@dataclass(frozen=True, slots=True)
class Step:
    """One site size tried: its total capacity, the fair fill and the worst peak fill seen."""

    servers: int
    capacity: int
    fair_fill: float
    peak_fill: float
    ok: bool


@dataclass(frozen=True, slots=True)
class Plan:
    """The answer (None when no size up to the search's limit kept the fill) and each size tried."""

    clients: int
    capacities: tuple[int, ...]
    max_fill: float
    contender: str
    seeds: tuple[int, ...]
    lower_bound: int
    answer: int | None
    steps: tuple[Step, ...]


def site_capacities(capacities: Sequence[int], servers: int) -> list[int]:
    """The capacities of a site of `servers` servers, taking `capacities` in turn."""
    return list(itertools.islice(itertools.cycle(capacities), servers))


def lower_bound(clients: int, capacities: Sequence[int], max_fill: float) -> int:
    """The fewest servers whose capacity holds `clients` at `max_fill` if spread perfectly."""
    total = 0
    for servers, capacity in enumerate(itertools.cycle(capacities), start=1):
        total += capacity
        if total * max_fill >= clients:
            return servers
    raise AssertionError("unreachable: itertools.cycle never ends")


def storm(
    clients: int, capacities: Sequence[int], *, boot_window_s: float = 120.0, txt_staleness_s: float = 10.0
) -> Scenario:
    """A Rudolfo-like boot storm on a site with these server capacities (sessions outlast it)."""
    servers = tuple(
        ServerSpec(f"s{i + 1:03}", cpus=c, mem_mib=MIB_PER_CAPACITY * c) for i, c in enumerate(capacities)
    )
    return Scenario(
        name="plan",
        title=f"plan: {clients} clients on {len(servers)} servers",
        servers=servers,
        clients=clients,
        boot_window_s=(0.0, boot_window_s),
        end_s=boot_window_s + _SETTLE_S,
        txt_staleness_s=txt_staleness_s,
    )


def plan(
    clients: int,
    capacities: Sequence[int],
    max_fill: float,
    *,
    contender: str = DEFAULT_CONTENDER,
    seeds: Sequence[int] = (1,),
    boot_window_s: float = 120.0,
    txt_staleness_s: float = 10.0,
    extra_servers: int = DEFAULT_EXTRA_SERVERS,
) -> Plan:
    """The fewest servers that keep every server's fill at or under `max_fill` in every seeded run."""
    if clients < 1 or not capacities or min(capacities) < 1:
        raise ValueError("plan needs at least one client and positive capacities")
    if not (math.isfinite(max_fill) and max_fill > 0) or not seeds or extra_servers < 0:
        raise ValueError("plan needs a positive max_fill, a seed and extra_servers >= 0")
    if contender not in CONTENDERS:
        raise ValueError(f"contender {contender!r} is not one of {', '.join(CONTENDERS)}")
    bound = lower_bound(clients, capacities, max_fill)
    steps: list[Step] = []
    answer = None
    for servers in range(bound, bound + extra_servers + 1):
        caps = site_capacities(capacities, servers)
        scenario = storm(clients, caps, boot_window_s=boot_window_s, txt_staleness_s=txt_staleness_s)
        peak = max(measure(simulate(scenario, contender, seed)).peak_fill for seed in seeds)
        ok = peak <= max_fill + 1e-9
        steps.append(Step(servers, sum(caps), clients / sum(caps), peak, ok))
        if ok:
            answer = servers
            break
    return Plan(clients, tuple(capacities), max_fill, contender, tuple(seeds), bound, answer, tuple(steps))
