"""A simulated application server: its sessions, claims and load, and the figures others see.

What each observer sees, and how old it is:
- the direct query (ltsp-mesh's hook) sees the server as it is now: sessions, the claims it has
  received (the real `PendingLedger`, so claims count until the session appears or the TTL
  ends), memory now and the load average of its last 5 s update;
- everything else (TXT in mDNS caches, a broker's poll) sees `figures_at(t)`: the history of
  5 s ticks, so a figure for an earlier time is what the server would have reported then.

Load is the kernel's: every 5 s (LOAD_FREQ in kernel/sched/loadavg.c) each average moves
towards the number of runnable tasks by the factor exp(-5 s / period), period 1, 5 or 15
minutes. Runnable tasks are BASE_RUNNABLE plus RUNNABLE_PER_SESSION per session; memory in use
is BASE_MIB plus the scenario's session_mib per session, and a server swaps when that exceeds
its RAM. A session counts from the instant of the login: the real daemon samples every 2 s and
settles the claim in the same sample, so both move together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.core.discovery.services import Answered, Discovered
from ltsp_mesh.core.record import MAX_LOAD_PER_CPU, ServerRecord, ServerState
from ltsp_mesh.core.server.pending import PendingLedger
from ltsp_mesh.core.sim.scenarios import BASE_MIB, BASE_RUNNABLE, RUNNABLE_PER_SESSION, ServerSpec

TICK_S: Final = 5.0
_DECAY_1: Final = math.exp(-TICK_S / 60.0)
_DECAY_15: Final = math.exp(-TICK_S / 900.0)
# A LAN answer: about a millisecond, a little more on a busy server.
_BASE_RESPONSE_MS: Final = 1.0


@dataclass(frozen=True, slots=True)
class Figures:
    """A server's figures as one observer saw them (anchors rank on these)."""

    index: int
    cpus: int
    capacity: int
    sessions: int
    load1: float
    load15: float
    mem_total_mib: int
    mem_used_mib: int

    @property
    def mem_avail_mib(self) -> int:
        """Memory still available for new processes."""
        return max(0, self.mem_total_mib - self.mem_used_mib)

    @property
    def swapping(self) -> bool:
        """True when the sessions need more memory than the server has."""
        return self.mem_used_mib > self.mem_total_mib

    @property
    def load_per_cpu(self) -> float:
        """The 1-minute load average per CPU."""
        return self.load1 / self.cpus


class SimServer:
    """One server's state through a run; the model mutates it, observers read figures from it."""

    def __init__(self, spec: ServerSpec, index: int, *, claim_ttl_s: float, session_mib: int) -> None:
        self.spec = spec
        self.index = index
        self.address = f"10.0.{index // 200}.{index % 200 + 10}"
        self.claim_ttl_s = claim_ttl_s
        self.session_mib = session_mib
        self.alive = False
        self.sessions: set[int] = set()
        self.ledger = PendingLedger(ttl_s=claim_ttl_s)
        self.load1 = 0.0
        self.load15 = 0.0
        # One entry per 5 s tick from t = 0: sessions (0 while down), alive, load averages.
        self.hist_sessions: list[int] = []
        self.hist_alive: list[bool] = []
        self.hist_load1: list[float] = []
        self.hist_load15: list[float] = []
        self.discovered = Discovered(
            instance=f"{spec.name}._ltsp._tcp.local.",
            host=f"{spec.name}.local.",
            ssh_port=22,
            addresses=(self.address,),
            announced=None,
        )
        self._answer_key: tuple[int, int, int] | None = None
        self._answer: Answered | None = None

    # --- what happens to it -------------------------------------------------------------
    def boot(self) -> None:
        """The server comes up empty, with a fresh claim ledger."""
        self.alive = True
        self.sessions = set()
        self.ledger = PendingLedger(ttl_s=self.claim_ttl_s)

    def die(self) -> set[int]:
        """The server is gone (no goodbye); returns the clients whose sessions it took with it."""
        lost, self.sessions = self.sessions, set()
        self.alive = False
        return lost

    def tick(self) -> None:
        """One 5 s load-average update; appends this instant to the history."""
        runnable = BASE_RUNNABLE + RUNNABLE_PER_SESSION * len(self.sessions) if self.alive else 0.0
        self.load1 = self.load1 * _DECAY_1 + runnable * (1.0 - _DECAY_1)
        self.load15 = self.load15 * _DECAY_15 + runnable * (1.0 - _DECAY_15)
        self.hist_sessions.append(len(self.sessions))
        self.hist_alive.append(self.alive)
        self.hist_load1.append(self.load1)
        self.hist_load15.append(self.load15)

    # --- what observers see -------------------------------------------------------------
    def mem_used_mib(self, sessions: int) -> int:
        """Memory in use with `sessions` sessions."""
        return BASE_MIB + self.session_mib * sessions

    def fresh(self) -> Figures:
        """The figures a direct query gets now (claims are not in Figures: anchors never claim)."""
        count = len(self.sessions)
        return Figures(
            self.index,
            self.spec.cpus,
            self.spec.weight,
            count,
            self.load1,
            self.load15,
            self.spec.mem_mib,
            self.mem_used_mib(count),
        )

    def tick_at(self, t_s: float) -> int:
        """The index of the last tick at or before `t_s` (0 before the first)."""
        return max(0, min(len(self.hist_sessions) - 1, int(t_s // TICK_S)))

    def figures_at(self, t_s: float) -> Figures:
        """The figures it reported at the last tick at or before `t_s`."""
        k = self.tick_at(t_s)
        count = self.hist_sessions[k]
        return Figures(
            self.index,
            self.spec.cpus,
            self.spec.weight,
            count,
            self.hist_load1[k],
            self.hist_load15[k],
            self.spec.mem_mib,
            self.mem_used_mib(count),
        )

    def answered(self, now: float) -> Answered:
        """What ltsp-mesh's direct query returns now, as the hook's ranking receives it."""
        pending = self.ledger.count(now)
        key = (len(self.sessions), pending, len(self.hist_sessions))
        if key != self._answer_key or self._answer is None:
            figures = self.fresh()
            record = ServerRecord(
                server_id=self.spec.name,
                cpus=figures.cpus,
                load_per_cpu=min(round(figures.load_per_cpu, 2), MAX_LOAD_PER_CPU),
                mem_percent=min(100, round(100 * figures.mem_used_mib / figures.mem_total_mib)),
                swapping=figures.swapping,
                sessions=figures.sessions,
                pending=pending,
                capacity=figures.capacity,
                state=ServerState.UP,
                query_port=377,
            )
            response_ms = _BASE_RESPONSE_MS + 0.5 * min(figures.load_per_cpu, 10.0)
            self._answer = Answered(self.discovered, self.address, record, response_ms)
            self._answer_key = key
        return self._answer
