"""LDM_LB_ALGORITHM=random: the servers that answered, in random order (the prototype's option 2)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from ltsp_mesh.core.config.client_settings import ClientSettings
from ltsp_mesh.core.discovery.services import Answered
from ltsp_mesh.core.rank.common import taking_logins


def rank(
    answered: Sequence[Answered], *, settings: ClientSettings, mac: str, rng: random.Random
) -> list[Answered]:
    """Every server that answered and takes logins, shuffled; figures are not looked at."""
    order = taking_logins(answered)
    rng.shuffle(order)
    return order
