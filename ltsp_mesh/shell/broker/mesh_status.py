"""The mesh as the broker sees it, for people and Prometheus: every server with its status.

Read from the LiveView as it is, with no I/O and no await, so the status page and /metrics
never hold the broker up: the servers in its view answered its last direct query (Idle, Busy,
Swapped or Draining, by the same rules as `ltsp-mesh status`); a server it browses but did not
hear is Down, or Untrusted (with why) when its TXT fails the trust check; one without
ltsp-mesh figures is Unmeasured. Statuses use the lts.conf defaults (LDM_LB_MAX_LOAD 2.0 ...):
a broker serves many clients and knows none's lts.conf.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.core.config.client_settings import ClientSettings
from ltsp_mesh.core.discovery import services
from ltsp_mesh.core.discovery.services import Answered, Discovered
from ltsp_mesh.core.record import ServerRecord
from ltsp_mesh.core.view import mesh
from ltsp_mesh.core.view.mesh import ServerView
from ltsp_mesh.shell.broker.live_view import LiveView

DEFAULTS: Final = ClientSettings()
# The view's figures stand for a server's fill in the history while they are this fresh; an
# idle broker asks nobody, and the announced TXT (kept current by mDNS at no cost) stands in.
VIEW_FRESH_FOR_HISTORY_S: Final = 5.0
NO_MAC: Final = "00:00:00:00:00:00"


@dataclass(frozen=True, slots=True)
class MeshStatus:
    """One look at the mesh: the rows (recommended first), and what the page and metrics add."""

    rows: list[ServerView]
    answered: list[tuple[str, Answered]]
    view_age_s: float | None
    fair_share: float | None


# What a daemon with no address (so no view of the mesh) shows.
NOTHING: Final = MeshStatus(rows=[], answered=[], view_age_s=None, fair_share=None)


def fair_share(records: list[ServerRecord]) -> float | None:
    """The fill every server would have with the logins spread in proportion to capacity."""
    capacity = sum(r.capacity for r in records)
    return sum(r.sessions + r.pending for r in records) / capacity if capacity else None


def _address(server: Discovered, live: LiveView) -> str:
    return services.choose_address(server.addresses, live.networks) or (server.addresses or ("",))[0]


def look(live: LiveView, now: float, wall_now: float) -> MeshStatus:
    """The mesh now (`now` on the loop's clock, `wall_now` for signature ages)."""
    answered = live.view.servers(now)
    heard = {key for key, _ in answered}
    silent: list[Discovered] = []
    unmeasured: list[tuple[Discovered, str]] = []
    untrusted: list[tuple[Discovered, str, str]] = []
    for key, server in list(live.discovered.items()):
        if key in heard:
            continue
        address = _address(server, live)
        if server.announced is None:
            unmeasured.append((server, address))
            continue
        why = live.policy.ask(server, address, wall_now)
        if why:
            untrusted.append((server, address, why))
        else:
            silent.append(server)
    rows = mesh.build(
        [a for _, a in answered],
        silent,
        unmeasured,
        untrusted,
        settings=DEFAULTS,
        mac=NO_MAC,
        # The same figures recommend the same server at every look: the page does not flicker.
        rng=random.Random(0),
    )
    age = live.view.age_s(now)
    return MeshStatus(
        rows=rows,
        answered=answered,
        view_age_s=age if math.isfinite(age) else None,
        fair_share=fair_share([a.record for _, a in answered]),
    )


def fills(live: LiveView, now: float, wall_now: float) -> tuple[dict[str, float], float | None]:
    """Each trusted server's fill for the history, and the fair share: from the view while it
    is fresh, else from the announced TXT records (no query sent either way)."""
    records: dict[str, ServerRecord] = {}
    if live.view.age_s(now) < VIEW_FRESH_FOR_HISTORY_S:
        records = {a.discovered.label: a.record for _, a in live.view.servers(now)}
    else:
        for server in list(live.discovered.values()):
            if server.announced is not None and not live.policy.ask(server, _address(server, live), wall_now):
                records[server.label] = server.announced
    return {name: r.fill for name, r in records.items()}, fair_share(list(records.values()))
