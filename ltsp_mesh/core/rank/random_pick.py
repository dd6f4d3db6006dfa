"""LDM_LB_ALGORITHM=random: the servers that answered, in random order (the prototype's option 2)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from ltsp_mesh.core.client_settings import ClientSettings
from ltsp_mesh.core.rank.common import taking_logins
from ltsp_mesh.core.services import Answered


def rank(
    answered: Sequence[Answered], *, settings: ClientSettings, mac: str, rng: random.Random
) -> list[Answered]:
    """Every server that answered and takes logins, shuffled; figures are not looked at."""
    order = taking_logins(answered)
    rng.shuffle(order)
    return order
