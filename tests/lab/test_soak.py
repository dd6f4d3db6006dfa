"""The soak (ltsp_mesh/lab/bench/soak.py): its bookkeeping, then the quick soak in a real lab.

The bookkeeping tests need no lab: they pin what "a dead server printed" means, so that the
lab test's counts mean what they say. The lab test runs `bench soak --quick` (8 daemons, 3
thin clients running the real hook in busybox and dash roots, kills, address changes, spoofed
floods) once for the module, and each test asserts one invariant that holds with or without
the fixes of issue 11. The figures that depend on those fixes (renumbered servers followed,
no fallback) are printed by `ltsp-mesh bench soak`, not asserted here.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ltsp_mesh.lab import chroot as lab_chroot
from ltsp_mesh.lab.bench import soak
from ltsp_mesh.lab.bench.soak_audit import FOLLOW_S, GRACE_S, HookRun, Timeline, audit
from tests.conftest import LabFactory, require_tools

HOMES = {"s1": "10.77.0.10", "s2": "10.77.0.11"}
SPARE = "10.77.0.62"
KILLED_AT = 100.0


def _run(start: float, *printed: str, fell_back: bool = False, took: float = 0.05) -> HookRun:
    return HookRun(client="c1", started=start, ended=start + took, printed=printed, fell_back=fell_back)


def _killed_s1() -> Timeline:
    timeline = Timeline(HOMES, [SPARE])
    timeline.stopped("s1", KILLED_AT)
    return timeline


# -- what "dead" means -----------------------------------------------------------------------


def test_a_killed_server_is_not_dead_within_the_grace() -> None:
    assert not _killed_s1().dead_during("10.77.0.10", KILLED_AT + GRACE_S - 0.1, KILLED_AT + GRACE_S)


def test_a_killed_server_is_dead_past_the_grace() -> None:
    assert _killed_s1().dead_during("10.77.0.10", KILLED_AT + GRACE_S, KILLED_AT + GRACE_S + 0.1)


def test_a_restarted_server_is_alive_from_its_restart() -> None:
    timeline = _killed_s1()
    timeline.started("s1", KILLED_AT + 10)
    assert timeline.down_intervals("10.77.0.10") == [(KILLED_AT, KILLED_AT + 10)]
    assert not timeline.dead_during("10.77.0.10", KILLED_AT + 9.99, KILLED_AT + 10.01)


def test_a_moved_server_leaves_its_old_address_dead_and_takes_the_new_one() -> None:
    timeline = Timeline(HOMES, [SPARE])
    timeline.renumbered("s2", SPARE, KILLED_AT)
    assert timeline.dead_during("10.77.0.11", KILLED_AT + GRACE_S, KILLED_AT + GRACE_S + 1)
    assert not timeline.dead_during(SPARE, KILLED_AT + GRACE_S, KILLED_AT + GRACE_S + 1)


def test_a_spare_address_is_dead_until_a_server_takes_it() -> None:
    assert Timeline(HOMES, [SPARE]).down_intervals(SPARE) == [(-math.inf, math.inf)]


# -- the audit of hook runs --------------------------------------------------------------------


def test_a_broker_answer_listing_a_dead_server_is_counted() -> None:
    found = audit([_run(KILLED_AT + 5, "10.77.0.11", "10.77.0.10")], _killed_s1(), end=KILLED_AT + 60)
    assert [address for _, address in found.dead_in_answers] == ["10.77.0.10"]


def test_a_last_good_list_holding_a_dead_server_is_counted_apart() -> None:
    runs = [_run(KILLED_AT + 5, "10.77.0.10", fell_back=True)]
    found = audit(runs, _killed_s1(), end=KILLED_AT + 60)
    assert (len(found.dead_in_answers), len(found.dead_in_fallbacks), found.fell_back) == (0, 1, 1)


def test_an_address_no_server_ever_had_is_a_stranger() -> None:
    found = audit([_run(1.0, "10.77.0.99")], Timeline(HOMES, [SPARE]), end=60.0)
    assert [address for _, address in found.strangers] == ["10.77.0.99"]


def test_a_run_without_a_line_is_counted() -> None:
    found = audit([_run(1.0), _run(2.0, "10.77.0.10")], Timeline(HOMES), end=60.0)
    assert found.without_a_line == 1


def test_a_move_is_followed_when_an_answer_lists_the_new_address_in_time() -> None:
    timeline = Timeline(HOMES, [SPARE])
    timeline.renumbered("s2", SPARE, KILLED_AT)
    found = audit([_run(KILLED_AT + FOLLOW_S - 1, "10.77.0.10", SPARE)], timeline, end=KILLED_AT + 60)
    assert (found.renumberings, found.followed) == (1, 1)


def test_a_move_is_not_followed_when_the_new_address_comes_late() -> None:
    timeline = Timeline(HOMES, [SPARE])
    timeline.renumbered("s2", SPARE, KILLED_AT)
    runs = [_run(KILLED_AT + FOLLOW_S + 1, "10.77.0.10", SPARE)]
    assert audit(runs, timeline, end=KILLED_AT + 60).followed == 0


def test_a_move_too_close_to_the_end_is_not_judged() -> None:
    timeline = Timeline(HOMES, [SPARE])
    timeline.renumbered("s2", SPARE, KILLED_AT)
    assert audit([], timeline, end=KILLED_AT + FOLLOW_S - 1).renumberings == 0


# -- the quick soak in the lab -----------------------------------------------------------------


@pytest.fixture(scope="module")
def quick(module_lab_factory: LabFactory, tmp_path_factory: pytest.TempPathFactory) -> soak.Result:
    """One quick soak for the module's lab tests (about 70 s on 2 cores)."""
    missing = lab_chroot.missing_tools(soak.FLAVOURS)
    if missing:
        require_tools(*missing, debian="busybox-static dash netcat-openbsd coreutils bsdutils util-linux")
    lab = module_lab_factory(soak.hosts(soak.QUICK))
    return soak.soak(lab, soak.QUICK, Path(tmp_path_factory.mktemp("roots")))


@pytest.mark.lab
def test_the_quick_soak_makes_every_fault_it_plans(quick: soak.Result) -> None:
    # The other tests mean something only if the hooks ran while servers died, moved and were flooded.
    assert quick.audit.runs >= soak.QUICK.clients * soak.QUICK.duration_s / (4 * soak.QUICK.pace_s)
    assert quick.kills >= 3 and quick.renumberings >= 3
    assert quick.sent("stats") > 0 and quick.sent("claims") > 0


@pytest.mark.lab
def test_every_hook_run_in_the_soak_prints_a_line(quick: soak.Result) -> None:
    assert quick.audit.silent == []


@pytest.mark.lab
def test_no_broker_answer_in_the_soak_lists_a_dead_server(quick: soak.Result) -> None:
    assert quick.audit.dead_in_answers == [] and quick.audit.strangers == []


@pytest.mark.lab
def test_daemon_rss_stays_flat_through_the_soak(quick: soak.Result) -> None:
    assert quick.memory, "no daemon ran the whole soak"
    assert quick.worst_rss_growth <= soak.RSS_GROWTH_MIB, {h: m.rss_growth for h, m in quick.memory.items()}


@pytest.mark.lab
def test_daemon_open_fds_stay_flat_through_the_soak(quick: soak.Result) -> None:
    assert quick.memory, "no daemon ran the whole soak"
    assert quick.worst_fd_growth <= soak.FD_GROWTH, {h: m.fd_growth for h, m in quick.memory.items()}
