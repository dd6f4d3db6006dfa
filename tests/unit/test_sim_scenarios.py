"""core/sim/scenarios.py: the four named scenarios are what the issue describes, and values validate."""

from __future__ import annotations

import dataclasses

import pytest

from ltsp_mesh.core.sim.scenarios import ADD_SERVER, CRASH, MARGOT, RUDOLFO, SCENARIOS, ServerSpec


def test_the_four_named_scenarios() -> None:
    assert list(SCENARIOS) == ["rudolfo", "margot", "add-server", "crash"]


def test_rudolfo_is_1400_clients_within_2_minutes_on_30_mixed_servers_with_10_s_stale_txt() -> None:
    assert RUDOLFO.clients == 1400 and RUDOLFO.boot_window_s == (0.0, 120.0)
    assert len(RUDOLFO.servers) == 30 and len({s.cpus for s in RUDOLFO.servers}) > 1
    assert RUDOLFO.txt_staleness_s == 10.0 and RUDOLFO.change_at_s is None


def test_margot_is_17_clients_on_3_desktops_of_different_sizes() -> None:
    assert MARGOT.clients == 17 and len({s.cpus for s in MARGOT.servers}) == 3 == len(MARGOT.servers)


def test_add_server_boots_a_server_mid_morning_and_crash_kills_one_at_10() -> None:
    assert [s.name for s in ADD_SERVER.servers if s.joins_at_s > 0] == ["app31"]
    assert ADD_SERVER.change_at_s == 7200.0 and ADD_SERVER.clock(7200.0) == "10:00"
    assert [s.name for s in CRASH.servers if s.dies_at_s is not None] == ["app07"]
    assert CRASH.change_at_s == 7200.0 and len(CRASH.servers) == 30


def test_capacity_defaults_to_the_cpu_count() -> None:
    assert ServerSpec("x", cpus=12, mem_mib=1).weight == 12
    assert ServerSpec("x", cpus=12, mem_mib=1, capacity=5).weight == 5


def test_clock_wraps_past_midnight() -> None:
    assert dataclasses.replace(MARGOT, clock_start="23:30").clock(3600.0) == "00:30"


@pytest.mark.parametrize(
    "changes",
    [
        {"clients": 0},
        {"typing_s": (5.0, 1.0)},
        {"idle_share": 1.5},
        {"claim_ttl_s": 0.0},
        {"servers": ()},
        {"end_s": 0.0},
    ],
)
def test_impossible_scenarios_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(MARGOT, **changes)  # type: ignore[arg-type]  # the point is a bad value


def test_duplicate_server_names_and_a_death_before_the_boot_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        dataclasses.replace(MARGOT, servers=(MARGOT.servers[0], MARGOT.servers[0]))
    with pytest.raises(ValueError, match="after"):
        ServerSpec("x", cpus=1, mem_mib=1, joins_at_s=10.0, dies_at_s=5.0)
