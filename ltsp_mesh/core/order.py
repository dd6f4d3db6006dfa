"""The interim ordering of answered servers: least filled per capacity first.

The selection algorithms of lts.conf (`LDM_LB_ALGORITHM`) replace this; it stays as the plain,
deterministic order that `status` shows.
"""

from __future__ import annotations

from collections.abc import Iterable

from ltsp_mesh.core.record import ServerState
from ltsp_mesh.core.services import Answered


def by_fill(answered: Iterable[Answered]) -> list[Answered]:
    """Servers taking logins, least (sessions + pending) per capacity first, then lowest load."""
    up = [a for a in answered if a.record.state is ServerState.UP]
    return sorted(up, key=lambda a: (a.record.fill, a.record.load_per_cpu, a.address))
