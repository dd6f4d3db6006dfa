"""A server's decision on one claim: `admit`, rule by rule, and what it keeps to decide.

A claim counts a pending login for a thin client until its session appears or the claim
expires (pending.py). It comes from the client itself (`ltsp-mesh hosts --hook`) or relayed by
a broker for the client (core/broker/relay.py, the wire format). Either way it must prove
something a spoofed source cannot: a cookie this server gave the sender's address
(cookies.py), or a mesh member's signature. Budgets bound how fast anyone raises `pend`.
Pure: the times are passed in; the ledger and the budgets change in place.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.core.broker.relay import RelayedClaim, check
from ltsp_mesh.core.codec import load_query
from ltsp_mesh.core.ratelimit import RateLimiter
from ltsp_mesh.core.server import cookies
from ltsp_mesh.core.server.cookies import CookieSecret
from ltsp_mesh.core.server.pending import ClaimOutcome, PendingLedger
from ltsp_mesh.core.trust.known_hosts import KnownHosts

# A broker relays its clients' claims: a storm of 1000 logins through one broker to 30 servers
# is about 35 claims per server in seconds. Generous, but bounded: a compromised member (or,
# under trust any, any host) can raise `pend` no faster than this.
MEMBER_CLAIMS_PER_S: Final = 50.0
MEMBER_CLAIMS_BURST: Final = 200.0
# One client claims once per login screen; a storm of 1400 clients over two minutes sends a
# server about one new claim a second. Ten a second overall, with bursts, is plenty.
CLAIMS_PER_SOURCE_PER_S: Final = 0.2
CLAIMS_BURST: Final = 3.0
CLAIMS_PER_S: Final = 10.0


class Verdict(enum.StrEnum):
    """What became of one claim: the counter the responder bumps is `claims_` + the value."""

    NEW = "new"
    RENEWED = "renewed"
    REFUSED_FULL = "refused_full"
    REFUSED_DRAINING = "refused_draining"
    RATE_LIMITED = "rate_limited"
    RELAY_MALFORMED = "relay_malformed"
    RELAY_UNTRUSTED = "relay_untrusted"
    COOKIE_MISSING = "cookie_missing"
    COOKIE_INVALID = "cookie_invalid"


@dataclass
class ClaimState:
    """What a server keeps to decide claims: the ledger, the budgets and the cookie secret
    (mutable, pure)."""

    ledger: PendingLedger
    direct: RateLimiter
    members: RateLimiter
    known_hosts: KnownHosts
    # True when the site lists host keys (known-hosts trust): relayed claims must then come
    # from members. `known_hosts` may list the server itself beside them either way.
    strict: bool
    secret: CookieSecret

    @classmethod
    def new(
        cls, ledger: PendingLedger, known_hosts: KnownHosts, *, strict: bool, secret: CookieSecret
    ) -> ClaimState:
        """The budgets above around `ledger`, believing members listed in `known_hosts` and
        cookies made with `secret`."""
        return cls(
            ledger,
            RateLimiter(
                per_source_per_s=CLAIMS_PER_SOURCE_PER_S,
                per_source_burst=CLAIMS_BURST,
                global_per_s=CLAIMS_PER_S,
            ),
            RateLimiter(
                per_source_per_s=MEMBER_CLAIMS_PER_S,
                per_source_burst=MEMBER_CLAIMS_BURST,
                global_per_s=10 * MEMBER_CLAIMS_PER_S,
            ),
            known_hosts,
            strict,
            secret,
        )


def admit(
    request: load_query.Request,
    relayed: RelayedClaim | None,
    *,
    source: str,
    draining: bool,
    state: ClaimState,
    now: float,
    wall_now: float,
) -> Verdict:
    """Decide one claim from `source` at `now` (monotonic: budgets, expiry, cookies; `wall_now`
    checks signatures).

    Rules, in order:
    1. A draining server takes no claim.
    2. A claim naming no client (or its own source) is the client's own, keyed by `source`: it
       counts only with a cookie this server made for `source` (it proves the claimant receives
       there; a spoofed source never saw one).
    3. A relayed claim must name an IP address and spends the relaying broker's budget (a
       broker relays a whole storm). A member's signature vouches for it; without one, under
       known-hosts trust it is refused, under trust any it needs the cookie for the relaying
       address, as a client's own claim does.
    4. Renewing a live claim spends no budget (it never raises `pend`); a new one does.
    5. The ledger then counts it, one per client.
    """
    if draining:
        return Verdict.REFUSED_DRAINING
    client, budget, vouched = source, state.direct, False
    if request.client and request.client != source:
        try:
            client = str(ipaddress.ip_address(request.client))
        except ValueError:
            return Verdict.RELAY_MALFORMED
        budget = state.members
        if relayed is not None and relayed.signature and _by_member(relayed, source, state, wall_now):
            vouched = True
        elif state.strict:
            return Verdict.RELAY_UNTRUSTED
    if not vouched:
        proof = cookies.check(state.secret, source, request.cookie, now)
        if proof is cookies.Check.MISSING:
            return Verdict.COOKIE_MISSING
        if proof is cookies.Check.INVALID:
            return Verdict.COOKIE_INVALID
    if not state.ledger.holds(client, now) and not budget.allow(source, now):
        return Verdict.RATE_LIMITED
    outcome = state.ledger.claim(client, now)
    return {
        ClaimOutcome.NEW: Verdict.NEW,
        ClaimOutcome.RENEWED: Verdict.RENEWED,
        ClaimOutcome.REFUSED_FULL: Verdict.REFUSED_FULL,
    }[outcome]


def _by_member(relayed: RelayedClaim, broker: str, state: ClaimState, wall_now: float) -> bool:
    return check(relayed, broker=broker, known_hosts=state.known_hosts, now=wall_now).accepted
