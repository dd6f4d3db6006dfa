"""What `serve` does with mesh.conf re-read on SIGHUP: the changes it applies while running,
and those that wait for a restart.

Live: CAPACITY (announced at once), KNOWN_HOSTS (the broker's trust and the relayed claims it
believes) and INTERFACES (the daemon moves its announcement and listeners as it does when an
address changes). The ports, the host key, the state directory and the unicast DNS-SD zone
hold sockets, signatures, files and DNS registrations made at start-up: changing them under a
running daemon would leave clients with a half-moved server, so they need a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Final

from ltsp_mesh.core.config.mesh_conf import ServeSettings

LIVE: Final = frozenset({"capacity", "known_hosts", "interfaces"})


@dataclass(frozen=True, slots=True)
class Change:
    """One mesh.conf key whose value differs between the running and the re-read settings."""

    key: str  # as mesh.conf spells it, e.g. "CAPACITY"
    old: str
    new: str

    def __str__(self) -> str:
        return f"{self.key} {self.old} -> {self.new}"


@dataclass(frozen=True, slots=True)
class Reload:
    """The settings to run with after a reload, and what changed."""

    settings: ServeSettings  # the running settings with every live change applied
    applied: tuple[Change, ...]
    need_restart: tuple[Change, ...]


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value) or "(unset)"
    if value is None or value == "":
        return "(unset)"
    return str(value)


def plan(running: ServeSettings, wanted: ServeSettings) -> Reload:
    """Compare `running` with `wanted` (mesh.conf and the command line, read again)."""
    applied: list[Change] = []
    need_restart: list[Change] = []
    live: dict[str, object] = {}
    for field in fields(ServeSettings):
        old, new = getattr(running, field.name), getattr(wanted, field.name)
        if old == new:
            continue
        change = Change(field.name.upper(), _shown(old), _shown(new))
        if field.name in LIVE:
            applied.append(change)
            live[field.name] = new
        else:
            need_restart.append(change)
    return Reload(replace(running, **live), tuple(applied), tuple(need_restart))  # type: ignore[arg-type]
