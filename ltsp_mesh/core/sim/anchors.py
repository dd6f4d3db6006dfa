"""The anchors: how other systems pick a server, implemented here only, for comparison.

None of these ship in ltsp-mesh; the simulator runs them beside ltsp-mesh's own algorithms so
that every figure has a reference in the same run. Each anchor is a rule (`pick`) and the
figures it gets (`source`):

- `pure-random`: any server the client knows of, uniformly. It knows what mDNS knows: a server
  that died without a goodbye stays in the cache for `mdns_forget_s`.
- `prototype-filtered`: the ltsp-server-advertise prototype: every server answers its TCP 377
  query (fresh figures, no claims); drop those over 2.0 load per CPU or swapping, then uniform.
- `greedy-stale`: the plain arg-min of sessions per capacity on the TXT figures in the mDNS
  cache (`txt_staleness_s` old; a dead server keeps its last figures until forgotten).
- `x2go-broker`: X2Go's session broker: the best `memAvail/1000 * CPUs * 100 / loadavg` on
  figures its load checker polled up to 300 s ago (each server polled every 300 s, the polls
  spread over the period; a server whose poll failed is skipped until the next good poll).
  memAvail is in MiB, loadavg the 1-minute figure, floored at 0.01 so an idle server is finite.
- `ldm-rating`: LDM itself, which asks every listed host's ldminfod at the greeter (so only
  live ones answer) and logs in to the best rating,
  `100 - 50 * load15 / 8 - 50 * ram_used / ram_total`; ties keep the list order.
- `ltsp-cluster`: ltsp-cluster's load balancer, which draws a server at random weighted by its
  spare resources, on what each agent last reported (polled every 60 s). Its rules are site
  configuration (lbsconfig.xml); modelled as weight = CPUs * free memory share *
  (1 - min(load per CPU / 2, 1)), a reconstruction rather than a copy of its default file.

Ties in the deterministic rules go to the lower index, as a list read top to bottom does.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.core.sim.servers import Figures

PROTOTYPE_MAX_LOAD_PER_CPU: Final = 2.0
X2GO_POLL_S: Final = 300.0
X2GO_MIN_LOADAVG: Final = 0.01
LDM_RATING_LOAD_SCALE: Final = 8.0
LTSP_CLUSTER_POLL_S: Final = 60.0
LTSP_CLUSTER_FULL_LOAD_PER_CPU: Final = 2.0

Pick = Callable[[Sequence[Figures], random.Random], int | None]


class Source(enum.StrEnum):
    """Where an anchor's figures come from, and so how old they are."""

    FRESH = "fresh"  # asked at decision time; only live servers answer
    MDNS = "mdns"  # the TXT in the mDNS cache: stale, and a dead server lingers
    POLLED = "polled"  # a central poller's last reading of each server


@dataclass(frozen=True, slots=True)
class Anchor:
    """One anchor: its rule, where its figures come from, and a line for the table."""

    name: str
    pick: Pick
    source: Source
    poll_s: float = 0.0  # POLLED only: each server's poll period
    summary: str = ""


def x2go_load_factor(f: Figures) -> float:
    """X2Go broker's load factor: memAvail/1000 * CPUs * 100 / loadavg (higher is better)."""
    return f.mem_avail_mib / 1000 * f.cpus * 100 / max(f.load1, X2GO_MIN_LOADAVG)


def ldm_rating(f: Figures) -> float:
    """ldminfod's rating: 100 - 50*load15/8 - 50*ram_used/ram_total (higher is better)."""
    used = min(f.mem_used_mib, f.mem_total_mib)
    return 100 - 50 * f.load15 / LDM_RATING_LOAD_SCALE - 50 * used / f.mem_total_mib


def ltsp_cluster_weight(f: Figures) -> float:
    """The modelled ltsp-cluster weight: CPUs * free memory share * spare CPU share."""
    spare_cpu = 1.0 - min(f.load_per_cpu / LTSP_CLUSTER_FULL_LOAD_PER_CPU, 1.0)
    return f.cpus * (f.mem_avail_mib / f.mem_total_mib) * spare_cpu


def pure_random(figures: Sequence[Figures], rng: random.Random) -> int | None:
    """Any known server, uniformly."""
    return rng.choice(figures).index if figures else None


def prototype_filtered(figures: Sequence[Figures], rng: random.Random) -> int | None:
    """Uniform among servers within 2.0 load per CPU and not swapping; all if none is."""
    ok = [f for f in figures if f.load_per_cpu <= PROTOTYPE_MAX_LOAD_PER_CPU and not f.swapping]
    return pure_random(ok or figures, rng)


def greedy_least_loaded(figures: Sequence[Figures], rng: random.Random) -> int | None:
    """The lowest sessions per capacity, then the lowest load per CPU, then the first listed."""
    if not figures:
        return None
    return min(figures, key=lambda f: (f.sessions / f.capacity, f.load_per_cpu, f.index)).index


def x2go_broker(figures: Sequence[Figures], rng: random.Random) -> int | None:
    """The best X2Go load factor, the first listed on a tie."""
    if not figures:
        return None
    return min(figures, key=lambda f: (-x2go_load_factor(f), f.index)).index


def ldm_best_rating(figures: Sequence[Figures], rng: random.Random) -> int | None:
    """The best ldminfod rating, the first listed on a tie."""
    if not figures:
        return None
    return min(figures, key=lambda f: (-ldm_rating(f), f.index)).index


def ltsp_cluster_weighted(figures: Sequence[Figures], rng: random.Random) -> int | None:
    """A draw weighted by the modelled ltsp-cluster weight; uniform when every weight is 0."""
    if not figures:
        return None
    weights = [ltsp_cluster_weight(f) for f in figures]
    if sum(weights) <= 0:
        return pure_random(figures, rng)
    return rng.choices(figures, weights=weights)[0].index


ANCHORS: Final[Mapping[str, Anchor]] = {
    a.name: a
    for a in (
        Anchor("pure-random", pure_random, Source.MDNS, summary="uniform over the servers in the mDNS cache"),
        Anchor(
            "prototype-filtered",
            prototype_filtered,
            Source.FRESH,
            summary="uniform over live servers under 2.0 load/CPU, not swapping",
        ),
        Anchor(
            "greedy-stale", greedy_least_loaded, Source.MDNS, summary="arg-min sessions/capacity on stale TXT"
        ),
        Anchor(
            "x2go-broker",
            x2go_broker,
            Source.POLLED,
            X2GO_POLL_S,
            summary="best memAvail/1000*CPUs*100/loadavg, polled every 300 s",
        ),
        Anchor(
            "ldm-rating", ldm_best_rating, Source.FRESH, summary="best 100-50*load15/8-50*ram_used/ram_total"
        ),
        Anchor(
            "ltsp-cluster",
            ltsp_cluster_weighted,
            Source.POLLED,
            LTSP_CLUSTER_POLL_S,
            summary="random weighted by spare CPU and memory, polled every 60 s",
        ),
    )
}
