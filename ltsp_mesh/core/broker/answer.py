"""The broker's decision for one thin client: rank the view, count the pick, say what to claim.

`handle(request, view, client=..., now=..., rng=...)` is the whole decision: the same ranking
functions as `ltsp-mesh hosts` and the simulator (core/rank), over the broker's view with its
own picks in flight counted, the address on the client's own subnet for each server, and the
pick counted at once so that the next request, a millisecond later, sees it. It returns the
status and body to send, the warnings for values the request could not use (sent as
`Ltsp-Mesh-Warning` headers, which the hook logs), and the claim to relay; the shell only
moves bytes.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ltsp_mesh.core import rank
from ltsp_mesh.core.broker.request import API_VERSION, BrokerRequest, Form, hashing_mac
from ltsp_mesh.core.broker.view import MeshView
from ltsp_mesh.core.discovery import services
from ltsp_mesh.core.discovery.services import Answered
from ltsp_mesh.core.status import status_of

TEXT_TYPE: Final = "text/plain; charset=utf-8"
JSON_TYPE: Final = "application/json"
# One header per value the broker could not use (docs/broker.md): clients that do not know it
# skip it, as HTTP says they must, so the answer stays v1.
WARNING_HEADER: Final = "Ltsp-Mesh-Warning"


@dataclass(frozen=True, slots=True)
class Listed:
    """One server handed out: its key in the view, the address for this client, its answer."""

    key: str
    address: str
    answered: Answered


@dataclass(frozen=True, slots=True)
class Reply:
    """What to send back, and the claim to relay for the client (None: nothing to claim)."""

    status: int
    content_type: str
    body: bytes
    claim: Listed | None = None
    counters: tuple[str, ...] = field(default=())
    warnings: tuple[str, ...] = ()  # one line each, printable ASCII: the WARNING_HEADER values


def refusal(status: int, reason: str) -> Reply:
    """An error reply: one line of text saying why, for the hook's log."""
    line = " ".join(reason.split())[:300]
    return Reply(status, TEXT_TYPE, (line + "\n").encode("utf-8", "replace"))


def listed(
    request: BrokerRequest,
    servers: Sequence[tuple[str, Answered]],
    *,
    client: str,
    client_networks: Sequence[str],
    rng: random.Random,
) -> list[Listed]:
    """The servers to hand `client` out, best first, at most LDM_LB_HOSTS of them."""
    keys = {id(answer): key for key, answer in servers}
    ranked = rank.rank(
        [a for _, a in servers],
        settings=request.settings,
        mac=hashing_mac(request, client),
        rng=rng,
        informed=True,
    )
    result = [
        Listed(keys[id(a)], services.choose_address(a.discovered.addresses, client_networks) or a.address, a)
        for a in ranked
    ]
    limit = request.settings.max_hosts
    return result[:limit] if limit else result


def handle(
    request: BrokerRequest,
    view: MeshView,
    *,
    client: str,
    client_networks: Sequence[str],
    now: float,
    rng: random.Random,
) -> Reply:
    """The reply to `request` from `client` at `now`; a TEXT request's pick is counted in `view`.

    Every reply says which values of the request were bad and what was used instead."""
    reply = _decide(request, view, client=client, client_networks=client_networks, now=now, rng=rng)
    return dataclasses.replace(reply, warnings=tuple(bad.reason for bad in request.bad))


def _decide(
    request: BrokerRequest,
    view: MeshView,
    *,
    client: str,
    client_networks: Sequence[str],
    now: float,
    rng: random.Random,
) -> Reply:
    servers = view.servers(now)
    hosts = listed(request, servers, client=client, client_networks=client_networks, rng=rng)
    if request.form is Form.JSON:
        return Reply(200, JSON_TYPE, _json(request, servers, hosts, view.age_s(now)))
    if not hosts:
        why = (
            f"none of the {len(servers)} servers this broker sees takes logins"
            if servers
            else "this broker sees no live server yet"
        )
        return refusal(503, why)
    body = (" ".join(h.address for h in hosts) + "\n").encode("ascii")
    if not request.counts:
        return Reply(200, TEXT_TYPE, body)
    counted = view.pick(client, hosts[0].key, now)
    return Reply(
        200, TEXT_TYPE, body, claim=hosts[0], counters=() if counted else ("broker_picks_over_limit",)
    )


def _json(
    request: BrokerRequest, servers: Sequence[tuple[str, Answered]], hosts: Sequence[Listed], age_s: float
) -> bytes:
    by_key = {h.key: h.address for h in hosts}
    rows: list[dict[str, Any]] = []
    for key, answer in servers:
        record = answer.record
        rows.append(
            {
                "name": answer.discovered.label,
                "address": by_key.get(key, answer.address),
                "listed": key in by_key,
                "status": status_of(answer, request.settings).value,
                "response_ms": answer.response_ms,
                "record": {
                    "id": record.server_id,
                    "cpus": record.cpus,
                    "load": record.load_per_cpu,
                    "mem": record.mem_percent,
                    "swapping": record.swapping,
                    "sessions": record.sessions,
                    "pending": record.pending,
                    "capacity": record.capacity,
                    "state": record.state.value,
                },
            }
        )
    document = {
        "v": API_VERSION,
        "hosts": [h.address for h in hosts],
        "algorithm": request.settings.algorithm.value,
        "servers": rows,
        "view_age_ms": round(age_s * 1000, 1) if age_s != float("inf") else None,
        "warnings": [bad.reason for bad in request.bad],
    }
    return (json.dumps(document, sort_keys=True) + "\n").encode("utf-8")
