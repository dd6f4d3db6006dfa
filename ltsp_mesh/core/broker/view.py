"""A broker's view of the mesh: each server's latest answer plus the picks it made since.

The broker ranks thousands of requests a minute on figures it refreshes about once a second.
Between two refreshes, every request would see the same figures and a plain ranking would
send them all to the same emptiest server: the herd the simulator measures. So the broker
counts its own picks at once. A pick is *in flight* from the moment the broker hands a server
out until the server's reply to the claim comes back (the reply's `pend` then counts it) or
PICK_HOLD_S passes without one (the claim was lost; the next refresh tells the truth).
Rules:
- One live pick per client: a client that asks again moves its pick, it never counts twice.
- A server that did not answer the latest refresh is not in the view: it is never handed out.
- Nor is one whose latest answer is older than ANSWER_TTL_S: a broker nobody asked for a
  minute holds a view a minute old, and when its refresh is late for the first request (its
  wait is bounded by the thin client's deadline) that request gets the servers that answered
  since, never the minute-old list with the servers killed or moved meanwhile.
- Pure: time is passed in (monotonic seconds, never going back), as in PendingLedger.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.core.discovery.services import Answered
from ltsp_mesh.core.monotonic import Monotonic

# A claim's reply comes back within one round trip on a LAN (about a millisecond); a claim that
# has no reply after a second was lost, and by then a refresh has shown the server's own count.
PICK_HOLD_S: Final = 1.0
# The figures a request may be answered from: refreshed at most this long ago (the issue's
# "fresh within about 1 s while requests come in").
FRESH_S: Final = 1.0
# A server's latest answer (a refresh's, or a claim's reply) stands for this long: twice the
# refresh period, so a steady storm always finds every live server, and a refresh that finishes
# late loses none.
ANSWER_TTL_S: Final = 2 * FRESH_S
# While requests keep coming, the next refresh starts this early, so that no request has to
# wait for one.
REFRESH_AHEAD_S: Final = 0.8
# A site of 4094 thin clients (a /20) picking within one hold time is the most a broker can
# have in flight; more are refused rather than grown (bounded memory whatever arrives).
MAX_PICKS: Final = 4096


@dataclass(frozen=True, slots=True)
class Pick:
    """A client handed `server` first at `at`, whose claim is not yet answered."""

    server: str
    at: float


class MeshView:
    """Servers by key (their DNS-SD instance name) and the broker's picks in flight.

    Every request reads the whole view and changes one pick, so the counts per server and each
    server's answer with its picks added are kept up to date as picks come and go, rather than
    rebuilt from all the picks at every read (a storm has a thousand in flight).
    """

    def __init__(self, *, pick_hold_s: float = PICK_HOLD_S, max_picks: int = MAX_PICKS) -> None:
        if not (math.isfinite(pick_hold_s) and pick_hold_s > 0):
            raise ValueError(f"pick_hold_s={pick_hold_s} must be a positive number of seconds")
        if max_picks < 1:
            raise ValueError(f"max_picks={max_picks} must be at least 1")
        self.pick_hold_s = pick_hold_s
        self.max_picks = max_picks
        self._servers: dict[str, Answered] = {}
        self._answered_at: dict[str, float] = {}  # server -> when its answer in _servers came
        self._picks: dict[str, Pick] = {}  # client -> its pick, in the order made
        self._counts: dict[str, int] = {}  # server -> its picks in flight
        self._adjusted: dict[str, Answered] = {}  # server -> its answer with those picks added
        self._clock = Monotonic()
        self.refreshed_at = -math.inf

    def _drop_pick(self, client: str) -> None:
        pick = self._picks.pop(client)
        left = self._counts[pick.server] - 1
        if left:
            self._counts[pick.server] = left
        else:
            del self._counts[pick.server]
        self._adjusted.pop(pick.server, None)

    def _advance(self, now: float) -> None:
        self._clock.advance(now)
        # Picks are made in time order, so the stale ones are at the front.
        while self._picks:
            client, pick = next(iter(self._picks.items()))
            if now - pick.at < self.pick_hold_s:
                break
            self._drop_pick(client)

    def _set_servers(self, servers: dict[str, Answered], answered_at: dict[str, float]) -> None:
        self._servers = servers
        self._answered_at = answered_at
        self._adjusted = {}
        for client in [c for c, p in self._picks.items() if p.server not in servers]:
            self._drop_pick(client)

    def refreshed(self, answers: Iterable[tuple[str, Answered]], now: float) -> None:
        """A refresh finished at `now`: these servers answered; every other one is gone."""
        self._advance(now)
        servers = dict(answers)
        self._set_servers(servers, dict.fromkeys(servers, now))
        self.refreshed_at = now

    def observe(self, server: str, answer: Answered, now: float) -> None:
        """A fresh answer from one server between refreshes (a claim's reply)."""
        self._advance(now)
        self._servers[server] = answer
        self._answered_at[server] = now
        self._adjusted.pop(server, None)

    def forget(self, server: str, now: float) -> None:
        """`server` said goodbye (or left the browse): it is handed out no more."""
        self._advance(now)
        self._set_servers(
            {k: a for k, a in self._servers.items() if k != server},
            {k: t for k, t in self._answered_at.items() if k != server},
        )

    def pick(self, client: str, server: str, now: float) -> bool:
        """Count that `client` was handed `server` first; False when too many are in flight."""
        self._advance(now)
        if server not in self._servers:
            raise ValueError(f"{server!r} is not in the view")
        if client in self._picks:
            self._drop_pick(client)
        elif len(self._picks) >= self.max_picks:
            return False
        self._picks[client] = Pick(server, now)
        self._counts[server] = self._counts.get(server, 0) + 1
        self._adjusted.pop(server, None)
        return True

    def acknowledge(self, client: str, server: str, answer: Answered | None, now: float) -> None:
        """The server answered `client`'s claim: its own count now holds the pick."""
        self._advance(now)
        held = self._picks.get(client)
        if held is not None and held.server == server:
            self._drop_pick(client)
        if answer is not None and server in self._servers:
            self._servers[server] = answer
            self._answered_at[server] = now
            self._adjusted.pop(server, None)

    def in_flight(self, now: float) -> dict[str, int]:
        """Picks not yet answered, by server."""
        self._advance(now)
        return dict(self._counts)

    def servers(self, now: float) -> list[tuple[str, Answered]]:
        """Every server in the view that answered within ANSWER_TTL_S, its pending count raised
        by the picks in flight to it."""
        self._advance(now)
        result = []
        for key in sorted(self._servers):
            if now - self._answered_at[key] > ANSWER_TTL_S:
                continue
            answer = self._adjusted.get(key)
            if answer is None:
                answer = self._servers[key]
                extra = self._counts.get(key, 0)
                if extra:
                    record = dataclasses.replace(answer.record, pending=answer.record.pending + extra)
                    answer = dataclasses.replace(answer, record=record)
                self._adjusted[key] = answer
            result.append((key, answer))
        return result

    def age_s(self, now: float) -> float:
        """Seconds since the last refresh finished (infinite before the first)."""
        return now - self.refreshed_at

    def needs_refresh(self, now: float) -> bool:
        """True when a request at `now` should start a refresh (it may still be answered)."""
        return self.age_s(now) >= REFRESH_AHEAD_S

    def fresh(self, now: float) -> bool:
        """True when a request at `now` may be answered from the view as it is."""
        return self.age_s(now) < FRESH_S

    def __len__(self) -> int:
        return len(self._servers)
