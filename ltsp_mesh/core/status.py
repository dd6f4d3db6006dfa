"""A server's status for people (the chooser and `status`): Idle, Busy, Swapped, Draining, Down.

Definitions, checked in this order (the first that holds is the status):
- Down: discovered, but it did not answer the direct query in time.
- Draining: it answered with `st=drain`: it takes no new logins.
- Swapped: it is paging right now (`swap=1`), whatever LDM_LB_IGNORE_SWAPPING says.
- Busy: it is over one of the limits the filtered algorithm applies: load per CPU above
  LDM_LB_MAX_LOAD, or an answer slower than LDM_LB_MAX_RESPONSE_MS; or at least
  BUSY_MEM_PERCENT of its memory is in use (it is about to swap).
- Idle: none of the above: it takes logins comfortably.
Fill (sessions + pending per capacity) does not set a status: capacity is a relative weight
(by default the number of CPUs), so there is no absolute "full" mark. Fill orders servers that
share a status.
"""

from __future__ import annotations

import enum
from typing import Final

from ltsp_mesh.core.config.client_settings import ClientSettings
from ltsp_mesh.core.discovery.services import Answered
from ltsp_mesh.core.record import ServerState

# Above this, the page cache is nearly gone and the next login pushes the server into swap.
BUSY_MEM_PERCENT: Final = 90


class Status(enum.StrEnum):
    """A server's status, as the chooser shows it."""

    IDLE = "Idle"
    BUSY = "Busy"
    SWAPPED = "Swapped"
    DRAINING = "Draining"
    DOWN = "Down"


BEST_FIRST: Final = (Status.IDLE, Status.BUSY, Status.SWAPPED, Status.DRAINING, Status.DOWN)
RANK: Final = {status: index for index, status in enumerate(BEST_FIRST)}


def busy_reasons(answer: Answered, settings: ClientSettings) -> tuple[str, ...]:
    """Why a server is Busy, in words for people; empty when it is within every limit."""
    record, reasons = answer.record, []
    if record.load_per_cpu > settings.max_load_per_cpu:
        reasons.append(f"load {record.load_per_cpu:.2f}/CPU is over {settings.max_load_per_cpu:g}")
    if answer.response_ms > settings.max_response_ms:
        reasons.append(f"answered in {answer.response_ms:.0f} ms, over {settings.max_response_ms:g} ms")
    if record.mem_percent >= BUSY_MEM_PERCENT:
        reasons.append(f"memory {record.mem_percent}% in use")
    return tuple(reasons)


def status_of(answer: Answered | None, settings: ClientSettings) -> Status:
    """The status of a discovered server: `answer` is None when it did not answer."""
    if answer is None:
        return Status.DOWN
    if answer.record.state is ServerState.DRAIN:
        return Status.DRAINING
    if answer.record.swapping:
        return Status.SWAPPED
    if busy_reasons(answer, settings):
        return Status.BUSY
    return Status.IDLE
