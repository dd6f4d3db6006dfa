"""core/rank/chooser.py: every server with its status, recommended first, then best first."""

from __future__ import annotations

import random
from collections import Counter

from ltsp_mesh.core.config.client_settings import ClientSettings
from ltsp_mesh.core.rank import chooser
from ltsp_mesh.core.record import ServerState
from ltsp_mesh.core.status import Status, status_of

from .fleet import discovered, names, server

SETTINGS = ClientSettings()
MAC = "00:11:22:33:44:55"
ANSWERED = [
    server("idle-a", sessions=10),
    server("idle-b", sessions=30),
    server("busy", load=5.0, sessions=0),
    server("swapped", swapping=True, sessions=0),
    server("draining", state=ServerState.DRAIN, sessions=0),
    server("slow", response_ms=800.0, sessions=2),
]
SILENT = [discovered("dead1"), discovered("dead0")]
DISCOVERED = [a.discovered for a in ANSWERED] + SILENT


def choices(seed: int = 1) -> list[chooser.Choice]:
    return chooser.choices(
        ANSWERED, discovered=DISCOVERED, settings=SETTINGS, mac=MAC, rng=random.Random(seed)
    )


def labels(lines: list[chooser.Choice]) -> list[str]:
    return [c.discovered.label for c in lines]


def test_lists_every_discovered_server_once() -> None:
    assert sorted(labels(choices())) == sorted(d.label for d in DISCOVERED)


def test_each_status_matches_its_definition() -> None:
    for line in choices():
        assert line.status is status_of(line.answered, SETTINGS)
    by_label = {c.discovered.label: c.status for c in choices()}
    assert by_label == {
        "idle-a": Status.IDLE,
        "idle-b": Status.IDLE,
        "busy": Status.BUSY,
        "slow": Status.BUSY,
        "swapped": Status.SWAPPED,
        "draining": Status.DRAINING,
        "dead0": Status.DOWN,
        "dead1": Status.DOWN,
    }


def test_after_the_recommended_one_servers_go_by_status_then_fill() -> None:
    lines = choices()
    rest = [c for c in lines if not c.recommended]
    best_first = ["idle-a", "idle-b", "busy", "slow", "swapped", "draining", "dead0", "dead1"]
    assert labels(rest) == [n for n in best_first if n != labels(lines)[0]]


def test_only_the_first_line_is_recommended_and_it_has_the_best_status_present() -> None:
    for seed in range(30):
        lines = choices(seed)
        assert lines[0].recommended and not any(c.recommended for c in lines[1:])
        assert lines[0].status is Status.IDLE


def test_recommendation_spreads_like_least_loaded_rather_than_always_the_top() -> None:
    # Three Idle servers: least-loaded is the best of two capacity-weighted draws, so with only
    # two it always recommends the emptier; with three, the middle one is recommended when the
    # emptiest is not drawn, and the fullest never.
    idle = [server("idle-a", sessions=10), server("idle-c", sessions=20), server("idle-b", sessions=30)]
    firsts = Counter(
        labels(chooser.choices(idle, settings=SETTINGS, mac=MAC, rng=random.Random(seed)))[0]
        for seed in range(300)
    )
    assert firsts["idle-a"] > firsts["idle-c"] > firsts["idle-b"] == 0


def test_recommends_a_busy_server_when_none_is_idle() -> None:
    answered = [server("busy", load=5.0), server("dr", state=ServerState.DRAIN)]
    lines = chooser.choices(answered, settings=SETTINGS, mac=MAC, rng=random.Random(0))
    assert (labels(lines), lines[0].recommended) == (["busy", "dr"], True)


def test_recommends_nothing_when_every_server_drains_or_is_down() -> None:
    lines = chooser.choices(
        [server("dr", state=ServerState.DRAIN)],
        discovered=[discovered("gone")],
        settings=SETTINGS,
        mac=MAC,
        rng=random.Random(0),
    )
    assert labels(lines) == ["dr", "gone"] and not any(c.recommended for c in lines)


def test_down_server_shows_its_announced_address() -> None:
    down = next(c for c in choices() if c.status is Status.DOWN)
    assert down.address == down.discovered.addresses[0] and down.answered is None


def test_busy_line_carries_its_reasons() -> None:
    busy = next(c for c in choices() if c.discovered.label == "busy")
    assert busy.reasons == ("load 5.00/CPU is over 2",)


def test_rank_for_the_hook_leaves_out_draining_and_down_servers() -> None:
    for seed in range(30):
        order = names(chooser.rank(ANSWERED, settings=SETTINGS, mac=MAC, rng=random.Random(seed)))
        assert sorted(order) == ["busy", "idle-a", "idle-b", "slow", "swapped"]
        assert set(order[:2]) == {"idle-a", "idle-b"}


def test_no_servers_gives_an_empty_list() -> None:
    assert chooser.choices([], settings=SETTINGS, mac=MAC, rng=random.Random(0)) == []
