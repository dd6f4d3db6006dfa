"""LDM_LB_ALGORITHM=least-loaded (the default): the emptiest servers fill first, without herding.

The signal is fill, (sessions + pending) / capacity, with the load per CPU as a small
tie-break. A plain arg-min of fill herds: every client that decides on the same figures (the
08:00 boot storm, within one query-to-claim window) lands on the one emptiest server. So the
pick is drawn at random, in proportion to each server's *free capacity*:

    level = max(fill') + LEVEL_MARGIN * max(max(fill'), 1)
    free  = capacity * (level - fill')          fill' = fill + LOAD_TIE_BREAK * min(load/CPU, 4)

that is, the sessions a server could take before it is as full as the fullest server, plus a
margin of 3 % of that fill (or of one session per capacity unit when every server holds less).
Capacity is a relative weight (by default the CPU count), not a session limit, so free capacity
is measured up to that common level rather than up to "capacity". The list after the pick is
the same draw without replacement (Efraimidis-Spirakis keys), so the second entry, which LDM
uses when the first fails, spreads too.

What this gives, with the default margin (the tests pin both):
- No herding: N clients deciding on one snapshot spread in proportion to free capacity; with
  equal fills, in proportion to capacity.
- The emptiest fill first: of two equal servers at fills x and 2x, the fuller is drawn first
  with probability 2m / (1 + 4m) = 5.4 % when 2x >= 1 (m = LEVEL_MARGIN), and m / (x + 2m)
  below that (9.7 % at fills 0.25 and 0.5, where the gap is a session or two); the fullest
  server of a site gets only the margin's share.
Where the two pull apart (a new, empty server among full ones gets most picks of one snapshot),
this rule sides with filling the emptiest first: a 1400-client site's storm is spread over
time by the pending claims each pick sends, so only the few clients inside one query window
share a snapshot. The simulator tunes LEVEL_MARGIN.

Servers that answered slower than LDM_LB_MAX_RESPONSE_MS, or that swap while
LDM_LB_IGNORE_SWAPPING is true, are ranked after all others (by the same rule among
themselves), not dropped: the list never empties while some server takes logins.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Final

from ltsp_mesh.core.client_settings import ClientSettings
from ltsp_mesh.core.rank.common import is_avoided_for_swapping, is_slow, taking_logins
from ltsp_mesh.core.record import ServerRecord
from ltsp_mesh.core.services import Answered

LEVEL_MARGIN: Final = 0.03
# Load only breaks near-ties: 0.01 fill per unit of load per CPU is a tenth of a session per
# capacity unit at most (loads above 4 per CPU count as 4, so one runaway figure cannot swamp fill).
LOAD_TIE_BREAK: Final = 0.01
MAX_TIE_BREAK_LOAD: Final = 4.0


def effective_fill(record: ServerRecord) -> float:
    """Fill with the load per CPU folded in as a tie-break."""
    return record.fill + LOAD_TIE_BREAK * min(record.load_per_cpu, MAX_TIE_BREAK_LOAD)


def free_capacity(records: Sequence[ServerRecord], margin: float = LEVEL_MARGIN) -> list[float]:
    """Each server's free capacity: capacity * (level - fill'); every value is above zero."""
    if not records:
        return []
    fills = [effective_fill(r) for r in records]
    fullest = max(fills)
    level = fullest + margin * max(fullest, 1.0)
    return [r.capacity * (level - f) for r, f in zip(records, fills, strict=True)]


def order(
    answered: Sequence[Answered], *, rng: random.Random, margin: float = LEVEL_MARGIN
) -> list[Answered]:
    """All of `answered`, drawn one by one without replacement in proportion to free capacity."""
    weights = free_capacity([a.record for a in answered], margin)
    # Efraimidis-Spirakis: the largest ln(u) / w comes first with probability w / sum(w), and
    # so on down the list. 1 - random() is in (0, 1], so the log is defined.
    keys = [math.log(1.0 - rng.random()) / w for w in weights]
    ranked = sorted(range(len(answered)), key=lambda i: (-keys[i], i))
    return [answered[i] for i in ranked]


def rank(
    answered: Sequence[Answered], *, settings: ClientSettings, mac: str, rng: random.Random
) -> list[Answered]:
    """Servers taking logins: healthy ones by the draw above, then slow or swapping ones."""
    healthy: list[Answered] = []
    demoted: list[Answered] = []
    for answer in taking_logins(answered):
        slow_or_swapping = is_slow(answer, settings) or is_avoided_for_swapping(answer, settings)
        (demoted if slow_or_swapping else healthy).append(answer)
    return order(healthy, rng=rng) + order(demoted, rng=rng)
