"""Per-source token buckets with a global cap: how much one host (or everyone) may ask for.

A flood from one source must not load a server or inflate its pending logins; a flood from many
spoofed sources must still be bounded. Each source has a bucket (`rate_per_s`, `burst`); the
table holds at most `max_sources` buckets, forgetting the least recently seen; and one global
bucket caps the total. Pure: `now` (monotonic seconds) is passed in.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Final

# A thin client asks each server once per login screen (plus a claim), `status --watch` every
# few seconds: 10 requests a second with a burst of 20 is far above any honest client.
DEFAULT_PER_SOURCE_PER_S: Final = 10.0
DEFAULT_PER_SOURCE_BURST: Final = 20.0
# Rudolfo's 1400 clients booting in two minutes ask each of 30 servers about 12 times a second
# in all; 2000 a second leaves a wide margin and bounds the signing work (about 30 us each).
DEFAULT_GLOBAL_PER_S: Final = 2000.0
DEFAULT_MAX_SOURCES: Final = 4096


def refill(tokens: float, at: float, now: float, rate: float, burst: float) -> float:
    """A token bucket's tokens at `now`: `tokens` left at `at` (-inf: never used, so full),
    refilled at `rate` a second up to `burst`."""
    return burst if at == -math.inf else min(burst, tokens + max(0.0, now - at) * rate)


class RateLimiter:
    """Token buckets keyed by source address, plus one for all sources together."""

    def __init__(
        self,
        *,
        per_source_per_s: float = DEFAULT_PER_SOURCE_PER_S,
        per_source_burst: float = DEFAULT_PER_SOURCE_BURST,
        global_per_s: float = DEFAULT_GLOBAL_PER_S,
        max_sources: int = DEFAULT_MAX_SOURCES,
    ) -> None:
        for name, value in (
            ("per_source_per_s", per_source_per_s),
            ("per_source_burst", per_source_burst),
            ("global_per_s", global_per_s),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name}={value} must be a positive number")
        if max_sources < 1:
            raise ValueError("max_sources must be at least 1")
        self.per_source_per_s, self.per_source_burst = per_source_per_s, per_source_burst
        self.global_per_s, self.max_sources = global_per_s, max_sources
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # source -> (tokens, at)
        self._global = (global_per_s, -math.inf)

    def allow(self, source: str, now: float) -> bool:
        """True (and one token spent) when `source` may be answered at `now`."""
        if not math.isfinite(now):
            raise ValueError(f"now={now} is not a time")
        tokens, at = self._buckets.pop(source, (self.per_source_burst, -math.inf))
        tokens = refill(tokens, at, now, self.per_source_per_s, self.per_source_burst)
        global_tokens = refill(*self._global, now, self.global_per_s, self.global_per_s)
        allowed = tokens >= 1.0 and global_tokens >= 1.0
        if allowed:
            tokens, global_tokens = tokens - 1.0, global_tokens - 1.0
        self._buckets[source] = (tokens, now)
        while len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)
        self._global = (global_tokens, now)
        return allowed

    def __len__(self) -> int:
        return len(self._buckets)
