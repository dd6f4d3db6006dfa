"""The watching commands' loop (status --watch, feed): every refresh on one event loop.

The command calls asyncio.run once, on `repeat`, and each refresh is awaited inside it: the
process keeps one loop for its whole life instead of building and tearing one down per refresh.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Final

STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


async def repeat(step: Callable[[], Awaitable[None]], *, interval_s: float, count: int | None) -> int:
    """Await `step()` every `interval_s` seconds, `count` times (None: for ever) or until SIGINT
    or SIGTERM; return how many steps finished.

    Refreshes start `interval_s` apart (at once after one that took longer). A signal cancels
    the step or the wait in progress, which cleans up as any cancellation does (a survey closes
    its sockets), and ends the loop normally: a signal is how a watch is meant to stop. The
    signal handlers in place before are put back afterwards.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None  # called from a coroutine
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    stopping = False

    def stop() -> None:
        nonlocal stopping
        stopping = True
        task.cancel()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop)
    done = 0
    try:
        while count is None or done < count:
            started = loop.time()
            await step()
            done += 1
            if count is not None and done >= count:
                break
            await asyncio.sleep(max(0.0, interval_s - (loop.time() - started)))
    except asyncio.CancelledError:
        if not stopping:
            raise
        task.uncancel()
    finally:
        for signum, handler in previous.items():
            loop.remove_signal_handler(signum)
            signal.signal(signum, handler)
    return done
