"""The watching commands keep one event loop for their whole life; their loop stops on a signal.

status --watch and feed go through main() with the survey replaced by a fake that notes the
event loop it runs on; the lab tests (test_discovery.py, test_greeter.py) run the real ones.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest

from ltsp_mesh.cli import client_options, main, refresh
from ltsp_mesh.cli.exit_codes import NOTHING_FOUND, OK
from ltsp_mesh.core.client.trust_policy import TRUST_ANY
from ltsp_mesh.errors import ConfigError
from ltsp_mesh.shell import netif, trust_store
from ltsp_mesh.shell.client import mqueue
from ltsp_mesh.shell.client.survey import Survey

REFRESHES = 3


class Loops:
    """What the fake survey saw: the loop of every call, and how many loops were built."""

    def __init__(self) -> None:
        self.seen: list[asyncio.AbstractEventLoop] = []
        self.built = 0

    def distinct(self) -> int:
        return len({id(loop) for loop in self.seen})  # the loops are kept alive in `seen`


@pytest.fixture
def loops(monkeypatch: pytest.MonkeyPatch) -> Loops:
    """A fake survey (no server found) on a fake interface; count event loops as they are built."""
    found = Loops()

    async def fake_survey(*args: Any, **kwargs: Any) -> Survey:
        found.seen.append(asyncio.get_running_loop())
        await asyncio.sleep(0)
        return Survey([], [], [], [], Counter(), 0.0)

    real_new_event_loop = asyncio.events.new_event_loop

    def counting_new_event_loop() -> asyncio.AbstractEventLoop:
        found.built += 1
        return real_new_event_loop()

    interface = netif.Interface("eth0", "10.0.0.2", "10.0.0.0/24", "02:00:00:00:00:02")
    monkeypatch.setattr(client_options, "survey", fake_survey)
    monkeypatch.setattr(netif, "select", lambda names: [interface])
    monkeypatch.setattr(trust_store, "policy", lambda settings: TRUST_ANY)
    monkeypatch.setattr(asyncio.events, "new_event_loop", counting_new_event_loop)
    return found


@pytest.fixture
def signal_handlers() -> Iterator[None]:
    """Put back SIGINT and SIGTERM as they were (feed points SIGTERM at Ctrl-C's handler)."""
    saved = {signum: signal.getsignal(signum) for signum in refresh.STOP_SIGNALS}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


class FakeQueue:
    """A POSIX message queue stand-in that keeps what was published."""

    made: ClassVar[list[FakeQueue]] = []

    def __init__(self, name: str, *, create: bool) -> None:
        self.name, self.message_bytes = name, mqueue.DEFAULT_MESSAGE_BYTES
        self.published: list[bytes] = []
        self.unlinked = False
        FakeQueue.made.append(self)

    def publish(self, data: bytes) -> None:
        self.published.append(data)

    def close(self) -> None:
        pass

    def unlink(self) -> None:
        self.unlinked = True


# --- through main() --------------------------------------------------------------------------


def test_status_watch_runs_every_refresh_on_one_event_loop(
    loops: Loops, signal_handlers: None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["status", "--watch", "--interval", "0.5", "--count", str(REFRESHES), "--json"]
    assert main(argv) == NOTHING_FOUND
    assert len([json.loads(line) for line in capsys.readouterr().out.splitlines()]) == REFRESHES
    assert len(loops.seen) == REFRESHES
    assert loops.distinct() == 1
    assert loops.built == 1


def test_status_once_runs_one_event_loop(
    loops: Loops, signal_handlers: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--json"]) == NOTHING_FOUND
    assert json.loads(capsys.readouterr().out)["command"] == "status"
    assert (len(loops.seen), loops.built) == (1, 1)


def test_feed_publishes_every_refresh_from_one_event_loop(
    loops: Loops, signal_handlers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeQueue.made.clear()
    monkeypatch.setattr(mqueue, "MessageQueue", FakeQueue)
    assert main(["feed", "--mqueue", "test", "--interval", "0.5", "--count", str(REFRESHES)]) == OK
    (queue,) = FakeQueue.made
    assert len(queue.published) == REFRESHES and queue.unlinked
    assert loops.distinct() == 1
    assert loops.built == 1


# --- refresh.repeat --------------------------------------------------------------------------


def _counting(calls: list[int], then: Callable[[int], Any] | None = None) -> Callable[[], Any]:
    async def step() -> None:
        calls.append(len(calls))
        if then is not None:
            await then(len(calls))

    return step


async def test_repeat_runs_the_step_count_times_and_says_so() -> None:
    calls: list[int] = []
    assert await refresh.repeat(_counting(calls), interval_s=0, count=REFRESHES) == REFRESHES
    assert len(calls) == REFRESHES


@pytest.mark.parametrize("signum", refresh.STOP_SIGNALS, ids=lambda s: signal.Signals(s).name)
async def test_a_signal_cancels_the_step_in_progress_and_ends_the_repeat(signum: int) -> None:
    calls: list[int] = []
    cancelled = asyncio.Event()

    async def on_second_call(n: int) -> None:
        if n < 2:
            return
        os.kill(os.getpid(), signum)
        try:
            await asyncio.Event().wait()  # a survey that would never end
        except asyncio.CancelledError:
            cancelled.set()
            raise

    assert await refresh.repeat(_counting(calls, on_second_call), interval_s=0, count=None) == 1
    assert cancelled.is_set() and len(calls) == 2


async def test_a_signal_during_the_wait_ends_the_repeat() -> None:
    calls: list[int] = []

    async def signal_after_first(n: int) -> None:
        asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGTERM)

    assert await refresh.repeat(_counting(calls, signal_after_first), interval_s=3600, count=None) == 1


async def test_repeat_puts_back_the_signal_handlers_it_found() -> None:
    before = {signum: signal.getsignal(signum) for signum in refresh.STOP_SIGNALS}
    await refresh.repeat(_counting([]), interval_s=0, count=1)
    assert {signum: signal.getsignal(signum) for signum in refresh.STOP_SIGNALS} == before


async def test_a_failing_step_ends_the_repeat_with_its_error() -> None:
    async def failing() -> None:
        raise ConfigError("--browse-ms=500 must be from 1 to --timeout-ms (400)")

    before = {signum: signal.getsignal(signum) for signum in refresh.STOP_SIGNALS}
    with pytest.raises(ConfigError):
        await refresh.repeat(failing, interval_s=0, count=None)
    assert {signum: signal.getsignal(signum) for signum in refresh.STOP_SIGNALS} == before


async def test_a_cancellation_from_elsewhere_still_cancels() -> None:
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(refresh.repeat(forever, interval_s=0, count=None))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
