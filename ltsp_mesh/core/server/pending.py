"""The pending-login ledger of one server: clients that listed it first and have not logged in yet.

After ranking, the hook sends a `claim` to the server it lists first. The server counts the
claim in `pend` until a session from that client appears (settled) or the claim expires, so
that the clients deciding next see the login coming and go elsewhere: this is what spreads a
boot storm over time. Rules:
- Claims are keyed by the client's source address: that is what the server sees, and what
  utmp's host field shows once the LDM ssh session is up. Nothing in the request names the key,
  so a client cannot claim for others.
- At most one live claim per client: repeating a claim renews it and never counts twice.
- A claim expires DEFAULT_CLAIM_TTL_S after it was last made.
- At most `max_claims` live claims: when full, new clients are refused (existing claims are not
  evicted, so a flood of spoofed sources cannot push real claims out; it can only raise `pend`
  to the cap, for one TTL).

A small mutable class rather than a frozen value: the UDP responder updates it per datagram,
and copying a dict of thousands of claims per datagram would make a claim flood expensive.
It reads no clock: every call that needs the time takes `now` (a monotonic reading, seconds),
which must never go backwards.
"""

from __future__ import annotations

import enum
import ipaddress
import math
from collections import OrderedDict
from collections.abc import Iterable
from typing import Final

from ltsp_mesh.core.monotonic import Monotonic

# LDM shows its greeter as soon as the hook returns, and people do not always sit down at once:
# at 08:00 typing takes seconds to minutes, but at a lesson change the hook runs when the last
# user logs out, up to twenty minutes before the next one logs in. The simulator (ltsp-mesh sim
# crash add-server --claim-ttl T --runs 10) settled it: least-loaded's peak over the fair share
# was 1.153 / 1.112 at 300 s and 1.113 / 1.090 at 900 s, with gains flattening beyond, and the
# 08:00 storm unchanged (1.035). A claim that outlives its login (nobody sat down) costs the
# server one phantom session for at most that long.
DEFAULT_CLAIM_TTL_S: Final = 900.0
# Rudolfo's site has 1400 clients; a /20 of thin clients is 4094. Bounds memory to a few
# hundred KiB whatever arrives.
DEFAULT_MAX_CLAIMS: Final = 4096
# An IPv6 address with a zone is under 64 characters; anything longer is not an address.
MAX_CLIENT_CHARS: Final = 64


class ClaimOutcome(enum.StrEnum):
    """What `claim` did, for the responder's counters."""

    NEW = "new"
    RENEWED = "renewed"
    REFUSED_FULL = "refused-full"


def client_key(address: str) -> str:
    """The ledger key for a source address or utmp host: one spelling per client.

    IPv4-mapped IPv6 (`::ffff:10.0.0.5`, what a dual-stack socket reports) becomes the IPv4
    address; IPv6 is compressed; a host name is lower-cased.
    """
    text = address.strip()
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text.lower()
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


class PendingLedger:
    """Live claims, client key -> expiry time, oldest expiry first."""

    def __init__(self, *, ttl_s: float = DEFAULT_CLAIM_TTL_S, max_claims: int = DEFAULT_MAX_CLAIMS) -> None:
        if not (math.isfinite(ttl_s) and ttl_s > 0):
            raise ValueError(f"ttl_s={ttl_s} must be a positive number of seconds")
        if max_claims < 1:
            raise ValueError(f"max_claims={max_claims} must be at least 1")
        self.ttl_s = ttl_s
        self.max_claims = max_claims
        # Every expiry is (time of the claim) + ttl_s and time never goes back, so moving a
        # renewed claim to the end keeps the dict sorted by expiry: expiring pops from the front.
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._clock = Monotonic()

    def _advance(self, now: float) -> None:
        self._clock.advance(now)

    def expire(self, now: float) -> int:
        """Drop the claims that expired by `now`; return how many."""
        self._advance(now)
        dropped = 0
        while self._expiry and next(iter(self._expiry.values())) <= now:
            self._expiry.popitem(last=False)
            dropped += 1
        return dropped

    def claim(self, client: str, now: float) -> ClaimOutcome:
        """Record that `client` (its source address) listed this server first, at `now`."""
        if not client or len(client) > MAX_CLIENT_CHARS:
            raise ValueError(f"client {client[:80]!r} is not a source address")
        self.expire(now)
        key = client_key(client)
        if key in self._expiry:
            self._expiry[key] = now + self.ttl_s
            self._expiry.move_to_end(key)
            return ClaimOutcome.RENEWED
        if len(self._expiry) >= self.max_claims:
            return ClaimOutcome.REFUSED_FULL
        self._expiry[key] = now + self.ttl_s
        return ClaimOutcome.NEW

    def holds(self, client: str, now: float) -> bool:
        """True when `client` has a live claim at `now` (a new claim from it would only renew)."""
        self.expire(now)
        return client_key(client) in self._expiry

    def settle(self, session_hosts: Iterable[str]) -> int:
        """Drop the claims of clients that now have a session (utmp hosts); return how many.

        A utmp host that is a name rather than an address matches only a claim made from that
        name, which never happens: such a claim simply expires.
        """
        settled = 0
        for host in {client_key(h) for h in session_hosts if h}:
            if self._expiry.pop(host, None) is not None:
                settled += 1
        return settled

    def count(self, now: float) -> int:
        """The live claims at `now`: the server's `pend` figure."""
        self.expire(now)
        return len(self._expiry)

    def clients(self, now: float) -> tuple[str, ...]:
        """The clients with a live claim at `now`, oldest first (for the status view)."""
        self.expire(now)
        return tuple(self._expiry)
