"""Whether the UDP responder sends a reply now, given what the kernel knows of its next hop.

A reply to a source on this link whose link-layer address the kernel does not know yet waits in
the kernel's neighbour queue, charged to the socket's send buffer, until ARP answers or the
kernel gives up (about 3 s: three probes a second apart). A spoofed source never answers ARP,
so a burst from a few hundred of them fills the send buffer with replies that will never leave,
and every later reply, honest ones included, finds no room. Rules, in order:

1. A next hop the kernel has resolved (REACHABLE, STALE, DELAY, PROBE, PERMANENT, NOARP), or this
   host itself: send. An honest client on the link has just resolved this server with ARP,
   which told the kernel its address too, so its replies go out at once.
2. A next hop being resolved (INCOMPLETE): drop; a reply already waits for it, and more would
   only wait with it.
3. A next hop the kernel does not know or gave up on (no entry, FAILED): send, which starts
   resolution, only while the replies already waiting stay under the reserve (half the send
   buffer), so that resolved next hops always find room.

What was learnt about a source is kept for RECHECK_S, for at most MAX_SOURCES sources (the
least recently seen are forgotten). Pure: `now` (monotonic seconds) is passed in.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from typing import Final

# linux/neighbour.h
NUD_INCOMPLETE: Final = 0x01
NUD_REACHABLE: Final = 0x02
NUD_STALE: Final = 0x04
NUD_DELAY: Final = 0x08
NUD_PROBE: Final = 0x10
NUD_FAILED: Final = 0x20
NUD_NOARP: Final = 0x40
NUD_PERMANENT: Final = 0x80
_RESOLVED: Final = NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_NOARP | NUD_PERMANENT

# Long enough that a flood from many sources costs one kernel lookup per source a second, short
# enough that a neighbour that fails is noticed before its rate limit lets more than a few
# replies queue for it.
RECHECK_S: Final = 1.0
# As many as the rate limiter keeps buckets for (ratelimit.DEFAULT_MAX_SOURCES).
MAX_SOURCES: Final = 4096


class Reach(enum.StrEnum):
    """What the kernel knows of the next hop towards a source."""

    RESOLVED = "resolved"
    RESOLVING = "resolving"
    UNKNOWN = "unknown"


class Verdict(enum.StrEnum):
    """Send, or why not: the responder counts `udp_dropped_` + the value."""

    SEND = "send"
    UNRESOLVED = "unresolved"
    OVER_RESERVE = "unresolved_over_reserve"


def reach_of(nud_state: int | None, *, local: bool = False) -> Reach:
    """The reach for a neighbour's NUD state bits (None: the kernel has no entry for it)."""
    if local or (nud_state is not None and nud_state & _RESOLVED):
        return Reach.RESOLVED
    if nud_state is not None and nud_state & NUD_INCOMPLETE:
        return Reach.RESOLVING
    return Reach.UNKNOWN


def decide(reach: Reach, queued_bytes: int, reserve_bytes: int) -> Verdict:
    """Rules 1-3 above, with `queued_bytes` waiting in the socket now."""
    if reach is Reach.RESOLVED:
        return Verdict.SEND
    if reach is Reach.RESOLVING:
        return Verdict.UNRESOLVED
    return Verdict.SEND if queued_bytes < reserve_bytes else Verdict.OVER_RESERVE


def after(reach: Reach, verdict: Verdict) -> Reach:
    """What the next hop becomes once `verdict` is carried out: a reply sent to an unknown
    next hop makes the kernel resolve it."""
    return Reach.RESOLVING if reach is Reach.UNKNOWN and verdict is Verdict.SEND else reach


class ReachCache:
    """Source address -> (reach, when learnt), the least recently seen forgotten first."""

    def __init__(self, *, recheck_s: float = RECHECK_S, max_sources: int = MAX_SOURCES) -> None:
        if not recheck_s > 0 or max_sources < 1:
            raise ValueError("recheck_s must be positive and max_sources at least 1")
        self.recheck_s, self.max_sources = recheck_s, max_sources
        self._known: OrderedDict[str, tuple[Reach, float]] = OrderedDict()

    def get(self, source: str, now: float) -> Reach | None:
        """What is known of `source` at `now`, or None when it must be looked up again."""
        known = self._known.get(source)
        if known is None or now - known[1] >= self.recheck_s or now < known[1]:
            return None
        self._known.move_to_end(source)
        return known[0]

    def put(self, source: str, reach: Reach, now: float) -> None:
        """Remember `reach` for `source`, learnt at `now`."""
        self._known[source] = (reach, now)
        self._known.move_to_end(source)
        while len(self._known) > self.max_sources:
            self._known.popitem(last=False)

    def __len__(self) -> int:
        return len(self._known)
