"""core/rank/__init__.py: the ALGORITHMS table, the dispatcher, and what every algorithm keeps."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltsp_mesh.core.config.client_settings import Algorithm, ClientSettings
from ltsp_mesh.core.discovery.services import Answered
from ltsp_mesh.core.rank import ALGORITHMS, filtered, mac_hash, rank
from ltsp_mesh.core.record import ServerState

from .fleet import fleets, names, server

MAC = "00:11:22:33:44:55"
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_every_algorithm_name_has_a_function() -> None:
    assert set(ALGORITHMS) == set(Algorithm)


def test_rank_uses_the_algorithm_the_settings_name() -> None:
    answered = [server(f"s{i}", sessions=i) for i in range(6)]
    settings_ = ClientSettings(algorithm=Algorithm.MAC_HASH)
    expected = mac_hash.rank(answered, settings=settings_, mac=MAC, rng=random.Random(0))
    assert rank(answered, settings=settings_, mac=MAC, rng=random.Random(9)) == expected


def taking_logins(answered: list[Answered]) -> list[str]:
    return sorted(a.record.server_id for a in answered if a.record.state is ServerState.UP)


@PROPERTY
@given(fleets(), st.sampled_from(Algorithm), st.integers(0, 2**32))
def test_every_algorithm_returns_servers_taking_logins_each_once(
    answered: list[Answered], algorithm: Algorithm, seed: int
) -> None:
    settings_ = ClientSettings(algorithm=algorithm)
    order = names(rank(answered, settings=settings_, mac=MAC, rng=random.Random(seed)))
    assert len(order) == len(set(order))
    if algorithm is Algorithm.FILTERED:
        # The documented subset: those that pass, or every server taking logins when none does.
        passing = sorted(
            a.record.server_id
            for a in answered
            if a.record.state is ServerState.UP and filtered.passes(a, settings_)
        )
        assert sorted(order) == (passing or taking_logins(answered))
    else:
        assert sorted(order) == taking_logins(answered)


@PROPERTY
@given(fleets(min_size=1), st.sampled_from(Algorithm), st.integers(0, 2**32))
def test_no_algorithm_ever_lists_a_draining_server(
    answered: list[Answered], algorithm: Algorithm, seed: int
) -> None:
    order = rank(answered, settings=ClientSettings(algorithm=algorithm), mac=MAC, rng=random.Random(seed))
    assert all(a.record.state is ServerState.UP for a in order)
