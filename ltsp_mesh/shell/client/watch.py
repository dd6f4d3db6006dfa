"""A running DNS-SD browser: report servers as they come, change and go (goodbyes included)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from ltsp_mesh.core.codec import txt
from ltsp_mesh.core.discovery.names import SERVICE_TYPE
from ltsp_mesh.core.record import ServerRecord
from ltsp_mesh.errors import DecodeError
from ltsp_mesh.shell.netif import Interface

RESOLVE_TIMEOUT_MS = 1500


@dataclass(frozen=True, slots=True)
class Event:
    """One change seen by the browser; `record` is the announced TXT when it could be read."""

    at: float  # wall-clock seconds
    change: str  # added, updated, removed
    instance: str
    addresses: tuple[str, ...]
    record: ServerRecord | None
    problem: str = ""


async def watch(
    interfaces: Sequence[Interface], emit: Callable[[Event], None], duration_s: float | None
) -> None:
    """Browse on `interfaces` and call `emit` for every change, until the duration or a signal."""
    aiozc = AsyncZeroconf(interfaces=[i.address for i in interfaces], ip_version=IPVersion.V4Only)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    pending: set[asyncio.Task[None]] = set()

    async def resolve(name: str, change: str) -> None:
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        record, problem = None, ""
        if await info.async_request(aiozc.zeroconf, RESOLVE_TIMEOUT_MS):
            try:
                record = txt.decode(info.properties)
            except DecodeError as exc:
                problem = str(exc)
        else:
            problem = "did not resolve"
        emit(
            Event(time.time(), change, name, tuple(info.parsed_addresses(IPVersion.V4Only)), record, problem)
        )

    def on_change(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Removed:
            emit(Event(time.time(), "removed", name, (), None))
            return
        task = loop.create_task(resolve(name, state_change.name.lower()))
        pending.add(task)
        task.add_done_callback(pending.discard)

    browser = AsyncServiceBrowser(aiozc.zeroconf, SERVICE_TYPE, handlers=[on_change])
    try:
        try:
            async with asyncio.timeout(duration_s):
                await stop.wait()
        except TimeoutError:
            pass
    finally:
        await browser.async_cancel()
        for task in pending:
            task.cancel()
        await aiozc.async_close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
