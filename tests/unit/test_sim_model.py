"""core/sim/model.py: the event model, seeded and deterministic, deciding with the hook's own ranking."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

import pytest

from ltsp_mesh.core.config.client_settings import ClientSettings
from ltsp_mesh.core.discovery.services import Answered
from ltsp_mesh.core.rank import rank as real_rank
from ltsp_mesh.core.sim import model
from ltsp_mesh.core.sim.model import CONTENDERS, simulate
from ltsp_mesh.core.sim.scenarios import MARGOT, Scenario, ServerSpec

SMALL = Scenario(
    name="small",
    title="small storm",
    servers=(
        ServerSpec("a", cpus=4, mem_mib=12288),
        ServerSpec("b", cpus=8, mem_mib=24576),
        ServerSpec("c", cpus=12, mem_mib=36864),
    ),
    clients=120,
    boot_window_s=(0.0, 60.0),
    end_s=400.0,
)


def crashing(boot_window_s: tuple[float, float] = (0.0, 10.0), mdns_forget_s: float = 1125.0) -> Scenario:
    """SMALL where server `a` dies at 50 s and every user types for 100 s."""
    servers = (dataclasses.replace(SMALL.servers[0], dies_at_s=50.0),) + SMALL.servers[1:]
    return dataclasses.replace(
        SMALL,
        servers=servers,
        boot_window_s=boot_window_s,
        typing_s=(100.0, 100.0),
        mdns_forget_s=mdns_forget_s,
    )


def test_same_seed_gives_the_same_run_to_the_last_login() -> None:
    assert simulate(SMALL, "least-loaded", 7) == simulate(SMALL, "least-loaded", 7)


def test_different_seeds_give_different_runs() -> None:
    assert simulate(SMALL, "least-loaded", 1).logins != simulate(SMALL, "least-loaded", 2).logins


def test_every_contender_is_deterministic_and_logs_every_client_in_once() -> None:
    for contender in CONTENDERS:
        run = simulate(MARGOT, contender, 3)
        assert run == simulate(MARGOT, contender, 3), contender
        assert sorted(login.client for login in run.logins) == list(range(MARGOT.clients)), contender


def test_contenders_face_the_same_morning_boot_and_typing_times() -> None:
    runs = [simulate(SMALL, c, 5) for c in ("least-loaded", "random", "greedy-stale")]
    login_times = [sorted((login.client, login.at_s) for login in run.logins) for run in runs]
    assert login_times[0] == login_times[1] == login_times[2]


def test_sessions_start_after_typing_and_within_the_boot_window_plus_typing() -> None:
    run = simulate(SMALL, "random", 1)
    assert all(SMALL.typing_s[0] <= login.at_s <= 60.0 + SMALL.typing_s[1] for login in run.logins)


def test_history_has_one_entry_per_5_s_tick_for_every_server() -> None:
    run = simulate(SMALL, "least-loaded", 1)
    assert {len(s) for s in run.sessions} == {int(SMALL.end_s / 5) + 1}
    assert [s[-1] for s in run.sessions] == [sum(1 for x in run.logins if x.server == i) for i in range(3)]


def test_unknown_contender_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not one of"):
        simulate(SMALL, "round-robin", 1)


def test_ltsp_mesh_algorithms_decide_through_the_hooks_rank_with_claims_seen_after_their_delay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every client types for exactly 10 s and its claim arrives 0.5 s after the figures it was
    # given: at each decision the servers must report, in all, the claims of the clients that
    # booted between 10 s and 0.5 s before, and the sessions of those that booted earlier.
    scenario = dataclasses.replace(SMALL, claim_delay_s=(0.5, 0.5), typing_s=(10.0, 10.0))
    seen: list[tuple[int, int]] = []

    def spy(
        answered: Sequence[Answered], *, settings: ClientSettings, mac: str, rng: random.Random
    ) -> list[Answered]:
        seen.append((sum(a.record.pending for a in answered), sum(a.record.sessions for a in answered)))
        return real_rank(answered, settings=settings, mac=mac, rng=rng)

    monkeypatch.setattr(model, "rank", spy)
    run = simulate(scenario, "least-loaded", 4)
    boots = sorted(login.at_s - 10.0 for login in run.logins)
    assert len(seen) == len(boots) == scenario.clients
    for boot, (pending, sessions) in zip(boots, seen, strict=True):
        assert pending == sum(1 for b in boots if b + 0.5 <= boot < b + 10.0)
        assert sessions == sum(1 for b in boots if b + 10.0 <= boot)


def test_anchors_send_no_claims_and_mesh_algorithms_one_per_decision() -> None:
    assert simulate(SMALL, "greedy-stale", 1).claims == 0
    run = simulate(SMALL, "mac-hash", 1)
    assert run.claims == run.hooks == SMALL.clients


def test_login_to_a_server_that_died_after_the_pick_is_counted_and_retried_elsewhere() -> None:
    run = simulate(crashing(), "mac-hash", 1)
    assert run.dead_logins > 0
    assert sorted(login.client for login in run.logins) == list(range(SMALL.clients))
    assert all(login.server != 0 for login in run.logins)


def test_mac_hash_dead_logins_are_exactly_the_clients_that_hash_to_the_dead_server() -> None:
    scenario = crashing()
    with_a = simulate(dataclasses.replace(scenario, servers=SMALL.servers), "mac-hash", 1)
    hashed_to_a = sum(1 for login in with_a.logins if login.server == 0)
    assert simulate(scenario, "mac-hash", 1).dead_logins == hashed_to_a > 0


def test_a_server_that_dies_loses_its_sessions_and_its_users_log_in_again_elsewhere() -> None:
    servers = (dataclasses.replace(SMALL.servers[0], dies_at_s=200.0),) + SMALL.servers[1:]
    run = simulate(dataclasses.replace(SMALL, servers=servers, end_s=600.0), "least-loaded", 2)
    lost = {login.client for login in run.logins if login.server == 0}
    again = [login for login in run.logins if login.client in lost and login.at_s > 200.0]
    assert lost and {login.client for login in again} == lost and all(x.server != 0 for x in again)
    assert run.sessions[0][-1] == 0 and sum(s[-1] for s in run.sessions) == SMALL.clients


def test_mdns_anchors_still_pick_a_dead_server_until_the_cache_forgets_it() -> None:
    scenario = crashing(boot_window_s=(60.0, 70.0))
    assert simulate(scenario, "pure-random", 1).dead_logins > 0
    assert simulate(crashing((60.0, 70.0), mdns_forget_s=0.0), "pure-random", 1).dead_logins == 0
    assert simulate(scenario, "random", 1).dead_logins == 0  # ltsp-mesh lists only servers that answered


def test_a_server_that_joins_takes_logins_only_after_it_boots() -> None:
    servers = SMALL.servers + (ServerSpec("late", cpus=16, mem_mib=49152, joins_at_s=30.0),)
    run = simulate(dataclasses.replace(SMALL, servers=servers), "least-loaded", 1)
    late = [login for login in run.logins if login.server == 3]
    assert late and min(login.at_s for login in late) >= 30.0 + SMALL.typing_s[0]
    assert not any(run.alive[3][: int(30.0 / 5)])


def test_greedy_stale_herds_a_whole_staleness_window_onto_one_server() -> None:
    scenario = dataclasses.replace(SMALL, boot_window_s=(0.0, 5.0))
    assert len({login.server for login in simulate(scenario, "greedy-stale", 1).logins}) == 1
    assert len({login.server for login in simulate(scenario, "least-loaded", 1).logins}) == 3
