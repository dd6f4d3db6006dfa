"""What a server is and how loaded it is: frozen, validated values shared by every codec.

`Load` is one reading of the machine (the XML document carries all of it). `ServerRecord` is
what a server announces and answers: the coarse figures the ranking needs, with its identity.
Both validate on construction, so an invalid one cannot exist; change them with
`dataclasses.replace`, which validates again.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Final

MAX_ID_CHARS: Final = 64
MAX_FINGERPRINT_CHARS: Final = 64
# A machine with more logical CPUs than this is not a thin-client server; the bound keeps
# hostile TXT values from turning into huge numbers in the ranking arithmetic.
MAX_CPUS: Final = 4096
MAX_SESSIONS: Final = 100_000
MAX_CAPACITY: Final = 100_000
MAX_LOAD_PER_CPU: Final = 1000.0


class ServerState(enum.StrEnum):
    """Whether a server takes new logins."""

    UP = "up"
    DRAIN = "drain"


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if type(value) is not int:  # bool is an int subclass; refuse it too
        raise ValueError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is outside {low}..{high}")


def _check_float(name: str, value: object, low: float, high: float) -> None:
    if type(value) not in (int, float):
        raise ValueError(f"{name} must be a number, not {type(value).__name__}")
    assert isinstance(value, (int, float))
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name}={value} is outside {low}..{high}")


def _check_text(name: str, value: object, max_chars: int, allow_empty: bool) -> None:
    if type(value) is not str:
        raise ValueError(f"{name} must be a str, not {type(value).__name__}")
    if not value and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    if len(value) > max_chars:
        raise ValueError(f"{name} is longer than {max_chars} characters")
    # ASCII only: TXT values are ASCII (txt.decode refuses the rest), and a 64-character id of
    # multi-byte characters would not fit one TXT string or a reply to a padded request.
    if not value.isascii() or not value.isprintable() or any(c in value for c in " =,<>&\"'"):
        raise ValueError(f"{name}={value!r} has characters outside the allowed set")


@dataclass(frozen=True, slots=True)
class Load:
    """One reading of a server's load, as psutil (or a load file) reports it."""

    cpus: int
    load1: float
    load5: float
    load15: float
    mem_total_kib: int
    mem_available_kib: int
    swap_total_kib: int
    swap_used_kib: int
    swapping: bool
    sessions: int

    def __post_init__(self) -> None:
        _check_int("cpus", self.cpus, 1, MAX_CPUS)
        for name in ("load1", "load5", "load15"):
            _check_float(name, getattr(self, name), 0.0, MAX_LOAD_PER_CPU * MAX_CPUS)
        for name in ("mem_total_kib", "mem_available_kib", "swap_total_kib", "swap_used_kib"):
            _check_int(name, getattr(self, name), 0, 2**53)
        if self.mem_total_kib < 1:
            raise ValueError("mem_total_kib must be at least 1")
        if self.mem_available_kib > self.mem_total_kib:
            raise ValueError("mem_available_kib is larger than mem_total_kib")
        if self.swap_used_kib > self.swap_total_kib:
            raise ValueError("swap_used_kib is larger than swap_total_kib")
        if type(self.swapping) is not bool:
            raise ValueError("swapping must be a bool")
        _check_int("sessions", self.sessions, 0, MAX_SESSIONS)

    @property
    def load_per_cpu(self) -> float:
        """The 1-minute load average divided by logical CPUs, to two decimals."""
        return min(round(self.load1 / self.cpus, 2), MAX_LOAD_PER_CPU)

    @property
    def mem_percent(self) -> int:
        """Memory in use (not available to new processes), in whole percent."""
        used = self.mem_total_kib - self.mem_available_kib
        return round(100 * used / self.mem_total_kib)


@dataclass(frozen=True, slots=True)
class ServerRecord:
    """What a server announces in TXT and answers to a direct query."""

    server_id: str
    cpus: int
    load_per_cpu: float
    mem_percent: int
    swapping: bool
    sessions: int
    pending: int
    capacity: int
    state: ServerState
    query_port: int
    host_key_fp: str = ""

    def __post_init__(self) -> None:
        _check_text("server_id", self.server_id, MAX_ID_CHARS, allow_empty=False)
        _check_int("cpus", self.cpus, 1, MAX_CPUS)
        _check_float("load_per_cpu", self.load_per_cpu, 0.0, MAX_LOAD_PER_CPU)
        _check_int("mem_percent", self.mem_percent, 0, 100)
        if type(self.swapping) is not bool:
            raise ValueError("swapping must be a bool")
        _check_int("sessions", self.sessions, 0, MAX_SESSIONS)
        _check_int("pending", self.pending, 0, MAX_SESSIONS)
        _check_int("capacity", self.capacity, 1, MAX_CAPACITY)
        if not isinstance(self.state, ServerState):
            raise ValueError(f"state must be a ServerState, not {self.state!r}")
        _check_int("query_port", self.query_port, 1, 65535)
        _check_text("host_key_fp", self.host_key_fp, MAX_FINGERPRINT_CHARS, allow_empty=True)

    @property
    def fill(self) -> float:
        """Sessions plus pending logins per unit of capacity: the primary ranking signal."""
        return (self.sessions + self.pending) / self.capacity


def record_from_load(
    load: Load,
    *,
    server_id: str,
    pending: int,
    capacity: int,
    state: ServerState,
    query_port: int,
    host_key_fp: str = "",
) -> ServerRecord:
    """Build the announced record from one load reading and the server's settings."""
    return ServerRecord(
        server_id=server_id,
        cpus=load.cpus,
        load_per_cpu=load.load_per_cpu,
        mem_percent=load.mem_percent,
        swapping=load.swapping,
        sessions=load.sessions,
        pending=pending,
        capacity=capacity,
        state=state,
        query_port=query_port,
        host_key_fp=host_key_fp,
    )
