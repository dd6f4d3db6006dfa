"""The server's decision on a control request (`ltsp-mesh drain on|off|status`).

`handle(request, state, now)` returns the drain state to persist and announce (None: nothing
changes) and the state after it; `status` is the reply, built from the state after the
request. The shell writes the state file atomically before it announces the change, so a
restart never forgets a drain it announced. Rules:

1. `status` changes nothing.
2. `drain` to the state the server is in already (the same on/off and reason) changes nothing:
   `since` keeps the time the drain began.
3. `drain` to another state takes effect at `now` (wall-clock seconds, what people read).
"""

from __future__ import annotations

from collections.abc import Mapping

from ltsp_mesh.core.codec.control import ControlOp, ControlRequest, DrainState
from ltsp_mesh.core.record import ServerRecord


def handle(request: ControlRequest, state: DrainState, now: float) -> tuple[DrainState | None, DrainState]:
    """Rules 1-3 above: (the change to persist and announce, or None; the state after it)."""
    wanted = request.drain
    if request.op is not ControlOp.DRAIN or wanted is None:
        return None, state
    if (wanted.draining, wanted.reason) == (state.draining, state.reason):
        return None, state
    changed = DrainState(draining=wanted.draining, reason=wanted.reason, since=now)
    return changed, changed


def status(
    service: str, drain: DrainState, record: ServerRecord, counters: Mapping[str, int]
) -> dict[str, object]:
    """What `ltsp-mesh drain status` shows: the announced name, the drain, the record, the counters."""
    return {
        "ok": True,
        "service": service,
        "drain": {"draining": drain.draining, "reason": drain.reason, "since": drain.since},
        "record": {
            **{f: getattr(record, f) for f in record.__dataclass_fields__},
            "state": record.state.value,
        },
        "counters": dict(counters),
    }
