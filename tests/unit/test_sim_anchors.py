"""core/sim/anchors.py: the other systems' rules, on known inputs."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from ltsp_mesh.core.sim.anchors import (
    ANCHORS,
    Source,
    greedy_least_loaded,
    ldm_best_rating,
    ldm_rating,
    ltsp_cluster_weight,
    ltsp_cluster_weighted,
    prototype_filtered,
    pure_random,
    x2go_broker,
    x2go_load_factor,
)
from ltsp_mesh.core.sim.servers import Figures


def figures(
    index: int,
    *,
    cpus: int = 8,
    capacity: int = 8,
    sessions: int = 0,
    load1: float = 1.0,
    load15: float = 1.0,
    total: int = 16000,
    used: int = 4000,
) -> Figures:
    return Figures(index, cpus, capacity, sessions, load1, load15, total, used)


def test_the_six_anchors_of_the_issue_are_all_there() -> None:
    assert list(ANCHORS) == [
        "pure-random",
        "prototype-filtered",
        "greedy-stale",
        "x2go-broker",
        "ldm-rating",
        "ltsp-cluster",
    ]


def test_anchor_sources_match_how_each_system_gets_its_figures() -> None:
    sources = {name: (a.source, a.poll_s) for name, a in ANCHORS.items()}
    assert sources["greedy-stale"] == (Source.MDNS, 0.0)
    assert sources["x2go-broker"] == (Source.POLLED, 300.0)
    assert sources["ldm-rating"][0] is Source.FRESH


def test_x2go_load_factor_is_mem_avail_over_1000_times_cpus_times_100_over_loadavg() -> None:
    assert x2go_load_factor(figures(0, cpus=8, total=16000, used=6000, load1=2.0)) == pytest.approx(4000.0)


def test_x2go_load_factor_floors_an_idle_loadavg_at_0_01() -> None:
    assert x2go_load_factor(figures(0, cpus=1, total=2000, used=1000, load1=0.0)) == pytest.approx(10000.0)


def test_ldm_rating_is_100_minus_50_load15_over_8_minus_50_ram_used_share() -> None:
    assert ldm_rating(figures(0, load15=4.0, total=16000, used=8000)) == pytest.approx(50.0)
    assert ldm_rating(figures(0, load15=0.0, total=16000, used=0)) == pytest.approx(100.0)


def test_ltsp_cluster_weight_is_cpus_times_free_memory_share_times_spare_cpu() -> None:
    assert ltsp_cluster_weight(figures(0, cpus=8, load1=8.0, total=16000, used=8000)) == pytest.approx(2.0)
    assert ltsp_cluster_weight(figures(0, cpus=8, load1=40.0)) == 0.0


def test_greedy_takes_the_lowest_fill_then_the_lowest_load_then_the_first_listed() -> None:
    rng = random.Random(0)
    assert greedy_least_loaded([figures(0, sessions=9), figures(1, sessions=4)], rng) == 1
    assert (
        greedy_least_loaded(
            [figures(0, sessions=8, capacity=8), figures(1, sessions=16, capacity=16, load1=0.5)], rng
        )
        == 1
    )
    assert greedy_least_loaded([figures(3), figures(1), figures(2)], rng) == 1


def test_x2go_takes_the_best_factor_and_ldm_the_best_rating() -> None:
    rng = random.Random(0)
    assert x2go_broker([figures(0, load1=4.0), figures(1, load1=1.0), figures(2, load1=2.0)], rng) == 1
    assert ldm_best_rating([figures(0, used=9000), figures(1, used=2000), figures(2, used=5000)], rng) == 1
    assert ldm_best_rating([figures(5), figures(4)], rng) == 4


def test_prototype_drops_servers_over_2_per_cpu_or_swapping_and_falls_back_to_all() -> None:
    hot, swapping, ok = figures(0, load1=17.0), figures(1, used=17000), figures(2)
    assert {prototype_filtered([hot, swapping, ok], random.Random(s)) for s in range(50)} == {2}
    assert {prototype_filtered([hot, swapping], random.Random(s)) for s in range(50)} == {0, 1}


def test_pure_random_is_uniform_whatever_the_figures() -> None:
    servers = [figures(0, sessions=100), figures(1), figures(2, cpus=64, capacity=64), figures(3)]
    rng = random.Random(1)
    picks = Counter(pure_random(servers, rng) for _ in range(4000))
    assert all(900 < picks[i] < 1100 for i in range(4))


def test_ltsp_cluster_draws_in_proportion_to_its_weight_and_uniformly_when_all_are_zero() -> None:
    rng = random.Random(2)
    busy, idle = figures(0, load1=8.0, used=8000), figures(1, load1=0.0, used=0)  # weights 2 and 8
    picks = Counter(ltsp_cluster_weighted([busy, idle], rng) for _ in range(5000))
    assert 0.17 < picks[0] / 5000 < 0.23
    full = [figures(0, load1=80.0), figures(1, load1=80.0)]
    assert {ltsp_cluster_weighted(full, random.Random(s)) for s in range(40)} == {0, 1}


def test_every_anchor_picks_nothing_from_no_servers() -> None:
    assert all(anchor.pick([], random.Random(0)) is None for anchor in ANCHORS.values())
