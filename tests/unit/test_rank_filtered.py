"""core/rank/filtered.py: skip swapping, slow and overloaded servers; fall back to any responder."""

from __future__ import annotations

import math
import random

from ltsp_mesh.core.config.client_settings import ClientSettings
from ltsp_mesh.core.discovery.services import Answered
from ltsp_mesh.core.rank import filtered
from ltsp_mesh.core.record import ServerState

from .fleet import first_picks, names, server

SETTINGS = ClientSettings(max_load_per_cpu=2.0, max_response_ms=250.0, ignore_swapping=True)
MAC = "00:11:22:33:44:55"


def ranked(answered: list[Answered], settings: ClientSettings = SETTINGS, seed: int = 1) -> list[str]:
    return names(filtered.rank(answered, settings=settings, mac=MAC, rng=random.Random(seed)))


def test_skips_a_swapping_server() -> None:
    assert ranked([server("ok"), server("swap", swapping=True)]) == ["ok"]


def test_keeps_a_swapping_server_when_ignore_swapping_is_false() -> None:
    settings = ClientSettings(ignore_swapping=False)
    assert sorted(ranked([server("ok"), server("swap", swapping=True)], settings)) == ["ok", "swap"]


def test_skips_a_server_slower_than_max_response_ms() -> None:
    assert ranked([server("ok", response_ms=20.0), server("slow", response_ms=251.0)]) == ["ok"]


def test_skips_a_server_above_max_load_per_cpu() -> None:
    assert ranked([server("ok", load=1.9), server("hot", load=2.01)]) == ["ok"]


def test_server_exactly_at_the_limits_passes() -> None:
    assert ranked([server("edge", load=2.0, response_ms=250.0)]) == ["edge"]


def test_limits_come_from_the_settings() -> None:
    settings = ClientSettings(max_load_per_cpu=0.5, max_response_ms=10.0)
    answered = [
        server("cool", load=0.4, response_ms=5.0),
        server("warm", load=0.6),
        server("far", response_ms=11.0),
    ]
    assert ranked(answered, settings) == ["cool"]


def test_falls_back_to_every_responder_when_none_passes() -> None:
    answered = [server("swap", swapping=True), server("slow", response_ms=900.0), server("hot", load=9.0)]
    assert sorted(ranked(answered)) == ["hot", "slow", "swap"]


def test_fallback_picks_at_random_among_responders() -> None:
    answered = [server("swap", swapping=True), server("slow", response_ms=900.0), server("hot", load=9.0)]
    picks = first_picks(lambda rng: filtered.rank(answered, settings=SETTINGS, mac=MAC, rng=rng), 600)
    assert all(picks[n] > 120 for n in ("swap", "slow", "hot"))


def test_fallback_never_lists_a_draining_server() -> None:
    answered = [server("swap", swapping=True), server("dr", state=ServerState.DRAIN)]
    assert ranked(answered) == ["swap"]


def test_draining_server_is_skipped_even_when_healthy() -> None:
    assert ranked([server("dr", state=ServerState.DRAIN), server("ok", load=1.0)]) == ["ok"]


def test_nothing_taking_logins_gives_an_empty_list() -> None:
    assert ranked([server("dr", state=ServerState.DRAIN)]) == []


def test_servers_that_pass_are_first_equally_often_within_3_5_sd() -> None:
    answered = [
        server("a", sessions=2),
        server("b", sessions=40),
        server("c", load=1.5),
        server("x", swapping=True),
    ]
    picks = first_picks(lambda rng: filtered.rank(answered, settings=SETTINGS, mac=MAC, rng=rng), 1000)
    tolerance = 3.5 * math.sqrt((1 / 3) * (2 / 3) / 1000)
    assert picks["x"] == 0 and all(abs(picks[n] / 1000 - 1 / 3) < tolerance for n in "abc")
