"""LDM_LB_ALGORITHM=filtered: drop swapping, slow and overloaded servers, shuffle the rest.

The prototype's option 1. A server is dropped when its load per CPU is above LDM_LB_MAX_LOAD,
it answered later than LDM_LB_MAX_RESPONSE_MS, or it is swapping and LDM_LB_IGNORE_SWAPPING is
true. When that drops every server, the fallback is every server that answered, shuffled: a
slow login beats none.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from ltsp_mesh.core.config.client_settings import ClientSettings
from ltsp_mesh.core.discovery.services import Answered
from ltsp_mesh.core.rank.common import is_avoided_for_swapping, is_slow, taking_logins


def passes(answer: Answered, settings: ClientSettings) -> bool:
    """True when the server is within every limit that filtered applies."""
    return (
        answer.record.load_per_cpu <= settings.max_load_per_cpu
        and not is_slow(answer, settings)
        and not is_avoided_for_swapping(answer, settings)
    )


def rank(
    answered: Sequence[Answered], *, settings: ClientSettings, mac: str, rng: random.Random
) -> list[Answered]:
    """The servers that pass, shuffled; if none passes, every server taking logins, shuffled."""
    up = taking_logins(answered)
    order = [a for a in up if passes(a, settings)] or up
    rng.shuffle(order)
    return order
