"""The server's decision on one direct query (UDP 377): `handle(query, state, now)`.

The responder (shell/server/respond_udp.py) reads the datagram and the clock, drops what its
rate limits and reply gate refuse, and sends what this returns; everything the server decides
about a `stats` or a `claim` is here. Rules, in order:

1. A `claim` is decided by claims.admit (drain, cookie or member signature, budgets, one per
   client): its verdict is returned for the counters.
2. The reply carries the record with `pend` as the ledger counts it now (a claim just counted,
   or claims just expired, show at once).
3. The reply carries a claim cookie for the source address (core/server/cookies.py): what that
   client's next claim must bring.
4. The reply is signed when the server has a host key, and is never larger than the request
   (None then: the request was not padded).

Pure: `now` holds both clock readings of the event; the ledger and the claim budgets in `state`
change in place (copying thousands of claims per datagram would make a flood expensive), the
rest of the state is replaced.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ed25519

from ltsp_mesh.core.broker import relay
from ltsp_mesh.core.codec import load_query
from ltsp_mesh.core.record import ServerRecord
from ltsp_mesh.core.server import claims, cookies
from ltsp_mesh.core.server.claims import ClaimState, Verdict
from ltsp_mesh.core.trust import signed_reply
from ltsp_mesh.errors import DecodeError


@dataclass(frozen=True, slots=True)
class Instant:
    """One event's clock readings: monotonic (budgets, claims, cookies) and wall (signatures)."""

    monotonic: float
    wall: float


@dataclass(frozen=True, slots=True)
class Query:
    """One decoded request, the datagram it came in, and its source address."""

    request: load_query.Request
    datagram: bytes
    source: str


@dataclass(frozen=True, slots=True)
class Signer:
    """The host key replies are signed with, and its certificate (b"" when none)."""

    key: ed25519.Ed25519PrivateKey
    certificate: bytes = b""


@dataclass(frozen=True, slots=True)
class QueryState:
    """What the server answers from: its record, whether it drains, its claims, its signer."""

    record: ServerRecord
    draining: bool
    claims: ClaimState
    signer: Signer | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The reply datagram (None: larger than the request) and a claim's verdict (None for stats)."""

    reply: bytes | None
    verdict: Verdict | None = None


def handle(query: Query, state: QueryState, now: Instant) -> tuple[Outcome, QueryState]:
    """Rules 1-4 above for one query at `now`."""
    request = query.request
    verdict = None
    if request.op is load_query.Op.CLAIM:
        verdict = _claim(query, state, now)
    pending = state.claims.ledger.count(now.monotonic)
    if pending != state.record.pending:
        state = dataclasses.replace(state, record=dataclasses.replace(state.record, pending=pending))
    cookie = cookies.make(state.claims.secret, query.source, now.monotonic)
    size = len(query.datagram)
    if state.signer is None:
        reply = load_query.reply_to(request, size, state.record, now.wall, cookie=cookie)
    else:
        reply = signed_reply.reply_to(
            request,
            size,
            state.record,
            now.wall,
            key=state.signer.key,
            certificate=state.signer.certificate,
            cookie=cookie,
        )
    return Outcome(reply, verdict), state


def _claim(query: Query, state: QueryState, now: Instant) -> Verdict:
    try:
        relayed = relay.decode(query.datagram, query.request)
    except DecodeError:
        return Verdict.RELAY_MALFORMED
    return claims.admit(
        query.request,
        relayed,
        source=query.source,
        draining=state.draining,
        state=state.claims,
        now=now.monotonic,
        wall_now=now.wall,
    )
