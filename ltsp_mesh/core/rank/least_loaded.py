"""LDM_LB_ALGORITHM=least-loaded (the default): the emptiest servers fill first, without herding.

The signal is fill, (sessions + pending) / capacity, taken as it would be after this login,
(sessions + pending + 1) / capacity, with the load per CPU as a small tie-break. A plain arg-min
herds: every client that decides on the same figures (the 08:00 boot storm, within one
query-to-claim window) lands on the one emptiest server. So the rule is the best of two random
choices weighted by capacity:

    draw every server in random order, each next one with probability in proportion to its
    capacity (Efraimidis-Spirakis keys); of the first CHOICES = 2 drawn, the one with the lower
    fill after one more login comes first (a tie keeps the draw order); the rest follow in
    draw order.

What this gives (the tests pin each):
- No herding: a server is first only when it is one of the two drawn, so one snapshot's picks
  give no server much more than twice its share of capacity, however empty it looks (exactly
  its share when every server has the same capacity and fill).
- The emptiest fill first: the fuller of two drawn servers is never first, so the fullest
  server of a site is first only on a tie. With only two servers taking logins both are
  always drawn, and the emptier one is always first.
- Comparing the fill after one more login, rather than the fill now, sends a tie in fill to
  the bigger server, where one more session moves the fill less: a small server does not end
  a storm a whole session above its share.

What the simulator showed (`ltsp-mesh sim rudolfo --runs 100`: 1400 clients booting within 2
minutes onto 30 servers of 12 to 48 CPUs, each claim reaching its server 0.01-0.4 s after the
figures it answers; the fullest server's peak fill over the fair share, seeds 1-100): the
provisional rule, a draw in proportion to free capacity up to a level 3 % above the fullest
server, averaged 1.072 and stayed within 1.05 in 21 runs of 100 (1.045 and 89 runs with a
0.3 % margin); this rule averages 1.037 and stays within 1.05 in 97. With claims delayed 5-10 s
(`--claim-delay 5 10`: some 90 clients deciding on the same figures, seeds 1-40) the
provisional rule and this one both average 1.12. The best of three choices averages 1.029 in
the storm but herds to 1.15 on shared figures: two it is.

The list after the first entry, which LDM uses when the first fails, spreads too.

Servers that answered slower than LDM_LB_MAX_RESPONSE_MS, or that swap while
LDM_LB_IGNORE_SWAPPING is true, are ranked after all others (by the same rule among
themselves), not dropped: the list never empties while some server takes logins.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Final

from ltsp_mesh.core.config.client_settings import ClientSettings
from ltsp_mesh.core.discovery.services import Answered
from ltsp_mesh.core.rank.common import is_avoided_for_swapping, is_slow, taking_logins
from ltsp_mesh.core.record import ServerRecord

# Two, not more: each more choice sharpens the pick towards the emptiest server, which balances
# better when every client sees the others' claims and herds when many decide on one snapshot.
CHOICES: Final = 2
# A broker counts each of its picks at once, so the figures it decides on already hold every
# pick it made: nothing is shared-and-stale for a third choice to herd on, and the sharper pick
# leaves no session over on a small server. The simulator (`ltsp-mesh sim rudolfo --runs 100`,
# seeds 1-100): one broker at 1.033 of the fair share with two choices, 1.020 with three (the
# oracle, a central allocator that knows everything, 1.013); three brokers 1.039 and 1.031. A
# plain arg-min matches the oracle with one broker but herds to 1.042 (worst 1.080) with three.
INFORMED_CHOICES: Final = 3
# Load only breaks near-ties: 0.01 fill per unit of load per CPU is a tenth of a session per
# capacity unit at most (loads above 4 per CPU count as 4, so one runaway figure cannot swamp fill).
LOAD_TIE_BREAK: Final = 0.01
MAX_TIE_BREAK_LOAD: Final = 4.0


def next_fill(record: ServerRecord) -> float:
    """The fill after one more login, with the load per CPU folded in as a tie-break."""
    return (record.sessions + record.pending + 1) / record.capacity + LOAD_TIE_BREAK * min(
        record.load_per_cpu, MAX_TIE_BREAK_LOAD
    )


def order(answered: Sequence[Answered], *, rng: random.Random, choices: int = CHOICES) -> list[Answered]:
    """All of `answered`: the better of the first `choices` capacity-weighted draws, then the rest."""
    # Efraimidis-Spirakis: the largest ln(u) / capacity comes first with probability
    # capacity / total, and so on down the list. 1 - random() is in (0, 1], so the log is defined.
    keys = [math.log(1.0 - rng.random()) / a.record.capacity for a in answered]
    drawn = sorted(range(len(answered)), key=lambda i: (-keys[i], i))
    head = sorted(drawn[:choices], key=lambda i: next_fill(answered[i].record))  # stable: ties keep the draw
    return [answered[i] for i in head + drawn[choices:]]


def _rank(
    answered: Sequence[Answered], settings: ClientSettings, rng: random.Random, choices: int
) -> list[Answered]:
    healthy: list[Answered] = []
    demoted: list[Answered] = []
    for answer in taking_logins(answered):
        slow_or_swapping = is_slow(answer, settings) or is_avoided_for_swapping(answer, settings)
        (demoted if slow_or_swapping else healthy).append(answer)
    return order(healthy, rng=rng, choices=choices) + order(demoted, rng=rng, choices=choices)


def rank(
    answered: Sequence[Answered], *, settings: ClientSettings, mac: str, rng: random.Random
) -> list[Answered]:
    """Servers taking logins: healthy ones by the rule above, then slow or swapping ones."""
    return _rank(answered, settings, rng, CHOICES)


def rank_informed(
    answered: Sequence[Answered], *, settings: ClientSettings, mac: str, rng: random.Random
) -> list[Answered]:
    """The same, for a caller whose figures already hold every pick it made (a broker)."""
    return _rank(answered, settings, rng, INFORMED_CHOICES)
