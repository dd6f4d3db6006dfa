"""What every ranking algorithm shares: its signature, and which servers may be handed out.

Rule kept here for all algorithms: a draining server (`st=drain`) is never in the list an
algorithm returns, so the hook can never hand it out for a new login. Only the chooser's status
view (`chooser.choices`) shows it, last, as Draining.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Protocol

from ltsp_mesh.core.config.client_settings import ClientSettings
from ltsp_mesh.core.discovery.services import Answered
from ltsp_mesh.core.record import ServerState


class RankFunction(Protocol):
    """An algorithm: the servers that answered -> the list to print, best first (first = the pick).

    `mac` is the client's MAC (only mac-hash reads it); `rng` is the only source of chance.
    The result is a permutation of the servers taking logins, or a documented subset of them.
    """

    def __call__(
        self, answered: Sequence[Answered], *, settings: ClientSettings, mac: str, rng: random.Random
    ) -> list[Answered]: ...


def taking_logins(answered: Iterable[Answered]) -> list[Answered]:
    """The servers that take new logins (state up), in the order given."""
    return [a for a in answered if a.record.state is ServerState.UP]


def is_slow(answer: Answered, settings: ClientSettings) -> bool:
    """True when the server answered later than LDM_LB_MAX_RESPONSE_MS."""
    return answer.response_ms > settings.max_response_ms


def is_avoided_for_swapping(answer: Answered, settings: ClientSettings) -> bool:
    """True when the server is swapping and LDM_LB_IGNORE_SWAPPING asks to skip such servers."""
    return settings.ignore_swapping and answer.record.swapping
