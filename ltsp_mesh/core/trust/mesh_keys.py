"""`ltsp-mesh known-hosts`'s decisions: which host keys are new, known, changed or vouched for.

Trust on first use, as ssh's `StrictHostKeyChecking=accept-new`, but an admin says yes: a key
never seen for a server's names is NEW and is written only with --accept-new; a key a site CA
has certified for the server is VOUCHED and written at once; a server whose names are listed
with another key has CHANGED and is refused, loudly, with nothing written. Pure.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from ltsp_mesh.core.trust.known_hosts import KnownHosts, Listing, format_known_hosts
from ltsp_mesh.core.trust.ssh_keys import PublicKey


class Change(enum.StrEnum):
    """How a server's key compares with the file."""

    NEW = "new"
    KNOWN = "known"
    CHANGED = "CHANGED"
    VOUCHED = "vouched by CA"


@dataclass(frozen=True, slots=True)
class Seen:
    """A server's key as it proved it: its names (mDNS host name, addresses) and its key."""

    names: tuple[str, ...]
    key: PublicKey
    vouched: bool = False  # a CA listed in the site's known_hosts certified it for these names


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do about one server's key."""

    seen: Seen
    change: Change
    listed: tuple[PublicKey, ...] = ()  # the keys the file lists for it now


def plan(existing: KnownHosts, seen: Sequence[Seen]) -> list[Decision]:
    """The decision for each server, in the order given."""
    decisions = []
    for server in seen:
        listed = tuple(k for k in existing.lookup(server.names).keys if k.key_type == server.key.key_type)
        if server.key in listed:
            change = Change.KNOWN
        elif listed:
            change = Change.CHANGED
        else:
            change = Change.VOUCHED if server.vouched else Change.NEW
        decisions.append(Decision(server, change, listed))
    return decisions


def lines_to_add(decisions: Sequence[Decision], accept_new: bool) -> str:
    """The known_hosts lines to append: vouched keys, and new ones when the admin accepted them.

    Nothing at all when any key changed: the admin must look into that first.
    """
    if any(d.change is Change.CHANGED for d in decisions):
        return ""
    wanted = {Change.VOUCHED, Change.NEW} if accept_new else {Change.VOUCHED}
    return format_known_hosts(Listing(d.seen.names, d.seen.key) for d in decisions if d.change in wanted)
