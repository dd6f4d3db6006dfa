"""LDM_LB_ALGORITHM=mac-hash: each client keeps its server while that server is up.

Weighted rendezvous (highest random weight) hashing on the client's MAC: every (client, server)
pair gets a score from a hash, and the client lists servers by descending score. Removing a
server moves only the clients that listed it first (everyone else's best is unchanged); a new
server takes exactly the clients for which it now scores highest, about its share. Weighting
uses the logarithmic method (score = -capacity / ln u, u uniform in (0, 1) from the hash):
-ln u is exponential, so a server wins with probability capacity / total capacity.

The server is identified by its announced `id` (stable across restarts and address changes),
so a reboot does not reshuffle anyone. Load is not looked at: stability is the point. A
draining server drops out like a departed one, so its clients move and no one else does.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence

from ltsp_mesh.core.config.client_settings import ClientSettings
from ltsp_mesh.core.discovery.names import normalize_mac
from ltsp_mesh.core.discovery.services import Answered
from ltsp_mesh.core.rank.common import taking_logins

# A float carries 53 bits exactly; more would round u up to 1.0 and ln u to 0.
_BITS = 53


def score(mac: str, server_id: str, capacity: int) -> float:
    """The rendezvous score of one server for one client (normalized MAC); higher wins."""
    digest = hashlib.blake2b(f"{mac}\n{server_id}".encode(), digest_size=8).digest()
    u = ((int.from_bytes(digest, "big") >> (64 - _BITS)) + 0.5) / 2**_BITS  # strictly inside (0, 1)
    return -capacity / math.log(u)


def rank(
    answered: Sequence[Answered], *, settings: ClientSettings, mac: str, rng: random.Random
) -> list[Answered]:
    """Every server taking logins, by descending score for `mac`; raise ValueError for a bad MAC."""
    client = normalize_mac(mac)
    return sorted(
        taking_logins(answered),
        key=lambda a: (-score(client, a.record.server_id, a.record.capacity), a.record.server_id, a.address),
    )
