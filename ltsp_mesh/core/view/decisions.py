"""What the broker told each thin client, and why: the answer to "why did this client get that server?".

A `Decision` is one answer of the broker to a hook: the client (address and MAC), the
algorithm, the first servers listed in order with the fill each had as the broker counted it
(this login included), and the servers left out with the reason in words (draining, over a
limit of the filtered algorithm, beyond LDM_LB_HOSTS, not in the broker's live view). The
broker logs it, and a `DecisionLog` keeps the latest one of every client (the question comes
after the storm: every classroom's answer must still be there) and the last few for the page.
Pure: the view and the time are passed in.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from ltsp_mesh.core.broker.request import BrokerRequest
from ltsp_mesh.core.config.client_settings import Algorithm
from ltsp_mesh.core.discovery.services import Answered
from ltsp_mesh.core.rank.common import is_avoided_for_swapping, is_slow
from ltsp_mesh.core.record import ServerState

# Every thin client's latest answer: a /20 of clients (4094) is the largest LTSP site; about
# 600 bytes each, so Rudolfo's 1400 clients take under 1 MB.
MAX_CLIENTS: Final = 4096
# The answers the page shows when it asks for no client in particular.
MAX_RECENT: Final = 50
# The first servers of a list are the ones LDM tries; the rest are counted, not kept. So are
# the skipped servers beyond MAX_SKIPPED_KEPT (a filtered storm on a busy site skips many).
MAX_LISTED_KEPT: Final = 5
MAX_SKIPPED_KEPT: Final = 10


def label(instance: str) -> str:
    """A DNS-SD instance name without its service type, for people."""
    return instance.split("._", 1)[0]


# Tuples, not dataclasses, naming servers by the instance string the view already holds: one
# decision is made per thin client's request, and building it must cost next to nothing.
class Handed(NamedTuple):
    """One server in the list a client got: its instance, the address given, its fill then."""

    instance: str
    address: str
    fill: float

    @property
    def name(self) -> str:
        """The server's name for people."""
        return label(self.instance)


class Skipped(NamedTuple):
    """A server the client did not get, and why."""

    instance: str
    why: str

    @property
    def name(self) -> str:
        """The server's name for people."""
        return label(self.instance)


@dataclass(frozen=True, slots=True)
class Decision:
    """One answer to a thin client; `more_listed` and `more_skipped` count what was not kept."""

    at: float  # wall-clock seconds
    client: str
    mac: str | None
    algorithm: str
    status: int
    listed: tuple[Handed, ...]
    skipped: tuple[Skipped, ...]
    more_listed: int = 0
    more_skipped: int = 0

    def line(self) -> str:
        """The decision in one line, for the journal."""
        got = ", ".join(f"{h.name} {h.address} (fill {h.fill:.2f})" for h in self.listed) or "nothing"
        if self.more_listed:
            got += f" and {self.more_listed} more"
        text = f"client {self.client}{f' ({self.mac})' if self.mac else ''} {self.algorithm}: {self.status} {got}"
        if self.skipped:
            text += "; skipped " + ", ".join(f"{s.name}: {s.why}" for s in self.skipped)
            if self.more_skipped:
                text += f" and {self.more_skipped} more"
        return text

    def to_json(self) -> dict[str, Any]:
        """The decision as a plain map (the page's JSON form)."""
        return {
            "at": self.at,
            "client": self.client,
            "mac": self.mac,
            "algorithm": self.algorithm,
            "status": self.status,
            "listed": [{"name": h.name, "address": h.address, "fill": round(h.fill, 3)} for h in self.listed],
            "more_listed": self.more_listed,
            "skipped": [{"name": s.name, "why": s.why} for s in self.skipped],
            "more_skipped": self.more_skipped,
        }


