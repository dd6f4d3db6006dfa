"""psutil -> Load: the only module that reads the machine's load (or a load file instead)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from ltsp_mesh.core.codec import loadfile
from ltsp_mesh.core.record import Load
from ltsp_mesh.core.server.sampling import SwapCounters, count_sessions, is_swapping
from ltsp_mesh.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading: the load, and the remote hosts the user sessions come from."""

    load: Load
    session_hosts: tuple[str, ...] = ()


class SystemSampler:
    """Reads the machine's load; remembers the swap counters to turn them into a rate."""

    def __init__(self) -> None:
        self._swap: SwapCounters | None = None

    def sample(self) -> Sample:
        """One reading now. Blocking (reads /proc): call it through asyncio.to_thread."""
        swap = psutil.swap_memory()
        counters = SwapCounters(swapped_in=swap.sin, swapped_out=swap.sout, at=time.monotonic())
        swapping = is_swapping(self._swap, counters)
        self._swap = counters
        memory = psutil.virtual_memory()
        load1, load5, load15 = os.getloadavg()
        users = psutil.users()
        load = Load(
            cpus=psutil.cpu_count(logical=True) or 1,
            load1=round(load1, 2),
            load5=round(load5, 2),
            load15=round(load15, 2),
            mem_total_kib=max(1, memory.total // 1024),
            mem_available_kib=min(memory.available, memory.total) // 1024,
            swap_total_kib=swap.total // 1024,
            swap_used_kib=min(swap.used, swap.total) // 1024,
            swapping=swapping,
            sessions=count_sessions((u.name, u.terminal or "", u.host or "") for u in users),
        )
        return Sample(load, tuple(sorted({u.host for u in users if u.host})))


class FileSampler:
    """Reads figures from a load file (see core/codec/loadfile.py) at every sample."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def sample(self) -> Sample:
        """One reading of the file; raises ConfigError when it is missing or invalid."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"load file {self.path}: {exc.strerror}") from exc
        return Sample(*loadfile.decode_with_hosts(text, str(self.path)))


Sampler = SystemSampler | FileSampler
