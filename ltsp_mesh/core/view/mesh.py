"""What people see of the mesh: every server with its status, the recommended one first.

One view for `status`, `status --watch` and the greeter feed, built from one survey: the
servers that answered (by status, recommended first), the silent ones (Down) and the hosts that
announce no ltsp-mesh figures (Unmeasured). The feed's message format is this view, versioned.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from ltsp_mesh.core.config.client_settings import ClientSettings
from ltsp_mesh.core.discovery.services import Answered, Discovered
from ltsp_mesh.core.rank import chooser
from ltsp_mesh.core.record import ServerRecord

VIEW_VERSION: Final = 1
UNMEASURED: Final = "Unmeasured"
UNTRUSTED: Final = "Untrusted"


@dataclass(frozen=True, slots=True)
class ServerView:
    """One server as people see it."""

    name: str
    address: str
    status: str  # Idle, Busy, Swapped, Draining, Down, Unmeasured
    recommended: bool
    record: ServerRecord | None
    response_ms: float | None
    reasons: tuple[str, ...] = ()


def build(
    answered: Sequence[Answered],
    silent: Sequence[Discovered],
    unmeasured: Sequence[tuple[Discovered, str]],
    untrusted: Sequence[tuple[Discovered, str, str]] = (),
    *,
    settings: ClientSettings,
    mac: str,
    rng: random.Random,
) -> list[ServerView]:
    """The view: chooser's order (recommended first, then by status and fill), then Unmeasured,
    then Untrusted (with why: these are never handed out)."""
    rows = [
        ServerView(
            name=choice.discovered.label,
            address=choice.address,
            status=choice.status.value,
            recommended=choice.recommended,
            record=choice.answered.record if choice.answered else choice.discovered.announced,
            response_ms=choice.answered.response_ms if choice.answered else None,
            reasons=choice.reasons,
        )
        for choice in chooser.choices(answered, discovered=silent, settings=settings, mac=mac, rng=rng)
    ]
    rows += [
        ServerView(d.label, address, UNMEASURED, False, None, None)
        for d, address in sorted(unmeasured, key=lambda u: u[0].instance)
    ]
    rows += [
        ServerView(d.label, address, UNTRUSTED, False, None, None, (reason,))
        for d, address, reason in sorted(untrusted, key=lambda u: u[0].instance)
    ]
    return rows


def to_message(rows: Sequence[ServerView], at: float) -> dict[str, Any]:
    """The view as a plain map (the greeter feed's message and `status --json`)."""
    servers = []
    for row in rows:
        entry: dict[str, Any] = {
            "name": row.name,
            "address": row.address,
            "status": row.status,
            "recommended": row.recommended,
            "response_ms": row.response_ms,
        }
        if row.record is not None:
            r = row.record
            entry.update(
                sessions=r.sessions,
                pending=r.pending,
                capacity=r.capacity,
                fill=round(r.fill, 3),
                load=r.load_per_cpu,
                cpus=r.cpus,
                mem=r.mem_percent,
                swapping=r.swapping,
                id=r.server_id,
            )
        if row.reasons:
            entry["reasons"] = list(row.reasons)
        servers.append(entry)
    return {"v": VIEW_VERSION, "at": at, "servers": servers}
