"""The sites and mornings the simulator runs: plain data, one frozen value per scenario.

Times are seconds of virtual time from the scenario's start (`clock_start`, e.g. 08:00). Each
range is (low, high); the model draws uniformly in it, or log-uniformly where noted on the
field, because typing and pause times have a long tail: most people are quick, a few are not.

The four named scenarios (`SCENARIOS`):
- `rudolfo`: 1400 thin clients boot within 2 minutes at 08:00 onto 30 servers of mixed sizes
  (12 to 48 CPUs); TXT figures are 10 s stale. Sessions outlast the run: this is the storm alone.
- `margot`: 17 recycled thin clients, three desktop PCs of 4, 6 and 8 CPUs; the class starts
  over 5 minutes.
- `add-server`: the Rudolfo site through a morning of lessons (sessions of 40-100 minutes, the
  next user a few minutes later); a 31st server boots at 10:00.
- `crash`: the same morning; `app07` (24 CPUs) dies at 10:00 and its users log in again.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.core.server.pending import DEFAULT_CLAIM_TTL_S

# A desktop session of the LTSP era (GNOME or XFCE, a browser, an office suite) takes about
# 400 MiB; a server's own services about 1 GiB. Each active user keeps about a quarter of a CPU
# runnable on average (the usual LTSP sizing: two to four users per core).
DEFAULT_SESSION_MIB: Final = 400
BASE_MIB: Final = 1024
RUNNABLE_PER_SESSION: Final = 0.25
BASE_RUNNABLE: Final = 0.1

Range = tuple[float, float]


def _check_range(name: str, value: Range, low: float = 0.0) -> None:
    a, b = value
    if not (math.isfinite(a) and math.isfinite(b) and low <= a <= b):
        raise ValueError(f"{name}={value} is not a range ({low} <= low <= high)")


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """One application server: size, memory, and when it boots and dies (seconds, None: never)."""

    name: str
    cpus: int
    mem_mib: int
    capacity: int = 0  # 0: the CPU count, as `serve` defaults CAPACITY
    joins_at_s: float = 0.0
    dies_at_s: float | None = None

    def __post_init__(self) -> None:
        if self.cpus < 1 or self.mem_mib < 1 or self.capacity < 0:
            raise ValueError(f"server {self.name}: cpus, mem_mib must be positive, capacity >= 0")
        if self.dies_at_s is not None and self.dies_at_s <= self.joins_at_s:
            raise ValueError(f"server {self.name}: dies_at_s must come after joins_at_s")

    @property
    def weight(self) -> int:
        """The capacity it announces (CAPACITY, by default its CPUs)."""
        return self.capacity or self.cpus


@dataclass(frozen=True, slots=True)
class Scenario:
    """A site and a morning: servers, clients and the timing of everything people and hosts do."""

    name: str
    title: str
    servers: tuple[ServerSpec, ...]
    clients: int
    end_s: float  # the run stops here; "end of the storm" figures are taken here
    boot_window_s: Range = (0.0, 120.0)  # each client boots (LDM starts, the hook runs) in here
    clock_start: str = "08:00"
    txt_staleness_s: float = 10.0  # TXT figures in mDNS caches are this old (plus up to one 5 s tick)
    mdns_forget_s: float = 1125.0  # a server that died without a goodbye stays in caches this long
    claim_delay_s: Range = (
        0.01,
        0.4,
    )  # stats answer -> claim arrives (the rest of the hook, <= its deadline)
    typing_s: Range = (10.0, 180.0)  # greeter shown -> login (log-uniform)
    session_s: Range = (4 * 3600.0, 5 * 3600.0)  # session length
    pause_s: Range = (0.0, 0.0)  # after a logout, until the next user sits down (log-uniform above 1 s)
    idle_share: float = 0.0  # share of greeters nobody uses for a long while (`idle_s`)
    idle_s: Range = (1200.0, 7200.0)
    ldm_restart_s: Range = (2.0, 30.0)  # session lost (logout, crash, failed login) -> hook runs again
    claim_ttl_s: float = DEFAULT_CLAIM_TTL_S  # the servers' pending-claim lifetime, the real default
    session_mib: int = DEFAULT_SESSION_MIB

    def __post_init__(self) -> None:
        if not self.servers or self.clients < 1 or not self.end_s > 0:
            raise ValueError(f"scenario {self.name}: needs servers, clients and a positive end_s")
        if len({s.name for s in self.servers}) != len(self.servers):
            raise ValueError(f"scenario {self.name}: server names must be unique")
        for name in (
            "boot_window_s",
            "claim_delay_s",
            "typing_s",
            "session_s",
            "pause_s",
            "idle_s",
            "ldm_restart_s",
        ):
            _check_range(name, getattr(self, name))
        if not 0.0 <= self.idle_share <= 1.0:
            raise ValueError(f"idle_share={self.idle_share} is outside 0..1")
        if not (self.claim_ttl_s > 0 and self.txt_staleness_s >= 0 and self.mdns_forget_s >= 0):
            raise ValueError("claim_ttl_s must be positive; staleness and forget times not negative")

    @property
    def change_at_s(self) -> float | None:
        """When the set of servers first changes (a late join or a death), if it does in the run."""
        times = [s.joins_at_s for s in self.servers if s.joins_at_s > 0]
        times += [s.dies_at_s for s in self.servers if s.dies_at_s is not None]
        times = [t for t in times if t < self.end_s]
        return min(times) if times else None

    def clock(self, t_s: float) -> str:
        """Virtual time as a wall-clock label, e.g. 7200 s after 08:00 -> '10:00'."""
        hours, minutes = (int(x) for x in self.clock_start.split(":"))
        total = hours * 60 + minutes + int(t_s // 60)
        return f"{total // 60 % 24:02}:{total % 60:02}"


def _rudolfo_servers() -> tuple[ServerSpec, ...]:
    # 30 servers bought over the years, 648 CPUs in all, in no particular order (so that a
    # tie-break by position, as greedy picks have, favours no size). 3 GiB of RAM per CPU.
    sizes = [
        16,
        24,
        12,
        32,
        16,
        24,
        24,
        16,
        48,
        12,
        16,
        32,
        24,
        16,
        12,
        24,
        16,
        32,
        12,
        16,
        24,
        48,
        16,
        12,
        24,
        32,
        16,
        12,
        24,
        16,
    ]
    return tuple(ServerSpec(f"app{i + 1:02}", cpus=c, mem_mib=3072 * c) for i, c in enumerate(sizes))


RUDOLFO_SERVERS: Final = _rudolfo_servers()

RUDOLFO: Final = Scenario(
    name="rudolfo",
    title="Rudolfo: 1400 clients boot within 2 minutes onto 30 servers (12-48 CPUs), TXT 10 s stale",
    servers=RUDOLFO_SERVERS,
    clients=1400,
    end_s=900.0,
)

MARGOT: Final = Scenario(
    name="margot",
    title="Margot: 17 clients, 3 desktop PCs of 4, 6 and 8 CPUs, the class starts over 5 minutes",
    servers=(
        ServerSpec("desk1", cpus=4, mem_mib=8192),
        ServerSpec("desk2", cpus=6, mem_mib=12288),
        ServerSpec("desk3", cpus=8, mem_mib=16384),
    ),
    clients=17,
    boot_window_s=(0.0, 300.0),
    end_s=1200.0,
)

# A school morning on the Rudolfo site: lessons of 40-100 minutes; after a logout the next user
# sits down within 20 minutes (most within a few); one greeter in twenty stays unused for 20
# minutes to 2 hours (its claim expires unused).
_MORNING: Final = dataclasses.replace(
    RUDOLFO, session_s=(2400.0, 6000.0), pause_s=(30.0, 1200.0), idle_share=0.05, idle_s=(1200.0, 7200.0)
)

ADD_SERVER: Final = dataclasses.replace(
    _MORNING,
    name="add-server",
    title="add-server: the Rudolfo site through a morning of lessons; app31 (32 CPUs) boots at 10:00",
    servers=RUDOLFO_SERVERS + (ServerSpec("app31", cpus=32, mem_mib=3072 * 32, joins_at_s=7200.0),),
    end_s=14400.0,
)

CRASH: Final = dataclasses.replace(
    _MORNING,
    name="crash",
    title="crash: the Rudolfo site through a morning of lessons; app07 (24 CPUs) dies at 10:00",
    servers=tuple(
        dataclasses.replace(s, dies_at_s=7200.0) if s.name == "app07" else s for s in RUDOLFO_SERVERS
    ),
    end_s=10800.0,
)

SCENARIOS: Final[Mapping[str, Scenario]] = {s.name: s for s in (RUDOLFO, MARGOT, ADD_SERVER, CRASH)}
