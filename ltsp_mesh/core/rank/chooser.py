"""LDM_LB_ALGORITHM=chooser: every server best first, each with its status, for a person.

`choices` is the full view (the status command and the hook's chooser use it): servers taking
logins by status (Idle, Busy, Swapped), then Draining, then Down; within a status by fill, load
per CPU, answer time, address. The recommended server comes first: least-loaded's pick among
the servers of the best status present, so that people who just press Enter spread over the
servers the way least-loaded clients do, instead of all taking the one at the top.

`rank` is what the hook prints: the same order without the Draining and Down servers (LDM
must never be handed a server that refuses logins, and each dead host costs it 5 s).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from ltsp_mesh.core.config.client_settings import ClientSettings
from ltsp_mesh.core.discovery.services import Answered, Discovered
from ltsp_mesh.core.rank import least_loaded
from ltsp_mesh.core.status import RANK, Status, busy_reasons, status_of


@dataclass(frozen=True, slots=True)
class Choice:
    """One line of the chooser: a discovered server, its answer (None when Down) and status."""

    discovered: Discovered
    answered: Answered | None
    status: Status
    reasons: tuple[str, ...] = ()
    recommended: bool = False

    @property
    def address(self) -> str:
        """The address that answered, or the first announced one for a Down server."""
        if self.answered is not None:
            return self.answered.address
        return self.discovered.addresses[0] if self.discovered.addresses else ""


def _key(name: str) -> str:
    return name.lower().rstrip(".")


def _best_first(choice: Choice) -> tuple[int, float, float, float, str]:
    if choice.answered is None:
        return (RANK[choice.status], 0.0, 0.0, 0.0, choice.discovered.label.lower())
    record = choice.answered.record
    return (
        RANK[choice.status],
        record.fill,
        record.load_per_cpu,
        choice.answered.response_ms,
        choice.address,
    )


def choices(
    answered: Sequence[Answered],
    *,
    discovered: Sequence[Discovered] = (),
    settings: ClientSettings,
    mac: str,
    rng: random.Random,
) -> list[Choice]:
    """Every server, recommended first, then best first; `discovered` adds those that stayed silent."""
    lines = [Choice(a.discovered, a, status_of(a, settings), busy_reasons(a, settings)) for a in answered]
    heard = {_key(a.discovered.instance) for a in answered}
    lines += [Choice(d, None, Status.DOWN) for d in discovered if _key(d.instance) not in heard]
    lines.sort(key=_best_first)
    for status in (Status.IDLE, Status.BUSY, Status.SWAPPED):
        group = [c for c in lines if c.status is status]
        if group:
            pick = least_loaded.order([c.answered for c in group if c.answered is not None], rng=rng)[0]
            chosen = next(c for c in group if c.answered is pick)
            lines.remove(chosen)
            lines.insert(0, Choice(chosen.discovered, pick, status, chosen.reasons, recommended=True))
            break
    return lines


def rank(
    answered: Sequence[Answered], *, settings: ClientSettings, mac: str, rng: random.Random
) -> list[Answered]:
    """The chooser's order without Draining and Down servers: what the hook may print."""
    return [
        c.answered
        for c in choices(answered, settings=settings, mac=mac, rng=rng)
        if c.answered is not None and c.status not in (Status.DRAINING, Status.DOWN)
    ]
