"""When to update the announced TXT record: hysteresis on the figures and a rate limit.

The TXT figures are a discovery hint; fresh figures come from the direct query. So small load
wobbles are not worth a multicast packet, and RFC 6762 section 8.4 asks a responder to update a
record no more than ten times a minute. Pure: the caller passes `now` and the send history.
"""

from __future__ import annotations

from typing import Final

from ltsp_mesh.core.record import ServerRecord

MAX_UPDATES_PER_MINUTE: Final = 10
WINDOW_S: Final = 60.0
# Spread the budget: at most one update every 6 s, so a burst cannot spend it all at once.
MIN_INTERVAL_S: Final = WINDOW_S / MAX_UPDATES_PER_MINUTE
LOAD_STEP: Final = 0.10  # load per CPU
MEM_STEP: Final = 5  # percent
# A small drift is published too, once it has stood this long, so TXT converges.
DRIFT_REFRESH_S: Final = 60.0


def significant(published: ServerRecord, candidate: ServerRecord) -> bool:
    """True when `candidate` differs from `published` by more than the hysteresis allows."""
    if abs(candidate.load_per_cpu - published.load_per_cpu) >= LOAD_STEP - 1e-9:
        return True
    if abs(candidate.mem_percent - published.mem_percent) >= MEM_STEP:
        return True
    coarse = (
        "server_id",
        "cpus",
        "swapping",
        "sessions",
        "pending",
        "capacity",
        "state",
        "query_port",
        "host_key_fp",
    )
    return any(getattr(candidate, f) != getattr(published, f) for f in coarse)


def recent(sent_at: tuple[float, ...], now: float) -> tuple[float, ...]:
    """The send times still inside the rate-limit window at `now`."""
    return tuple(t for t in sent_at if now - t < WINDOW_S)


def update_due(
    published: ServerRecord,
    candidate: ServerRecord,
    sent_at: tuple[float, ...],
    now: float,
    resign_after_s: float | None = None,
) -> bool:
    """True when the TXT record should be updated to `candidate` now.

    `sent_at` holds the times of earlier updates (the initial registration included). With
    `resign_after_s`, an unchanged record is announced again that long after the last update,
    so that its signature's timestamp stays fresh for clients that check it.
    """
    last = max(sent_at, default=float("-inf"))
    resign = resign_after_s is not None and now - last >= resign_after_s
    if candidate == published and not resign:
        return False
    window = recent(sent_at, now)
    if len(window) >= MAX_UPDATES_PER_MINUTE:
        return False
    if now - last < MIN_INTERVAL_S:
        return False
    return resign or significant(published, candidate) or now - last >= DRIFT_REFRESH_S
