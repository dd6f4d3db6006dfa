"""shell/broker/live_view.py: the room checks who a listed key vouches for only once it may fill.

Every daemon browses the mesh, and a load change of every server reaches every browser at about
the same moment: a signature check per admission there, in 30 daemons at once, held the thin
clients' broker up (bench broker). Below VOUCH_FROM instances no check is made at admission;
from it on, every instance held is checked once and each later admission again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ltsp_mesh.core.discovery.services import Discovered
from ltsp_mesh.shell.broker.live_view import VOUCH_FROM, LiveView
from tests.unit.fleet import discovered


class CountingPolicy:
    """A known-hosts policy that vouches for nobody and notes whom it was asked about."""

    strict = True

    def __init__(self) -> None:
        self.checked: list[str] = []

    def choose(self, server: Discovered, networks: Sequence[str], now: float) -> None:
        self.checked.append(server.instance)


def _view(policy: CountingPolicy) -> LiveView:
    # Never started: no socket, no browser; instances are admitted as the browser's resolver would.
    aiozc: Any = None
    policy_: Any = policy
    return LiveView(aiozc, networks=["10.0.0.0/8"], policy=policy_, host_key=None, counters=Counter())


def _admit(view: LiveView, count: int, first: int = 0) -> list[str]:
    """Admit servers room{first} ... as the browser found them; their instance names."""
    found = [discovered(f"room{i}") for i in range(first, first + count)]
    for server in found:
        view._admit(server.instance, server)
    return [server.instance for server in found]


async def test_admissions_below_half_full_check_no_signature() -> None:
    policy = CountingPolicy()
    view = _view(policy)
    _admit(view, VOUCH_FROM)
    assert (len(view.discovered), policy.checked) == (VOUCH_FROM, [])


async def test_reaching_half_full_checks_every_instance_held_once_then_each_admission() -> None:
    policy = CountingPolicy()
    view = _view(policy)
    held = _admit(view, VOUCH_FROM)
    later = _admit(view, 2, first=VOUCH_FROM)
    assert sorted(policy.checked) == sorted([*held, *later])


async def test_an_instance_that_changed_past_half_full_is_checked_again() -> None:
    policy = CountingPolicy()
    view = _view(policy)
    names = _admit(view, VOUCH_FROM + 1)
    policy.checked.clear()
    view._admit(names[0], replace(discovered("room0"), ssh_port=2222))
    assert policy.checked == [names[0]]
