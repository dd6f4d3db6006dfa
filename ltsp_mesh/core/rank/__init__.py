"""The ranking algorithms of LDM_LB_ALGORITHM, one module each, and the table that picks one."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Final

from ltsp_mesh.core.config.client_settings import Algorithm, ClientSettings
from ltsp_mesh.core.discovery.services import Answered
from ltsp_mesh.core.rank import chooser, filtered, least_loaded, mac_hash, random_pick
from ltsp_mesh.core.rank.common import RankFunction

ALGORITHMS: Final[Mapping[Algorithm, RankFunction]] = {
    Algorithm.RANDOM: random_pick.rank,
    Algorithm.FILTERED: filtered.rank,
    Algorithm.MAC_HASH: mac_hash.rank,
    Algorithm.LEAST_LOADED: least_loaded.rank,
    Algorithm.CHOOSER: chooser.rank,
}
# What a broker ranks with: it counts its own picks at once (least_loaded.INFORMED_CHOICES).
INFORMED_ALGORITHMS: Final[Mapping[Algorithm, RankFunction]] = {
    **ALGORITHMS,
    Algorithm.LEAST_LOADED: least_loaded.rank_informed,
}


def rank(
    answered: Sequence[Answered],
    *,
    settings: ClientSettings,
    mac: str,
    rng: random.Random,
    informed: bool = False,
) -> list[Answered]:
    """The list to print, best first, by the algorithm `settings` names; never a draining server.

    `informed`: the figures already hold every pick the caller made (a broker's view)."""
    table = INFORMED_ALGORITHMS if informed else ALGORITHMS
    return table[settings.algorithm](answered, settings=settings, mac=mac, rng=rng)


__all__ = ["ALGORITHMS", "INFORMED_ALGORITHMS", "RankFunction", "rank"]
