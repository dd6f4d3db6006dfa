"""core/rank/random_pick.py: every responder taking logins, shuffled; nothing else."""

from __future__ import annotations

import math
import random

from ltsp_mesh.core.config.client_settings import ClientSettings
from ltsp_mesh.core.rank import random_pick
from ltsp_mesh.core.record import ServerState

from .fleet import discovered, first_picks, names, server

SETTINGS = ClientSettings()
MAC = "00:11:22:33:44:55"


def test_never_lists_a_server_that_did_not_answer() -> None:
    found = [discovered(n) for n in ("r1", "r2", "r3", "r4", "r5")]
    answered = [server("r2"), server("r4")]
    for seed in range(50):
        order = random_pick.rank(answered, settings=SETTINGS, mac=MAC, rng=random.Random(seed))
        assert {a.discovered.instance for a in order} <= {d.instance for d in found[1::2]}


def test_lists_every_responder_taking_logins_once() -> None:
    answered = [server(f"r{i}") for i in range(6)]
    order = random_pick.rank(answered, settings=SETTINGS, mac=MAC, rng=random.Random(1))
    assert sorted(names(order)) == sorted(names(answered))


def test_never_lists_a_draining_server() -> None:
    answered = [server("up1"), server("dr", state=ServerState.DRAIN), server("up2")]
    for seed in range(50):
        assert "dr" not in names(
            random_pick.rank(answered, settings=SETTINGS, mac=MAC, rng=random.Random(seed))
        )


def test_each_server_is_first_equally_often_within_3_5_sd_over_1000_decisions() -> None:
    answered = [server(f"r{i}", sessions=10 * i) for i in range(4)]
    picks = first_picks(lambda rng: random_pick.rank(answered, settings=SETTINGS, mac=MAC, rng=rng), 1000)
    tolerance = 3.5 * math.sqrt(0.25 * 0.75 / 1000)
    assert all(abs(picks[n] / 1000 - 0.25) < tolerance for n in names(answered))


def test_figures_are_not_looked_at() -> None:
    answered = [server("ok"), server("awful", load=50.0, swapping=True, response_ms=3000.0, sessions=900)]
    picks = first_picks(lambda rng: random_pick.rank(answered, settings=SETTINGS, mac=MAC, rng=rng), 200)
    assert picks["awful"] > 50


def test_same_seed_gives_same_order() -> None:
    answered = [server(f"r{i}") for i in range(8)]
    first = random_pick.rank(answered, settings=SETTINGS, mac=MAC, rng=random.Random(42))
    assert random_pick.rank(answered, settings=SETTINGS, mac=MAC, rng=random.Random(42)) == first
