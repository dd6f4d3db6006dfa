"""Broker mode and the oracle, as the simulator runs them beside the client-side algorithms.

Broker mode (`broker`, `brokers-3`): a thin client asks a broker, which ranks for it. Each
broker is the real pure view (`ltsp_mesh.core.broker.view.MeshView`) driven the way `serve`
drives it:
- a request finds the view due (`needs_refresh`): the broker reads every live server's figures
  as they are now (sessions, and the claims that have reached its ledger) and the refresh takes
  effect at once; a server that is down is not in it, so it is never handed out afterwards;
- it decides with the broker's own `core.broker.answer.listed` over `view.servers(now)` (the
  last answers, its own picks in flight added to `pend`; least-loaded with the informed rule,
  rank.INFORMED_ALGORITHMS), counts the first server as the client's pick at once, and
  sends that server a claim for the client (the model delivers it `claim_delay_s` later);
- the server's reply to the claim comes back after the same delay again (a round trip over the
  same path) and replaces the server's figures in the view (`acknowledge`).
Between a refresh and a server's death the view still lists it, as the real broker's does:
such picks end as dead logins, counted like any other.

Several brokers each keep their own view and chance: one sees another's picks only once the
claims have reached the servers and it refreshes. Clients are split over them round robin by
client index, as a site splits them by boot server.

The oracle (`oracle`): one allocator that knows the true state and every pick the moment it is
made. It gives each login the live server with the lowest fill after one more login,
(sessions + picks not yet logged in + 1) / capacity; ties are drawn from its seeded chance.
Handing out in that order is the greedy water-filling that keeps the fullest fill as low as
integer sessions allow, so no rule over the same morning does better: it is the bound.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Final

from ltsp_mesh.core.broker.answer import listed
from ltsp_mesh.core.broker.request import BrokerRequest, Form
from ltsp_mesh.core.broker.view import PICK_HOLD_S, MeshView
from ltsp_mesh.core.config.client_settings import Algorithm, ClientSettings
from ltsp_mesh.core.discovery.services import Answered
from ltsp_mesh.core.sim.servers import SimServer

# Broker modes by contender name: how many brokers the site's clients are split over.
BROKER_MODES: Final[Mapping[str, int]] = {"broker": 1, "brokers-3": 3}
ORACLE: Final = "oracle"


class SimBroker:
    """One broker: its view of the mesh, its chance and the algorithm it ranks with."""

    def __init__(
        self,
        servers: Sequence[SimServer],
        rng: random.Random,
        *,
        algorithm: Algorithm = Algorithm.LEAST_LOADED,
        pick_hold_s: float = PICK_HOLD_S,
    ) -> None:
        self.servers = servers
        self.rng = rng
        self.settings = ClientSettings(algorithm=algorithm)
        self.view = MeshView(pick_hold_s=pick_hold_s)
        self.by_address = {s.address: s.index for s in servers}
        self.refreshes = 0
        self.refused_picks = 0

    @staticmethod
    def key(server: SimServer) -> str:
        """The server's key in the view: its DNS-SD instance name, as `serve`'s browse gives it."""
        return server.discovered.instance

    def refresh(self, now: float) -> None:
        """Every live server answers a direct query; the view holds exactly those, from `now` on."""
        self.view.refreshed([(self.key(s), s.answered(now)) for s in self.servers if s.alive], now)
        self.refreshes += 1

    def decide(self, address: str, mac: str, now: float) -> int | None:
        """The server (index) this broker hands out first to the client at `address`, counted at once."""
        if self.view.needs_refresh(now):
            self.refresh(now)
        request = BrokerRequest(Form.TEXT, mac, self.settings)
        order = listed(request, self.view.servers(now), client=address, client_networks=(), rng=self.rng)
        if not order:
            return None
        server = self.servers[self.by_address[order[0].answered.address]]
        # Full (MAX_PICKS in flight): the real broker still answers, it only cannot count the
        # pick; the server's own `pend` counts the claim once it arrives.
        if not self.view.pick(address, self.key(server), now):
            self.refused_picks += 1
        return server.index

    def replied(self, address: str, server: SimServer, answer: Answered, now: float) -> None:
        """The server's reply to the claim for `address` reached the broker at `now`."""
        self.view.acknowledge(address, self.key(server), answer, now)


class Oracle:
    """The central allocator that knows every pick at once and the true state of every server."""

    def __init__(self, servers: Sequence[SimServer], rng: random.Random) -> None:
        self.servers = servers
        self.rng = rng
        self._picks: dict[int, int] = {}  # client -> server it was given and has not logged in to
        self._pending = [0] * len(servers)

    def pending(self, server: int) -> int:
        """Clients given `server` that have not logged in yet (to it or, when it died, anywhere)."""
        return self._pending[server]

    def decide(self, client: int) -> int | None:
        """The live server with the lowest fill after one more login; None when none is up."""
        self.settled(client)  # a client asking again gives its earlier pick back
        best: list[int] = []
        best_fill = 0.0
        for s in self.servers:
            if not s.alive:  # nothing drains in the model; a dead server is never given
                continue
            # Correctly rounded division: equal fractions (13/12, 26/24) give equal floats.
            fill = (len(s.sessions) + self._pending[s.index] + 1) / s.spec.weight
            if not best or fill < best_fill:
                best, best_fill = [s.index], fill
            elif fill == best_fill:
                best.append(s.index)
        if not best:
            return None
        pick = best[0] if len(best) == 1 else self.rng.choice(best)
        self._picks[client] = pick
        self._pending[pick] += 1
        return pick

    def settled(self, client: int) -> None:
        """The client pressed Enter (its login started or failed): its pick is no longer pending."""
        server = self._picks.pop(client, None)
        if server is not None:
            self._pending[server] -= 1
