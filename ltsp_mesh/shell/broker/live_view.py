"""The broker's live view of the mesh: a continuous browse, refreshes on demand, relayed claims.

- Discovery: a zeroconf browser on the daemon's own AsyncZeroconf (one per process: announcer
  and browser share one cache and one set of sockets) keeps every `_ltsp._tcp` instance
  resolved as it comes, changes and goes.
- Figures: nothing is asked while no thin client asks. A request that finds the view older
  than REFRESH_AHEAD_S starts a refresh (one `stats` query to every trusted server at once);
  one that finds it older than FRESH_S waits for that refresh, which is ready as soon as every
  server asked has answered but for those silent in the last one (a server that dies holds
  one refresh READY_WAIT_S at most), so a request is answered from figures about a second old
  at worst, and a steady storm never waits.
- Claims: each pick is claimed on the client's behalf with a signed relayed claim; the
  server's signed reply carries its new `pend`, which replaces the pick counted in flight.
- Beyond one link: with DNS_SD_DOMAIN, the servers registered in that unicast zone are browsed
  too (through the resolver, as `ltsp-mesh hosts` does with LDM_LB_DOMAIN), at most every
  UNICAST_BROWSE_S and only while thin clients ask, so a site of many subnets needs no
  reflector: a thin client's boot server lists the servers of every subnet.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from ltsp_mesh.core.broker import relay
from ltsp_mesh.core.broker.answer import Listed
from ltsp_mesh.core.broker.view import PICK_HOLD_S, MeshView
from ltsp_mesh.core.client.trust_policy import TrustPolicy
from ltsp_mesh.core.codec import txt
from ltsp_mesh.core.discovery import dnssd_zone, services
from ltsp_mesh.core.discovery.names import SERVICE_TYPE
from ltsp_mesh.core.discovery.services import Answered, Discovered
from ltsp_mesh.core.trust import signed_reply
from ltsp_mesh.errors import DecodeError
from ltsp_mesh.shell import query
from ltsp_mesh.shell.keys import HostKey

log = logging.getLogger(__name__)

# Live servers on a LAN answer in about a millisecond; a refresh waits this long at most for
# one that answered last time and not this time (it died) before the view moves on without it.
READY_WAIT_S: Final = 0.1
# Answers later than this are not taken at all: LDM_LB_MAX_RESPONSE_MS's default (250 ms)
# already calls such a server slow.
REFRESH_TIMEOUT_S: Final = 0.25
# A rogue announcing thousands of instances must not make every refresh query thousands of
# hosts: a site of 1400 clients has 30 servers, the largest imaginable a few hundred.
MAX_INSTANCES: Final = 512
RESOLVE_TIMEOUT_MS: Final = 1500
# The zone's records live 60 s (dnssd_zone); browsing it twice a minute while clients ask
# finds a new server as soon as a resolver could, and costs a broker a few DNS packets.
UNICAST_BROWSE_S: Final = 30.0
# The first browse of a zone is waited for this long at most (later ones run behind the view).
UNICAST_FIRST_WAIT_S: Final = 0.2
# Claims waiting for their reply: bounded like the picks in flight (MeshView.MAX_PICKS).
MAX_CLAIMS_IN_FLIGHT: Final = 4096
# A TXT record changes at most ten times a minute and its signature stays valid for 15 minutes
# (trust.DEFAULT_TXT_MAX_AGE_S): a record found trustworthy is not checked again for this long
# while it and its address stay the same, so a refresh checks only what changed (about 0.1 ms a
# record; 30 a second add up).
TXT_VERDICT_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class _Claim:
    client: str
    listed: Listed
    sent_at: float


class _ClaimReplies(asyncio.DatagramProtocol):
    def __init__(self, view: LiveView) -> None:
        self.view = view

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.view.claim_answered(data, addr[0])

    def error_received(self, exc: Exception) -> None:
        self.view.counters["broker_claim_send_errors"] += 1
        log.debug("relayed claim error: %s", exc)


class LiveView:
    """The mesh as this broker sees it, kept live; `view` is the pure MeshView it maintains."""

    def __init__(
        self,
        aiozc: AsyncZeroconf,
        *,
        networks: Sequence[str],
        policy: TrustPolicy,
        host_key: HostKey | None,
        counters: Counter[str],
        dns_sd_domain: str = "",
    ) -> None:
        self.aiozc, self.networks, self.policy, self.host_key = aiozc, list(networks), policy, host_key
        self.dns_sd_domain = dns_sd_domain
        self.counters = counters
        self.view = MeshView()
        self.discovered: dict[str, Discovered] = {}
        self._loop = asyncio.get_running_loop()
        self._browser: AsyncServiceBrowser | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._refreshing: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._claims: OrderedDict[bytes, _Claim] = OrderedDict()
        self._claim_transport: asyncio.DatagramTransport | None = None
        # instance -> (its TXT and address when checked, why not to ask it, when checked)
        self._txt_verdicts: dict[str, tuple[Discovered, str, str, float]] = {}
        self._silent: set[str] = set()  # asked in the last refresh, never answered it
        self._unicast: list[Discovered] = []  # found in DNS_SD_DOMAIN
        self._unicast_at = -float("inf")
        self._browsing: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        """Open the claim socket and start browsing."""
        transport, _ = await self._loop.create_datagram_endpoint(
            lambda: _ClaimReplies(self), local_addr=("0.0.0.0", 0)
        )
        self._claim_transport = transport
        self._browser = AsyncServiceBrowser(self.aiozc.zeroconf, SERVICE_TYPE, handlers=[self._on_change])

    async def stop(self) -> None:
        """Stop browsing, refreshing and claiming; each part undone once."""
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        running = [t for t in (self._refreshing, self._browsing) if t is not None]
        for task in [*self._tasks, *running]:
            task.cancel()
        await asyncio.gather(*self._tasks, *running, return_exceptions=True)
        if self._claim_transport is not None:
            self._claim_transport.close()
            self._claim_transport = None

    # -- discovery ---------------------------------------------------------------------
    def _on_change(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is ServiceStateChange.Removed:
            self.discovered.pop(name, None)
            self.view.forget(name, self._loop.time())
            self.counters["broker_servers_removed"] += 1
            return
        if name not in self.discovered and len(self.discovered) >= MAX_INSTANCES:
            self.counters["broker_instances_over_limit"] += 1
            return
        task = self._loop.create_task(self._resolve(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, name: str) -> None:
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if not await info.async_request(self.aiozc.zeroconf, RESOLVE_TIMEOUT_MS):
            self.counters["broker_resolve_failed"] += 1
            return
        addresses = tuple(info.parsed_addresses(IPVersion.V4Only))
        if not addresses or info.server is None or info.port is None:
            self.counters["broker_resolve_incomplete"] += 1
            return
        properties = dict(info.properties)
        announced, problem = None, ""
        try:
            announced = txt.decode(properties)
        except DecodeError as exc:
            problem = str(exc)
        self.discovered[name] = Discovered(
            name, info.server, info.port, addresses, announced, problem, properties
        )

    # -- figures -----------------------------------------------------------------------
    async def ready(self, deadline: float) -> None:
        """Make the view fit to answer from: start a refresh when due, wait for one (until
        `deadline`, loop time) when the view is too old to answer from."""
        now = self._loop.time()
        if self.view.needs_refresh(now) and self._refreshing is None:
            self._ready.clear()
            self._refreshing = self._loop.create_task(self._refresh())
        if not self.view.fresh(now) and self._refreshing is not None:
            try:
                async with asyncio.timeout_at(deadline):
                    await self._ready.wait()
            except TimeoutError:
                self.counters["broker_answered_stale"] += 1

    def _why_not_ask(self, server: Discovered, address: str, now: float) -> str:
        """The trust policy's verdict on a server's TXT, checked again only when it changed."""
        kept = self._txt_verdicts.get(server.instance)
        # Discovered's equality leaves the TXT's properties out (signature and timestamp): compare them too.
        if (
            kept is not None
            and kept[0] == server
            and kept[0].txt_properties == server.txt_properties
            and kept[1] == address
            and now - kept[3] < TXT_VERDICT_S
        ):
            return kept[2]
        why = self.policy.ask(server, address, now)
        if not why:  # a refusal is checked again: it is cheap (no listed key, no signature check)
            self._txt_verdicts[server.instance] = (server, address, why, now)
        return why

    async def _browse_zone(self) -> None:
        # dnspython is imported only by daemons that have a zone (a sixth of the daemon's memory).
        from ltsp_mesh.shell.client import dnssd_browse

        try:
            found = await dnssd_browse.discovered(
                self.dns_sd_domain, self._loop.time() + 2.0, counters=self.counters
            )
        except Exception as exc:  # the resolver's many errors: keep the last list, say why
            self.counters["broker_zone_browse_failed"] += 1
            log.warning("could not browse %s for servers on other links: %s", self.dns_sd_domain, exc)
            return
        finally:
            self._unicast_at = self._loop.time()
            self._browsing = None
        self._unicast = found[:MAX_INSTANCES]

    async def _zone(self) -> None:
        """Browse DNS_SD_DOMAIN again when due, in the background; wait for the first browse."""
        if not self.dns_sd_domain or self._loop.time() - self._unicast_at < UNICAST_BROWSE_S:
            return
        if self._browsing is None:
            self._browsing = self._loop.create_task(self._browse_zone())
        if self._unicast_at == -float("inf"):
            await asyncio.wait([self._browsing], timeout=UNICAST_FIRST_WAIT_S)

    def _targets(self) -> list[query.Target]:
        targets, now = [], time.time()
        known = (
            dnssd_zone.merge(list(self.discovered.values()), self._unicast)
            if self._unicast
            else list(self.discovered.values())
        )
        for gone in self._txt_verdicts.keys() - {s.instance for s in known}:
            del self._txt_verdicts[gone]
        for server in known:
            if server.announced is None:
                continue  # no ltsp-mesh TXT, no query service: its liveness cannot be checked
            address = services.choose_address(server.addresses, self.networks)
            if address is None:
                continue
            why = self._why_not_ask(server, address, now)
            if why:
                self.counters["broker_untrusted"] += 1
                log.debug("not asking %s (%s): %s", server.label, address, why)
                continue
            targets.append(
                query.Target(
                    server, address, server.announced.query_port, self.policy.request_size(server, address)
                )
            )
        return targets

    async def _refresh(self) -> None:
        try:
            await self._zone()
            started = self._loop.time()
            targets = self._targets()
            asked = {t.discovered.instance for t in targets}
            # Ready when every server asked has answered, but for those silent last time: a
            # server that left without a goodbye stays in the browse for 20 minutes, and must
            # not hold every refresh back. One that just joined is waited for.
            expected = asked - self._silent
            answers: dict[str, Answered] = {}
            published = False

            def publish() -> None:
                nonlocal published
                published = True
                self.view.refreshed(answers.items(), self._loop.time())
                self._ready.set()

            def on_answer(answer: Answered) -> None:
                key = answer.discovered.instance
                if published:
                    self.view.observe(key, answer, self._loop.time())  # late, but alive
                    return
                answers[key] = answer
                if expected <= answers.keys():
                    publish()

            waiting = self._loop.create_task(
                query.query_all(
                    targets, started + REFRESH_TIMEOUT_S, self.counters, self.policy, on_answer=on_answer
                )
            )
            if expected:
                await asyncio.wait([waiting], timeout=READY_WAIT_S)
            if not published:
                publish()
            await waiting
            self._silent = asked - {key for key, _ in self.view.servers(self._loop.time())}
            self.counters["broker_refreshes"] += 1
        finally:
            self._refreshing = None
            self._ready.set()

    # -- claims ------------------------------------------------------------------------
    def relay_claim(self, client: str, listed: Listed) -> None:
        """Claim `listed` for `client`: a relayed claim signed with this server's host key."""
        if self._claim_transport is None:
            return
        now = self._loop.time()
        while self._claims and (
            len(self._claims) >= MAX_CLAIMS_IN_FLIGHT
            or now - next(iter(self._claims.values())).sent_at > PICK_HOLD_S
        ):
            self._claims.popitem(last=False)
            self.counters["broker_claims_unanswered"] += 1
        nonce = secrets.token_bytes(16)
        key = self.host_key
        datagram = relay.encode(
            client,
            nonce,
            time.time(),
            key=key.private if key else None,
            certificate=key.certificate if key else b"",
        )
        self._claims[nonce] = _Claim(client, listed, now)
        self._claim_transport.sendto(datagram, (listed.answered.address, listed.answered.record.query_port))
        self.counters["broker_claims_sent"] += 1

    def claim_answered(self, data: bytes, source: str) -> None:
        """A reply to a relayed claim: believed, it replaces the pick in flight with the figures."""
        try:
            reply = signed_reply.decode(data)
        except DecodeError:
            self.counters["broker_claim_replies_malformed"] += 1
            return
        claim = self._claims.get(reply.reply.nonce)
        if claim is None or claim.listed.answered.address != source:
            self.counters["broker_claim_replies_unexpected"] += 1
            return
        listed = claim.listed
        if self.policy.believe(reply, reply.reply.nonce, listed.answered.discovered, source, time.time()):
            self.counters["broker_claim_replies_untrusted"] += 1
            return
        del self._claims[reply.reply.nonce]
        now = self._loop.time()
        answer = Answered(
            listed.answered.discovered,
            source,
            reply.reply.record,
            round((now - claim.sent_at) * 1000, 2),
            reply,
        )
        self.view.acknowledge(claim.client, listed.key, answer, now)
        self.counters["broker_claims_answered"] += 1
