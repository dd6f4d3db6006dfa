"""How long unicast DNS-SD records live, when to renew them, and when a server counts as dead.

Three clocks, one rule each:

- TTL (60 s): how long a caching resolver may keep an answer. It bounds how late a client
  behind a cache sees a new server, a changed TXT or a removed one. Load in TXT is only a hint
  (clients ask every server directly), so a minute-old TXT is harmless; a shorter TTL would only
  move more queries to the DNS server.
- Lease (600 s by default): how long the records stay without a renewal. The daemon asks for it
  with the Update Lease EDNS option (RFC 9664) on every update, and renews at half the lease (or
  half the lease the server grants, when shorter), re-signing TXT on the way: a TXT signature
  older than 900 s is refused by clients (core/trust/verdicts.py), and 300 s keeps it well inside that.
- Stale: a DNS server that honours RFC 9664 deletes records whose lease ran out by itself.
  BIND 9.18 (Debian 12) ignores the option, so the servers also watch each other: each renewal
  writes a fresh random stamp, and a peer that sees a stamp unchanged for 1.5 leases by its own
  monotonic clock deletes that server's records, conditional on the stamp (core/discovery/dnssd_zone.py).
  No clocks need to agree, and a live server that renewed is never removed.

Pure: `now` is passed in, on whatever monotonic clock the caller uses.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

from ltsp_mesh.core.discovery.dnssd_zone import Stamp
from ltsp_mesh.errors import DecodeError

DEFAULT_TTL_S: Final = 60
DEFAULT_LEASE_S: Final = 600
# Tests use leases of a few seconds; a day is plenty for a record that renews at half of it.
MIN_LEASE_S: Final = 2
MAX_LEASE_S: Final = 86_400
RENEW_FRACTION: Final = 0.5
RENEW_JITTER: Final = 0.1  # renewals come up to this fraction early
STALE_AFTER_LEASES: Final = 1.5
# Each TXT change is a zone change (serial bump, journal entry, NOTIFY to secondaries): at most
# one every 30 s, against mDNS's ten a minute (RFC 6762 section 8.4). Clients query servers
# directly for fresh load anyway.
MIN_TXT_INTERVAL_S: Final = 30.0
RETRY_FIRST_S: Final = 1.0
RETRY_MAX_S: Final = 60.0
# RFC 9664 section 4: EDNS(0) option code 2, a 4-byte LEASE, optionally a 4-byte KEY-LEASE.
UPDATE_LEASE_OPTION: Final = 2

K = TypeVar("K", bound=Hashable)


def check_lease(lease_s: int) -> int:
    """`lease_s` if it is a usable lease; ValueError otherwise."""
    if not MIN_LEASE_S <= lease_s <= MAX_LEASE_S:
        raise ValueError(f"a lease of {lease_s} s is outside {MIN_LEASE_S}..{MAX_LEASE_S}")
    return lease_s


def ttl_for(lease_s: int) -> int:
    """The record TTL under a lease: never longer than the lease, so no cache outlives it."""
    return min(DEFAULT_TTL_S, check_lease(lease_s))


def renew_after(requested_s: int, granted_s: int | None, rng: random.Random) -> float:
    """Seconds from a successful update to the next renewal: half the lease, less up to 10 %.

    The jitter keeps servers that booted together (a power cut, a Monday morning) from renewing
    together ever after.
    """
    lease = requested_s if granted_s is None or granted_s <= 0 else min(requested_s, granted_s)
    return lease * RENEW_FRACTION * rng.uniform(1.0 - RENEW_JITTER, 1.0)


def retry_after(failures: int, lease_s: int, rng: random.Random) -> float:
    """Seconds before retrying after `failures` failed updates in a row: doubling, jittered.

    Capped at a minute and at half the lease, so a DNS server back from a restart has the
    records again before any peer could judge this server dead.
    """
    if failures < 1:
        raise ValueError("retry_after needs at least one failure")
    doubled: float = RETRY_FIRST_S * 2.0 ** min(failures - 1, 16)
    base = min(doubled, RETRY_MAX_S, lease_s * RENEW_FRACTION)
    return base * rng.uniform(0.75, 1.0)


def txt_due(last_sent: float | None, now: float) -> float:
    """When a changed TXT may go out: now, or `MIN_TXT_INTERVAL_S` after the last update."""
    return now if last_sent is None else max(now, last_sent + MIN_TXT_INTERVAL_S)


def encode_lease_option(lease_s: int) -> bytes:
    """The Update Lease option data asking for `lease_s` (KEY-LEASE left to the server)."""
    return struct.pack("!I", check_lease(lease_s))


def decode_lease_option(data: bytes) -> int:
    """The LEASE a server granted in its response's option; DecodeError if malformed."""
    if len(data) not in (4, 8):
        raise DecodeError(f"an Update Lease option is 4 or 8 bytes, not {len(data)}")
    return int(struct.unpack("!I", data[:4])[0])


@dataclass
class _Seen:
    stamp: Stamp
    since: float


@dataclass
class StaleWatch(Generic[K]):
    """Which peers' stamps stood still for too long, by the watcher's own clock.

    `observe` takes every stamp a sweep read and returns the peers to delete. A peer's clock
    starts when its stamp is first seen or changes, so a watcher that just started waits a
    full 1.5 leases (of the lease the stamp names) before judging anybody.
    """

    seen: dict[K, _Seen] = field(default_factory=dict)

    def observe(self, stamps: Mapping[K, Stamp], now: float) -> list[K]:
        """Record what a sweep read at `now`; return the peers whose stamps went stale."""
        for gone in set(self.seen) - set(stamps):
            del self.seen[gone]
        stale = []
        for peer, stamp in stamps.items():
            known = self.seen.get(peer)
            if known is None or known.stamp != stamp:
                self.seen[peer] = _Seen(stamp, now)
            elif now - known.since > stamp.lease_s * STALE_AFTER_LEASES:
                stale.append(peer)
        return stale

    def forget(self, peer: K) -> None:
        """Stop watching `peer` (its records were just deleted)."""
        self.seen.pop(peer, None)
