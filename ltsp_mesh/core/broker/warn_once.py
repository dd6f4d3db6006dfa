"""Which of a thin client's bad settings a broker writes to its journal, and what it says.

A thin client with a typo in lts.conf asks at every login screen, and every broker ranks it with
the default and tells its hook (answer.WARNING_HEADER). The broker's own journal says it once
per client and value, again after REMIND_S while it lasts, and never more than a few lines a
second in all: the table of what was said is bounded (the least recently said forgotten first),
so no client, however many values it invents, grows the broker or floods its log. Pure: `now`
(monotonic seconds) is passed in.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Final

from ltsp_mesh.core.broker.request import MAC_PARAMETER
from ltsp_mesh.core.config.client_settings import BadSetting
from ltsp_mesh.core.ratelimit import refill

# An admin reads the journal now and then: once an hour is a reminder, not a flood.
REMIND_S: Final = 3600.0
# 1,400 clients (Rudolfo's site) each with a bad value or two; each entry is under 400 bytes.
MAX_REMEMBERED: Final = 4096
# A whole site booting with one typo says it once per client: 20 lines at once, then 2 a second.
LINES_BURST: Final = 20.0
LINES_PER_S: Final = 2.0


def advice(client: str, bad: BadSetting) -> str:
    """The journal line for `bad` sent by `client`: what is wrong, what is used, what to do."""
    if bad.key == MAC_PARAMETER:
        fix = "its get_hosts hook is not ltsp-mesh's: reinstall ltsp-mesh-hook in its image"
    else:
        fix = f"fix {bad.key} in lts.conf for this client, then it is balanced as configured"
    return f"thin client {client}: {bad.reason}; {fix}"


class WarnOnce:
    """Says whether a bad setting from a client should be logged now."""

    def __init__(
        self,
        *,
        remind_s: float = REMIND_S,
        max_remembered: int = MAX_REMEMBERED,
        lines_per_s: float = LINES_PER_S,
        lines_burst: float = LINES_BURST,
    ) -> None:
        if max_remembered < 1 or not (lines_per_s > 0 and lines_burst >= 1 and remind_s > 0):
            raise ValueError("WarnOnce needs a positive table size, rate, burst and reminder")
        self.remind_s, self.max_remembered = remind_s, max_remembered
        self.lines_per_s, self.lines_burst = lines_per_s, lines_burst
        self._said: OrderedDict[tuple[str, str, str], float] = OrderedDict()  # -> when it was said
        self._tokens, self._at = lines_burst, -math.inf
        self.over_rate = 0  # lines not written because the rate was spent (logged later, if asked again)

    def should_log(self, client: str, bad: BadSetting, now: float) -> bool:
        """True (and remembered) when `bad` from `client` was not said within REMIND_S and the
        rate allows a line now."""
        key = (client, bad.key, bad.problem)
        said = self._said.get(key)
        if said is not None and now - said < self.remind_s:
            self._said.move_to_end(key)
            return False
        self._tokens = refill(self._tokens, self._at, now, self.lines_per_s, self.lines_burst)
        self._at = now
        if self._tokens < 1.0:
            self.over_rate += 1
            return False
        self._tokens -= 1.0
        self._said[key] = now
        self._said.move_to_end(key)
        while len(self._said) > self.max_remembered:
            self._said.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._said)
