"""The login-storm simulation: a discrete-event model on a virtual clock, seeded, deterministic.

One run is one scenario under one contender: an ltsp-mesh algorithm run by each client itself
(client-side mode), ltsp-mesh's broker mode (`broker`, `brokers-3`: see broker.py), the
`oracle` (the bound), or an anchor. Events:
- JOIN / DIE: a server boots empty, or dies without a goodbye (its sessions are lost).
- HOOK: LDM starts on a client (at boot, after a logout, after a lost or failed session) and
  runs the hook: it picks a server now. ltsp-mesh algorithms get the live servers' fresh
  figures (`SimServer.answered`), ranked by the very functions the hook uses
  (`ltsp_mesh.core.rank.rank`), and send a claim to the pick, which arrives `claim_delay_s`
  later: picks made in that window do not see each other. In broker mode the client's broker
  decides and claims (broker.py); the oracle decides on the true state. Anchors get the figures
  their source gives (see anchors.py) and send no claim.
- CLAIM: the claim reaches the server's `PendingLedger` (the real one, with the scenario's TTL).
- REPLY: broker mode only: the server's reply to a claim reaches the broker, the same delay later.
- LOGIN: the user has typed (`typing_s`, after `pause_s` when the previous user just left, and
  sometimes a long idle wait, `idle_share`/`idle_s`). On a live server a session starts and
  settles the claim; on a dead one the login fails (counted), LDM restarts and the user types again.
- LOGOUT: after `session_s`; LDM restarts and the hook runs again for the next user.
- TICK: every 5 s each server updates its load averages and its history (what TXT and pollers see).

Chance comes from seeded `random.Random` streams: one per client for the workload (boot time,
delays, session lengths: the same for every contender, so contenders face the same morning) and
one for the contender's decisions. Same seed, same run, to the last event.
"""

from __future__ import annotations

import enum
import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.core.config.client_settings import Algorithm, ClientSettings
from ltsp_mesh.core.discovery.services import Answered
from ltsp_mesh.core.rank import rank
from ltsp_mesh.core.sim.anchors import ANCHORS, Anchor, Source
from ltsp_mesh.core.sim.broker import BROKER_MODES, ORACLE, Oracle, SimBroker
from ltsp_mesh.core.sim.scenarios import Range, Scenario
from ltsp_mesh.core.sim.servers import TICK_S, Figures, SimServer

# The algorithms of LDM_LB_ALGORITHM, as the hook runs them. The chooser's user presses Enter:
# they log in to its recommendation, the first entry.
MESH_ALGORITHMS: Final = (
    Algorithm.LEAST_LOADED,
    Algorithm.MAC_HASH,
    Algorithm.FILTERED,
    Algorithm.RANDOM,
    Algorithm.CHOOSER,
)
# Client-side algorithms, then broker mode and the bound beside them, then the anchors.
CONTENDERS: Final = tuple(a.value for a in MESH_ALGORITHMS) + tuple(BROKER_MODES) + (ORACLE,) + tuple(ANCHORS)
DEFAULT_CONTENDER: Final = Algorithm.LEAST_LOADED.value
# With no server to pick, LDM falls back to $SERVER; here the client simply tries again later.
NO_SERVER_RETRY_S: Final = 10.0


class _Kind(enum.IntEnum):
    # Order of events at the same instant: hosts change first, the tick records the result last.
    JOIN = 0
    DIE = 1
    CLAIM = 2
    REPLY = 3
    LOGIN = 4
    LOGOUT = 5
    HOOK = 6
    TICK = 7


class Reason(enum.Enum):
    """Why the hook runs: it decides how long until the login."""

    BOOT = "boot"
    LOGOUT = "logout"
    LOST = "lost"  # the server died under the session, or a login to a dead server failed


@dataclass(frozen=True, slots=True)
class Login:
    """A session that started: which client, on which server (index), when."""

    client: int
    server: int
    at_s: float


@dataclass(frozen=True, slots=True)
class Run:
    """What one run produced: every server's sessions at each 5 s tick, every login, counters."""

    scenario: Scenario
    contender: str
    seed: int
    tick_s: float
    sessions: tuple[tuple[int, ...], ...]  # [server][tick]; 0 while down
    alive: tuple[tuple[bool, ...], ...]  # [server][tick]
    logins: tuple[Login, ...]
    dead_logins: int
    hooks: int
    claims: int

    @property
    def capacities(self) -> tuple[int, ...]:
        """Each server's capacity weight, in server order."""
        return tuple(s.weight for s in self.scenario.servers)


@dataclass(slots=True)
class _Client:
    index: int
    mac: str
    address: str
    rng: random.Random
    session: tuple[int, int] | None = None  # (server, session id)
    sessions_started: int = 0


def _draw(rng: random.Random, span: Range, *, log: bool = False) -> float:
    low, high = span
    u = rng.random()
    if log and low >= 1.0 and high > low:
        return low * math.exp(math.log(high / low) * u)
    return low + (high - low) * u


