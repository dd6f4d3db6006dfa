"""Direct `stats` queries to many servers at once, over one UDP socket, under one deadline."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ltsp_mesh.core.client.trust_policy import TRUST_ANY, TrustPolicy
from ltsp_mesh.core.codec import load_query
from ltsp_mesh.core.discovery.services import Answered, Discovered
from ltsp_mesh.core.trust import signed_reply
from ltsp_mesh.errors import DecodeError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Target:
    """One server to ask: where, on which port, and how far to pad the request."""

    discovered: Discovered
    address: str
    port: int
    request_size: int = load_query.REQUEST_SIZE_BYTES


@dataclass
class _Pending:
    target: Target
    sent_at: float


@dataclass
class _Replies(asyncio.DatagramProtocol):
    pending: dict[bytes, _Pending]
    policy: TrustPolicy
    answered: list[Answered] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # address -> why its reply was not believed
    counters: Counter[str] = field(default_factory=Counter)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    on_answer: Callable[[Answered], None] | None = None

    def error_received(self, exc: Exception) -> None:
        # asyncio reports send failures (and ICMP errors) here rather than to sendto's caller.
        self.counters["query_send_errors"] += 1
        log.debug("direct query error: %s", exc)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            reply = signed_reply.decode(data)
        except DecodeError as exc:
            self.counters["query_replies_malformed"] += 1
            log.debug("bad reply from %s: %s", addr[0], exc)
            return
        nonce = reply.reply.nonce
        waiting = self.pending.get(nonce)
        if waiting is None or waiting.target.address != addr[0]:
            self.counters["query_replies_unexpected"] += 1
            return
        # Checked before the request is settled: a forged reply (spoofed source, copied nonce)
        # must not stop the client from waiting for the genuine one.
        why = self.policy.believe(reply, nonce, waiting.target.discovered, addr[0], time.time())
        if why:
            self.counters["query_replies_untrusted"] += 1
            self.rejected[addr[0]] = why
            log.info("not believing %s: %s", addr[0], why)
            return
        del self.pending[nonce]
        elapsed_ms = (asyncio.get_running_loop().time() - waiting.sent_at) * 1000
        answer = Answered(waiting.target.discovered, addr[0], reply.reply.record, round(elapsed_ms, 2), reply)
        self.answered.append(answer)
        if self.on_answer is not None:
            self.on_answer(answer)
        if not self.pending:
            self.done.set()


async def query_all(
    targets: Sequence[Target],
    deadline: float,
    counters: Counter[str],
    policy: TrustPolicy = TRUST_ANY,
    want_key: bool = False,
    on_answer: Callable[[Answered], None] | None = None,
) -> tuple[list[Answered], dict[str, str]]:
    """Send `stats` to every target at once; return the believed replies that came back by
    `deadline`, and why the others' replies were not believed (by address). With `want_key`,
    servers are asked to send their public host key along; `on_answer` hears of each believed
    reply the moment it arrives (the broker's view does not wait for the slowest)."""
    if not targets:
        return [], {}
    loop = asyncio.get_running_loop()
    protocol = _Replies(pending={}, policy=policy, on_answer=on_answer)
    transport, _ = await loop.create_datagram_endpoint(lambda: protocol, local_addr=("0.0.0.0", 0))
    try:
        for target in targets:
            nonce = secrets.token_bytes(16)
            protocol.pending[nonce] = _Pending(target, loop.time())
            request = load_query.encode_request(
                load_query.Request(load_query.Op.STATS, nonce, want_key=want_key), pad_to=target.request_size
            )
            try:
                transport.sendto(request, (target.address, target.port))
            except OSError as exc:  # no route, unreachable: that server simply does not answer
                del protocol.pending[nonce]
                counters["query_send_failed"] += 1
                log.debug("cannot ask %s: %s", target.address, exc)
        if not protocol.pending:
            protocol.done.set()
        try:
            async with asyncio.timeout_at(deadline):
                await protocol.done.wait()
        except TimeoutError:
            counters["query_unanswered"] += len(protocol.pending)
    finally:
        transport.close()
    counters.update(protocol.counters)
    counters["query_answered"] += len(protocol.answered)
    return protocol.answered, protocol.rejected
