"""The listeners per address follow the addresses: those that stayed are left alone."""

from __future__ import annotations

import contextlib

from ltsp_mesh.errors import ConfigError
from ltsp_mesh.shell.netif import Interface
from ltsp_mesh.shell.server.network import Listeners, describe


class Recorder:
    """Opens two fake listeners per address (the second fails for `refuse`) and logs it all."""

    def __init__(self, refuse: str = "") -> None:
        self.refuse = refuse
        self.events: list[str] = []

    async def open(self, host: str, stack: contextlib.AsyncExitStack) -> None:
        self.events.append(f"open udp {host}")
        stack.callback(self.events.append, f"close udp {host}")
        if host == self.refuse:
            raise ConfigError(f"cannot listen on {host}:378")
        self.events.append(f"open tcp {host}")
        stack.callback(self.events.append, f"close tcp {host}")


async def test_an_address_that_stayed_keeps_its_listeners() -> None:
    recorder = Recorder()
    listeners = Listeners(recorder.open)
    await listeners.match(["10.0.0.5", "10.1.0.5"])
    recorder.events.clear()
    assert await listeners.match(["10.0.0.5", "10.1.0.9"]) == []
    assert recorder.events == [
        "close tcp 10.1.0.5",
        "close udp 10.1.0.5",
        "open udp 10.1.0.9",
        "open tcp 10.1.0.9",
    ]
    assert listeners.hosts == ["10.0.0.5", "10.1.0.9"]


async def test_an_address_that_cannot_listen_is_reported_and_leaves_nothing_open() -> None:
    recorder = Recorder(refuse="10.1.0.9")
    listeners = Listeners(recorder.open)
    failures = await listeners.match(["10.0.0.5", "10.1.0.9"])
    assert [str(f) for f in failures] == ["cannot listen on 10.1.0.9:378"]
    assert "close udp 10.1.0.9" in recorder.events and listeners.hosts == ["10.0.0.5"]


async def test_close_closes_every_listener() -> None:
    recorder = Recorder()
    listeners = Listeners(recorder.open)
    await listeners.match(["10.0.0.5"])
    await listeners.close()
    assert (recorder.events[-2:], listeners.hosts) == (["close tcp 10.0.0.5", "close udp 10.0.0.5"], [])


def test_the_log_names_each_interface_with_its_address_and_prefix() -> None:
    found = [Interface("eth0", "10.0.0.5", "10.0.0.0/24", "02:00:00:00:00:01")]
    assert (describe(found), describe([])) == ("eth0 10.0.0.5/24", "no address")