def client_mac(index: int) -> str:
    """A locally administered MAC for simulated client `index`."""
    return f"02:4c:54:{index >> 16 & 255:02x}:{index >> 8 & 255:02x}:{index & 255:02x}"


class _Simulation:
    def __init__(self, scenario: Scenario, contender: str, seed: int) -> None:
        if contender not in CONTENDERS:
            raise ValueError(f"contender {contender!r} is not one of {', '.join(CONTENDERS)}")
        self.scenario, self.contender, self.seed = scenario, contender, seed
        self.servers = [
            SimServer(spec, i, claim_ttl_s=scenario.claim_ttl_s, session_mib=scenario.session_mib)
            for i, spec in enumerate(scenario.servers)
        ]
        self.by_address = {s.address: s.index for s in self.servers}
        self.clients = [
            _Client(
                i,
                client_mac(i),
                f"10.1.{i // 250}.{i % 250 + 1}",
                random.Random(f"{seed}/{scenario.name}/{i}"),
            )
            for i in range(scenario.clients)
        ]
        self.rng = random.Random(f"{seed}/{scenario.name}/{contender}")
        self.mesh = contender in {a.value for a in MESH_ALGORITHMS}
        self.brokers: list[SimBroker] = []
        self.oracle: Oracle | None = None
        # Broker mode's claims in transit: id -> (delay each way, the server's reply once it has one).
        self.transit: dict[int, tuple[float, Answered | None]] = {}
        self.decide: Callable[[_Client, float], int | None]
        if self.mesh:
            self.settings = ClientSettings(algorithm=Algorithm(contender))
            self.decide = self._decide_mesh
        elif contender in BROKER_MODES:
            # Each broker its own chance: they are separate daemons on separate servers.
            self.brokers = [
                SimBroker(self.servers, random.Random(f"{seed}/{scenario.name}/{contender}/{b}"))
                for b in range(BROKER_MODES[contender])
            ]
            self.decide = self._decide_broker
        elif contender == ORACLE:
            self.oracle = Oracle(self.servers, self.rng)
            self.decide = self._decide_oracle
        else:
            self.anchor: Anchor = ANCHORS[contender]
            self.decide = self._decide_anchor
        self.queue: list[tuple[float, int, int, tuple[int, ...]]] = []
        self.seq = 0
        self.logins: list[Login] = []
        self.dead_logins = self.hooks = self.claims = 0

    def push(self, at_s: float, kind: _Kind, *payload: int) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (at_s, int(kind), self.seq, payload))

    # --- decisions ----------------------------------------------------------------------
    def _decide_mesh(self, client: _Client, now: float) -> int | None:
        answered = [s.answered(now) for s in self.servers if s.alive]
        order = rank(answered, settings=self.settings, mac=client.mac, rng=self.rng)
        return self.by_address[order[0].address] if order else None

    def _broker(self, client: _Client) -> SimBroker:
        # Round robin by index: a site splits its clients over brokers by boot server.
        return self.brokers[client.index % len(self.brokers)]

    def _decide_broker(self, client: _Client, now: float) -> int | None:
        return self._broker(client).decide(client.address, client.mac, now)

    def _decide_oracle(self, client: _Client, now: float) -> int | None:
        assert self.oracle is not None, "only the oracle contender decides by the oracle"
        return self.oracle.decide(client.index)

    def _view(self, now: float) -> list[Figures]:
        scenario, source = self.scenario, self.anchor.source
        if source is Source.FRESH:
            return [s.fresh() for s in self.servers if s.alive]
        if source is Source.MDNS:
            seen = now - scenario.txt_staleness_s
            view = []
            for s in self.servers:
                joined, died = s.spec.joins_at_s, s.spec.dies_at_s
                if joined > now or (died is not None and now >= died + scenario.mdns_forget_s):
                    continue
                last = seen if died is None or died > now else min(seen, died - TICK_S / 2)
                view.append(s.figures_at(max(last, joined)))
            return view
        period, n = self.anchor.poll_s, len(self.servers)
        view = []
        for s in self.servers:
            phase = period * s.index / n
            polled = phase + math.floor((now - phase) / period) * period
            joined, died = s.spec.joins_at_s, s.spec.dies_at_s
            # A server up from the start was up, and polled, before it too.
            if (polled >= joined or joined <= 0) and (died is None or polled < died):
                view.append(s.figures_at(polled))
        return view

    def _decide_anchor(self, client: _Client, now: float) -> int | None:
        return self.anchor.pick(self._view(now), self.rng)

    # --- events -------------------------------------------------------------------------
    def hook(self, client: _Client, reason: Reason, now: float) -> None:
        sc, rng = self.scenario, client.rng
        # Every hook draws the same numbers in the same order, whatever the contender.
        claim_delay = _draw(rng, sc.claim_delay_s)
        typing = _draw(rng, sc.typing_s, log=True)
        pause = _draw(rng, sc.pause_s, log=True)
        idle = rng.random() < sc.idle_share
        idle_s = _draw(rng, sc.idle_s)
        self.hooks += 1
        pick = self.decide(client, now)
        if pick is None:
            self.push(now + NO_SERVER_RETRY_S, _Kind.HOOK, client.index, list(Reason).index(reason))
            return
        if self.mesh:
            self.claims += 1
            self.push(now + claim_delay, _Kind.CLAIM, pick, client.index)
        elif self.brokers:
            # The broker claims for the client; the server's reply comes back over the same path.
            self.claims += 1
            self.transit[self.claims] = (claim_delay, None)
            self.push(now + claim_delay, _Kind.CLAIM, pick, client.index, self.claims)
        wait = typing
        if reason is Reason.LOGOUT:
            wait += pause
        if idle and reason is not Reason.LOST:
            wait += idle_s
        self.push(now + wait, _Kind.LOGIN, client.index, pick)

    def lost(self, client: _Client, now: float) -> None:
        client.session = None
        self.push(
            now + _draw(client.rng, self.scenario.ldm_restart_s),
            _Kind.HOOK,
            client.index,
            list(Reason).index(Reason.LOST),
        )

    def login(self, client: _Client, server: SimServer, now: float) -> None:
        if self.oracle is not None:
            self.oracle.settled(client.index)
        if not server.alive:
            self.dead_logins += 1
            self.lost(client, now)
            return
        server.sessions.add(client.index)
        server.ledger.settle([client.address])
        client.sessions_started += 1
        client.session = (server.index, client.sessions_started)
        self.logins.append(Login(client.index, server.index, now))
        length = _draw(client.rng, self.scenario.session_s)
        self.push(now + length, _Kind.LOGOUT, client.index, client.sessions_started)

    def logout(self, client: _Client, session_id: int, now: float) -> None:
        if client.session is None or client.session[1] != session_id:
            return  # that session was lost with its server
        self.servers[client.session[0]].sessions.discard(client.index)
        client.session = None
        self.push(
            now + _draw(client.rng, self.scenario.ldm_restart_s),
            _Kind.HOOK,
            client.index,
            list(Reason).index(Reason.LOGOUT),
        )

    def claim(self, server: SimServer, client: _Client, relayed: tuple[int, ...], now: float) -> None:
        if not server.alive:
            if relayed:
                del self.transit[relayed[0]]  # a dead server sends no reply: the pick expires
            return
        server.ledger.claim(client.address, now)
        if relayed:
            # The reply carries the figures as the claim found them, counted in `pend`.
            delay, _ = self.transit[relayed[0]]
            self.transit[relayed[0]] = (delay, server.answered(now))
            self.push(now + delay, _Kind.REPLY, server.index, client.index, relayed[0])

    def reply(self, server: SimServer, client: _Client, transit_id: int, now: float) -> None:
        _, answer = self.transit.pop(transit_id)
        assert answer is not None, "a reply is only sent once the claim reached a live server"
        self._broker(client).replied(client.address, server, answer, now)

    def run(self) -> Run:
        sc = self.scenario
        for s in self.servers:
            self.push(s.spec.joins_at_s, _Kind.JOIN, s.index)
            if s.spec.dies_at_s is not None:
                self.push(s.spec.dies_at_s, _Kind.DIE, s.index)
        for c in self.clients:
            self.push(_draw(c.rng, sc.boot_window_s), _Kind.HOOK, c.index, list(Reason).index(Reason.BOOT))
        self.push(0.0, _Kind.TICK)
        reasons = list(Reason)
        while self.queue and self.queue[0][0] <= sc.end_s:
            now, kind, _, payload = heapq.heappop(self.queue)
            if kind == _Kind.TICK:
                for s in self.servers:
                    s.tick()
                self.push(now + TICK_S, _Kind.TICK)
            elif kind == _Kind.HOOK:
                self.hook(self.clients[payload[0]], reasons[payload[1]], now)
            elif kind == _Kind.CLAIM:
                self.claim(self.servers[payload[0]], self.clients[payload[1]], payload[2:], now)
            elif kind == _Kind.REPLY:
                self.reply(self.servers[payload[0]], self.clients[payload[1]], payload[2], now)
            elif kind == _Kind.LOGIN:
                self.login(self.clients[payload[0]], self.servers[payload[1]], now)
            elif kind == _Kind.LOGOUT:
                self.logout(self.clients[payload[0]], payload[1], now)
            elif kind == _Kind.JOIN:
                self.servers[payload[0]].boot()
            else:
                for index in sorted(self.servers[payload[0]].die()):
                    self.lost(self.clients[index], now)
        return Run(
            scenario=sc,
            contender=self.contender,
            seed=self.seed,
            tick_s=TICK_S,
            sessions=tuple(tuple(s.hist_sessions) for s in self.servers),
            alive=tuple(tuple(s.hist_alive) for s in self.servers),
            logins=tuple(self.logins),
            dead_logins=self.dead_logins,
            hooks=self.hooks,
            claims=self.claims,
        )


def simulate(scenario: Scenario, contender: str, seed: int) -> Run:
    """Run `scenario` with every client deciding by `contender` (see CONTENDERS); deterministic."""
    return _Simulation(scenario, contender, seed).run()