def _why_filtered_out(answer: Answered, request: BrokerRequest) -> str:
    settings, record = request.settings, answer.record
    reasons = []
    if record.load_per_cpu > settings.max_load_per_cpu:
        reasons.append(
            f"load {record.load_per_cpu:.2f}/CPU over LDM_LB_MAX_LOAD={settings.max_load_per_cpu:g}"
        )
    if is_slow(answer, settings):
        reasons.append(
            f"answered in {answer.response_ms:.0f} ms, over LDM_LB_MAX_RESPONSE_MS={settings.max_response_ms:g}"
        )
    if is_avoided_for_swapping(answer, settings):
        reasons.append("swapping (LDM_LB_IGNORE_SWAPPING)")
    return "; ".join(reasons) or "not listed"


def explain(
    request: BrokerRequest,
    servers: Sequence[tuple[str, Answered]],
    hosts: Sequence[str],
    *,
    absent: Iterable[str] = (),
    client: str,
    status: int,
    at: float,
) -> Decision:
    """The decision that answered `hosts` (addresses, best first) with `status` to `client`.

    `servers` is the broker's view as it counted the answer; `absent` names (by instance) the
    servers it knows of that are not in that view (silent in its last query, or not trusted)."""
    position = {address: index for index, address in enumerate(hosts)}
    listed: list[tuple[int, Handed]] = []
    skipped: list[Skipped] = []
    limit = request.settings.max_hosts
    filtered = request.settings.algorithm is Algorithm.FILTERED
    for _, answer in servers:
        instance = answer.discovered.instance
        index = position.get(answer.address)
        if index is None:  # listed under its address on the client's own subnet (two NICs)
            index = min((position[a] for a in answer.discovered.addresses if a in position), default=None)
        if index is not None:
            listed.append((index, Handed(instance, hosts[index], answer.record.fill)))
        elif answer.record.state is ServerState.DRAIN:
            skipped.append(Skipped(instance, "draining"))
        elif filtered and (why := _why_filtered_out(answer, request)) != "not listed":
            skipped.append(Skipped(instance, why))
        elif limit and len(hosts) >= limit:
            skipped.append(Skipped(instance, f"beyond LDM_LB_HOSTS={limit}"))
        else:
            skipped.append(Skipped(instance, "not listed"))
    skipped += [Skipped(i, "not in the broker's live view (no answer, or not trusted)") for i in absent]
    listed.sort(key=lambda pair: pair[0])
    skipped.sort(key=lambda s: s.instance)
    return Decision(
        at=at,
        client=client,
        mac=request.mac,
        algorithm=request.settings.algorithm.value,
        status=status,
        listed=tuple(h for _, h in listed[:MAX_LISTED_KEPT]),
        skipped=tuple(skipped[:MAX_SKIPPED_KEPT]),
        more_listed=max(0, len(listed) - MAX_LISTED_KEPT),
        more_skipped=max(0, len(skipped) - MAX_SKIPPED_KEPT),
    )


@dataclass
class DecisionLog:
    """Every client's latest decision (at most `max_clients`, the least recent forgotten first)
    and the last `max_recent` decisions of all."""

    max_clients: int = MAX_CLIENTS
    max_recent: int = MAX_RECENT
    _latest: OrderedDict[str, Decision] = field(default_factory=OrderedDict)
    _recent: deque[Decision] = field(default_factory=deque)

    def __post_init__(self) -> None:
        if self.max_clients < 1 or self.max_recent < 1:
            raise ValueError(
                f"max_clients={self.max_clients} and max_recent={self.max_recent} must be at least 1"
            )
        self._recent = deque(self._recent, maxlen=self.max_recent)

    def add(self, decision: Decision) -> None:
        """Keep `decision` as its client's latest and among the recent ones."""
        self._latest.pop(decision.client, None)
        self._latest[decision.client] = decision
        while len(self._latest) > self.max_clients:
            self._latest.popitem(last=False)
        self._recent.append(decision)

    def recent(self, limit: int = MAX_RECENT) -> list[Decision]:
        """The newest decisions first, at most `limit`."""
        return list(reversed(self._recent))[:limit]

    def of(self, client: str) -> Decision | None:
        """The latest decision for `client`, by address or MAC (lower case)."""
        found = self._latest.get(client)
        if found is not None:
            return found
        wanted = client.lower()
        return next((d for d in reversed(self._latest.values()) if d.mac == wanted), None)

    def __len__(self) -> int:
        return len(self._latest)
