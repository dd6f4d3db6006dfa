"""How many mDNS records one browse keeps, shared fairly among the responders that sent them.

A browse holds what the LAN sends it, so a flood must not grow it without bound, and the hosts
flooding must not crowd out the real servers' few records each (PTR, SRV, TXT and A: four, a
few more for a server with several addresses). A fixed cap per source is not enough: twenty
sources at 256 records each fill a 4,096-record budget, after which a genuine server that
answers a moment later loses every record. So the budget is max-min fair: while it is full, a
record from a source holding fewer records than the largest holder takes the place of that
holder's newest record (its first services, which a responder lists first, are kept), and a
record from the largest holder itself is dropped. With at most MAX_SOURCES sources each is
sure of MAX_RECORDS // MAX_SOURCES records, eight: one server's records twice over.

Pure: the shell offers each record with the address it came from and reads back the records
kept, in the order they arrived.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Hashable
from typing import Final, Generic, TypeVar

# A few MB of records at most (a record is a small frozen dataclass).
MAX_RECORDS: Final = 4096
# One responder answering with thousands of services keeps at most this many records, even
# alone: a host announcing a whole site (a reflector, a proxy) fits, a flood does not.
MAX_RECORDS_PER_SOURCE: Final = 256
# Responders remembered by one browse; a site of 1,400 clients has about 30 servers.
MAX_SOURCES: Final = 512

R = TypeVar("R", bound=Hashable)


class Offer(enum.StrEnum):
    """What became of a record offered to the budget."""

    KEPT = "kept"
    KEPT_EVICTING = "kept in place of a larger holder's newest record"
    DUPLICATE = "duplicate"  # already held from that source: costs nothing
    OVER_SOURCE_LIMIT = "over the per-source limit"
    OVER_LIMIT = "over the limit, held by the largest holder"
    TOO_MANY_SOURCES = "too many sources"


class RecordBudget(Generic[R]):
    """The records of one browse, at most `total` in all, `per_source` from one source and
    `sources` sources, shared max-min fairly while full (see the module's docstring)."""

    def __init__(
        self, total: int = MAX_RECORDS, per_source: int = MAX_RECORDS_PER_SOURCE, sources: int = MAX_SOURCES
    ) -> None:
        if min(total, per_source, sources) < 1:
            raise ValueError("every limit of a record budget must be at least 1")
        self.total, self.per_source, self.max_sources = total, per_source, sources
        self._held: dict[str, list[tuple[int, R]]] = {}  # source -> (arrival number, record)
        self._seen: dict[str, set[R]] = {}
        # Sources by how many records they hold (buckets 0..per_source), to find the largest
        # holder in constant time while a flood arrives.
        self._by_count: list[dict[str, None]] = [{} for _ in range(per_source + 1)]
        self._top = 0
        self._count = 0
        self._arrivals = 0

    def __len__(self) -> int:
        return self._count

    def held_by(self, source: str) -> int:
        """How many records `source` holds now."""
        return len(self._held.get(source, ()))

    def saturated(self, source: str) -> bool:
        """True when `source` could keep no new record now: a packet from it need not be read."""
        held = self._held.get(source)
        if held is None:
            return len(self._held) >= self.max_sources
        return len(held) >= self.per_source or (self._count >= self.total and self._top <= len(held) + 1)

    def offer(self, source: str, record: R) -> Offer:
        """Keep `record`, from the responder at `source`, if the budget allows; say what happened."""
        held = self._held.get(source)
        if held is None:
            if len(self._held) >= self.max_sources:
                return Offer.TOO_MANY_SOURCES
            held = self._held[source] = []
            self._seen[source] = set()
            self._by_count[0][source] = None
        if record in self._seen[source]:
            return Offer.DUPLICATE
        if len(held) >= self.per_source:
            return Offer.OVER_SOURCE_LIMIT
        outcome = Offer.KEPT
        if self._count >= self.total:
            # Evict only from a holder at least two ahead, so that two sources at the fair
            # share do not take records from each other back and forth.
            if self._top <= len(held) + 1:
                return Offer.OVER_LIMIT
            self._evict_newest(next(iter(self._by_count[self._top])))
            outcome = Offer.KEPT_EVICTING
        self._move(source, len(held), len(held) + 1)
        held.append((self._arrivals, record))
        self._seen[source].add(record)
        self._arrivals += 1
        self._count += 1
        return outcome

    def records(self) -> list[R]:
        """Every record kept, in the order they arrived."""
        return [record for _, record in heapq.merge(*self._held.values())]

    def _evict_newest(self, source: str) -> None:
        held = self._held[source]
        _, record = held.pop()
        self._seen[source].discard(record)
        self._count -= 1
        self._move(source, len(held) + 1, len(held))

    def _move(self, source: str, old: int, new: int) -> None:
        del self._by_count[old][source]
        self._by_count[new][source] = None
        if new > self._top:
            self._top = new
        while self._top > 0 and not self._by_count[self._top]:
            self._top -= 1
