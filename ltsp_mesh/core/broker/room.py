"""Which instance a broker drops to make room for another, when it holds all it may.

A broker keeps at most MAX_INSTANCES instances (shell/broker/live_view.py). Refusing every
newcomer once full lets a flood that came first shut out a server that joins during it; dropping
the oldest lets a flood push out the servers it found first. The rule between: an instance that
proves itself (a key known_hosts lists signed its TXT) or answered the broker is never dropped
and always gets in; of the others, the newest of the instances pointing at the most crowded
address goes, and a newcomer that does not prove itself gets in only in place of one from a
more crowded address than its own. A flood from a few hosts thus loses its own instances first.
Pure: the shell passes the crowds, the proven and the answering.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set


def victim(crowds: Mapping[str, Sequence[str]], newcomer: str, *, proven: bool, safe: Set[str]) -> str | None:
    """The instance to drop so that one pointing at address `newcomer` gets in; None: it stays out.

    `crowds` maps each address to the instances pointing at it, oldest first; `proven` says the
    newcomer proves itself; `safe` are the instances never dropped.
    """
    own = len(crowds.get(newcomer, ())) + 1
    for _, names in sorted(crowds.items(), key=lambda crowd: -len(crowd[1])):
        if not proven and len(names) <= own:
            return None
        dropped = next((name for name in reversed(names) if name not in safe), None)
        if dropped is not None:
            return dropped
    return None
