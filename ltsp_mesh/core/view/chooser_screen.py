"""The terminal chooser's logic: keys -> selection, feed message -> screen text. Pure.

The shell (cli/chooser.py) reads keys and queue messages and writes the text; everything a
person can do is decided here, so it is tested without a terminal.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from ltsp_mesh.core.codec.feed import FeedMessage

# Down, Draining and Unmeasured servers are shown but cannot be chosen: LDM would wait 5 s on
# a dead host, and a draining one refuses new logins.
CHOOSABLE = frozenset({"Idle", "Busy", "Swapped"})
KEY_UP, KEY_DOWN, KEY_ENTER, KEY_QUIT = "up", "down", "enter", "quit"


class Action(enum.Enum):
    """What a key press leads to."""

    NONE = "none"
    CHOSEN = "chosen"
    QUIT = "quit"


@dataclass(frozen=True, slots=True)
class State:
    """The chooser's state: the latest message and the highlighted server's address."""

    message: FeedMessage | None = None
    selected: str | None = None  # an address; kept across refreshes while that server stays


def _choosable(message: FeedMessage | None) -> list[str]:
    return [s.address for s in message.servers if s.status in CHOOSABLE] if message else []


def on_message(state: State, message: FeedMessage) -> State:
    """A new snapshot: keep the selection if it is still choosable, else the recommended one."""
    choosable = _choosable(message)
    if state.selected in choosable:
        return replace(state, message=message)
    recommended = next((s.address for s in message.servers if s.recommended and s.address in choosable), None)
    return State(message=message, selected=recommended or (choosable[0] if choosable else None))


def on_key(state: State, key: str) -> tuple[State, Action]:
    """Arrows move, a digit picks that line, Enter chooses, q or Esc quits."""
    choosable = _choosable(state.message)
    if key == KEY_QUIT:
        return state, Action.QUIT
    if key == KEY_ENTER:
        return state, (Action.CHOSEN if state.selected in choosable else Action.NONE)
    if key in (KEY_UP, KEY_DOWN) and choosable:
        index = choosable.index(state.selected) if state.selected in choosable else 0
        index = (index + (1 if key == KEY_DOWN else -1)) % len(choosable)
        return replace(state, selected=choosable[index]), Action.NONE
    if key.isdigit() and state.message is not None:
        number = int(key)
        servers = state.message.servers
        if 1 <= number <= len(servers) and servers[number - 1].address in choosable:
            return replace(state, selected=servers[number - 1].address), Action.CHOSEN
    return state, Action.NONE


def screen(state: State, clock: str) -> str:
    """The whole screen for `state`; `clock` is the time of the shown snapshot, for people."""
    lines = ["ltsp-mesh: choose a server to log in to", ""]
    if state.message is None:
        return "\n".join([*lines, "waiting for the server list ..."])
    for number, server in enumerate(state.message.servers, start=1):
        pointer = ">" if server.address == state.selected else " "
        star = "*" if server.recommended else " "
        figures = ""
        if server.sessions is not None and server.capacity is not None:
            figures = f"{server.sessions} sessions / capacity {server.capacity}"
        if server.load is not None:
            figures += f", load {server.load:.2f}"
        lines.append(
            f"{pointer} {number:>2} {star} {server.name:<28} {server.address:<15} {server.status:<10} {figures}"
        )
    if not state.message.servers:
        lines.append("  no server found yet")
    lines += ["", f"updated {clock}   * recommended   Enter: log in   arrows or 1-9: choose   q: quit"]
    return "\n".join(lines)
