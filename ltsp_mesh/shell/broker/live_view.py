"""The broker's live view of the mesh: a continuous browse, refreshes on demand, relayed claims.

- Discovery: a zeroconf browser on the daemon's own AsyncZeroconf (one per process: announcer
  and browser share one cache and one set of sockets) keeps every `_ltsp._tcp` instance
  resolved as it comes, changes and goes.
- Who says so: that cache merges every responder's records, so a rogue's A record for a
  genuine host name (with the cache-flush bit, alone) is as good as the server's own there.
  Before a refresh, the servers whose host, ports or addresses changed in the cache are heard
  again from the responders themselves (discover.hear: one question, answered by unicast with
  who sent what), and the versions `services.assemble` orders come before the cache's; under
  known-hosts trust every version and address is checked before a server is called untrusted
  (TrustPolicy.choose), as `ltsp-mesh hosts` does. A server that did not answer for itself,
  or that trust refused, is heard again in the background every HEAR_AGAIN_S.
- Room: at most MAX_INSTANCES instances. Past it, one whose TXT a listed key signed always gets
  in, and any other only in place of an instance from a more crowded address than its own (the
  newest of them); one that proves itself or answered this broker is never pushed out. So a
  flood of bogus services from a few hosts cannot shut out a server that joins during it.
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
import dataclasses
import logging
import random
import secrets
import time
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from ltsp_mesh.core.broker import relay, room
from ltsp_mesh.core.broker.answer import Listed
from ltsp_mesh.core.broker.view import PICK_HOLD_S, MeshView
from ltsp_mesh.core.client.trust_policy import Choice, TrustPolicy
from ltsp_mesh.core.codec import txt
from ltsp_mesh.core.discovery import dnssd_zone, services
from ltsp_mesh.core.discovery.names import SERVICE_TYPE
from ltsp_mesh.core.discovery.services import Answered, Discovered
from ltsp_mesh.core.trust import signed_reply
from ltsp_mesh.errors import DecodeError
from ltsp_mesh.shell import netif, query
from ltsp_mesh.shell.client import discover
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
# Whether a listed key signs an instance's TXT matters only to _make_room, once the table is
# full: it is checked at each admission from half full on (and for every instance held when
# the table reaches that), and not at all below. A load change of each of 30 servers reaches
# every daemon's browser at about the same moment, and a signature check there in each of them
# held the thin clients' broker up: its answer p95 went from 6 ms to 30-50 ms (bench broker).
VOUCH_FROM: Final = MAX_INSTANCES // 2
# Browser events resolved from the cache at once; more are dropped and counted (the cache
# holds at most 10,000 records, and a complete instance resolves from it at once).
MAX_RESOLVING: Final = 1024
# Hearing servers from themselves: legacy unicast answers come in about a millisecond on a LAN;
# a refresh waits this long at most (the wait ends when every server asked has answered), as
# long as it waits for the direct queries' answers (REFRESH_TIMEOUT_S).
HEAR_WAIT_S: Final = 0.25
# A server that did not answer for itself, or that known-hosts trust refused, is heard again (in
# the background, one question at a time) this often: it may have been busy when heard last,
# while a rogue held its cache records.
HEAR_AGAIN_S: Final = 1.0
# How long a refresh waits for the servers to speak for themselves before it asks for figures:
# a LAN round trip, well inside the broker's wait for a refresh (daemon.BROKER_WAIT_S).
HEAR_BLOCK_S: Final = 0.04
RESOLVE_TIMEOUT_MS: Final = 1500
# The zone's records live 60 s (dnssd_zone); browsing it twice a minute while clients ask
# finds a new server as soon as a resolver could, and costs a broker a few DNS packets.
UNICAST_BROWSE_S: Final = 30.0
# The first browse of a zone is waited for this long at most (later ones run behind the view).
UNICAST_FIRST_WAIT_S: Final = 0.2
# Claims waiting for their reply: bounded like the picks in flight (MeshView.MAX_PICKS).
MAX_CLAIMS_IN_FLIGHT: Final = 4096
# A TXT record changes at most ten times a minute and its signature stays valid for 15 minutes
# (trust.DEFAULT_TXT_MAX_AGE_S): a server's versions, once checked, are not checked again for
# this long while they stay the same, so a refresh checks only what changed (about 0.1 ms a
# record; 30 a second add up, and so would a flood's hundreds of refusals).
TXT_VERDICT_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class _Heard:
    """What the responders said of a server themselves, and the cache's view it was asked for."""

    basis: tuple[str, int, tuple[str, ...], int]  # the cache's host, ports and addresses then
    found: Discovered | None  # its versions, from who sent what; None when nobody answered
    at: float  # loop time


def _basis(server: Discovered) -> tuple[str, int, tuple[str, ...], int]:
    # What a server heard once must be heard again for: where it is and where it is asked.
    query_port = server.announced.query_port if server.announced is not None else 0
    return server.host, server.ssh_port, server.addresses, query_port


def _answered_for_itself(heard: _Heard) -> bool:
    return heard.found is not None and any(v.self_attested for v in heard.found.versions)


def _group(server: Discovered) -> str:
    # The address an instance points at first: a flood from a few hosts shares a few.
    return server.addresses[0] if server.addresses else ""


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
        # instance -> (its versions and policy when checked, the choice, when checked)
        self._choices: dict[
            str, tuple[list[tuple[Discovered, object]], TrustPolicy, Choice | None, float]
        ] = {}
        self._heard: dict[str, _Heard] = {}
        self._hearing: asyncio.Task[None] | None = None  # heard again in the background
        self._refused: set[str] = set()  # instances trust refused at the last refresh
        self._vouched: set[str] = set()  # instances whose TXT a listed key signed
        self._vouching = False  # held VOUCH_FROM instances or more at the last admission
        self._by_address: dict[str, dict[str, None]] = {}  # _group -> instances, oldest first
        self._interfaces: tuple[tuple[str, ...], list[netif.Interface]] = ((), [])
        self._rng = random.SystemRandom()
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
        running = [t for t in (self._refreshing, self._browsing, self._hearing) if t is not None]
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
            self._drop(name)
            self.view.forget(name, self._loop.time())
            self.counters["broker_servers_removed"] += 1
            return
        if len(self._tasks) >= MAX_RESOLVING:
            self.counters["broker_resolves_over_limit"] += 1
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
        self._admit(name, Discovered(name, info.server, info.port, addresses, announced, problem, properties))

    def _admit(self, name: str, server: Discovered) -> None:
        """Keep `server`; when full, in place of another as `_make_room` says, or not at all."""
        vouching = len(self.discovered) >= VOUCH_FROM
        if vouching and not self._vouching:  # verdicts kept below VOUCH_FROM may be stale
            self._vouched.clear()
            for known, held in self.discovered.items():
                self._vouch(known, held)
        self._vouching = vouching
        if vouching:
            self._vouch(name, server)
        if (
            name not in self.discovered
            and len(self.discovered) >= MAX_INSTANCES
            and not self._make_room(server)
        ):
            self.counters["broker_instances_over_limit"] += 1
            return
        self._drop(name, keep_verdicts=True)  # its address may have changed: placed again
        self.discovered[name] = server
        self._by_address.setdefault(_group(server), {})[name] = None

    def _vouch(self, name: str, server: Discovered) -> None:
        """Note whether a listed key signs `server`'s TXT (the trust policy's verified choice)."""
        choice = self._choose(self._candidate(server), time.time())
        if choice is not None and choice.verified:
            self._vouched.add(name)
        else:
            self._vouched.discard(name)

    def _make_room(self, server: Discovered) -> bool:
        """Drop an instance for `server` as core/broker/room.py says; False when it stays out."""
        answering = {key for key, _ in self.view.servers(self._loop.time())}
        dropped = room.victim(
            {address: list(names) for address, names in self._by_address.items()},
            _group(server),
            proven=server.instance in self._vouched,
            safe=self._vouched | answering,
        )
        if dropped is None:
            return False
        self._drop(dropped)
        self.counters["broker_instances_replaced"] += 1
        return True

    def _drop(self, name: str, *, keep_verdicts: bool = False) -> None:
        server = self.discovered.pop(name, None)
        if server is not None:
            group = self._by_address.get(_group(server), {})
            group.pop(name, None)
            if not group:
                self._by_address.pop(_group(server), None)
        if not keep_verdicts:
            self._heard.pop(name, None)
            self._choices.pop(name, None)
            self._refused.discard(name)
            self._vouched.discard(name)

    # -- who says so ---------------------------------------------------------------------
    def _own_interfaces(self) -> list[netif.Interface]:
        """This broker's interfaces on its networks, read again when the networks change."""
        networks = tuple(self.networks)
        if self._interfaces[0] != networks:
            self._interfaces = (networks, [i for i in netif.select([]) if i.network in networks])
        return self._interfaces[1]

    async def _hear(self, names: Sequence[str], deadline: float) -> None:
        """Hear `names` (instances in the cache) from the responders themselves, until `deadline`."""
        wanted = {n: self.discovered[n].host for n in names if n in self.discovered}
        if not wanted:
            return
        basis = {n: _basis(self.discovered[n]) for n in wanted}
        interfaces = self._own_interfaces()
        if not interfaces:  # between two DHCP leases: the cache is all there is for now
            self._interfaces = ((), [])
            self.counters["broker_hear_no_interface"] += 1
            return
        try:
            found = await discover.hear(interfaces, wanted, deadline, self._rng)
        except OSError as exc:  # an address gone with a DHCP lease: read them again next time
            self._interfaces = ((), [])
            self.counters["broker_hear_failed"] += 1
            log.debug("could not ask the servers themselves: %s", exc)
            return
        self.counters["broker_heard"] += 1
        by_key = {services.name_key(d.instance): d for d in found}
        now = self._loop.time()
        for name in wanted:
            if name in self.discovered:
                self._heard[name] = _Heard(basis[name], by_key.get(services.name_key(name)), now)

    async def _hear_changed(self) -> None:
        """Hear the servers never heard, and those that answered for themselves whose host, ports
        or addresses changed in the cache since (the others are heard in the background)."""
        changed = [
            name
            for name, server in self.discovered.items()
            if (heard := self._heard.get(name)) is None
            or (heard.basis != _basis(server) and _answered_for_itself(heard))
        ]
        if changed:
            await self._hear(changed[: discover.MAX_FOLLOWUP_NAMES], self._loop.time() + HEAR_WAIT_S)

    def _hear_later(self) -> None:
        """In the background, hear again the servers refused or silent for themselves, once
        HEAR_AGAIN_S has passed since they were heard."""
        now = self._loop.time()
        due = [
            name
            for name, heard in self._heard.items()
            if now - heard.at >= HEAR_AGAIN_S and (name in self._refused or not _answered_for_itself(heard))
        ]
        if not due or self._hearing is not None:
            return

        async def hear() -> None:
            try:
                await self._hear(due[: discover.MAX_FOLLOWUP_NAMES], self._loop.time() + HEAR_WAIT_S)
            finally:
                self._hearing = None

        self._hearing = self._loop.create_task(hear())

    def _candidate(self, server: Discovered) -> Discovered:
        """`server` as the cache has it, after the versions its responders gave themselves."""
        heard = self._heard.get(server.instance)
        if heard is None or heard.found is None:
            return server
        return dataclasses.replace(heard.found, alternatives=(*heard.found.alternatives, server))

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

    def _choose(self, server: Discovered, now: float) -> Choice | None:
        """The trust policy's choice of version and address, made again only when they changed."""
        # Discovered's equality leaves the TXT's properties out (signature and timestamp): compare them too.
        versions: list[tuple[Discovered, object]] = [(v, v.txt_properties) for v in server.versions]
        kept = self._choices.get(server.instance)
        if (
            kept is not None
            and kept[0] == versions
            and kept[1] is self.policy
            and now - kept[3] < TXT_VERDICT_S
        ):
            return kept[2]
        choice = self.policy.choose(server, self.networks, now)
        self._choices[server.instance] = (versions, self.policy, choice, now)
        return choice

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
        for gone in self._choices.keys() - {s.instance for s in known}:
            del self._choices[gone]
        self._refused.clear()
        for cached in known:
            choice = self._choose(self._candidate(cached), now)
            if choice is None:
                continue
            server, address = choice.server, choice.address
            if server.announced is None:
                continue  # no ltsp-mesh TXT, no query service: its liveness cannot be checked
            if choice.refusal:
                self.counters["broker_untrusted"] += 1
                self._refused.add(cached.instance)
                log.debug("not asking %s (%s): %s", server.label, address, choice.refusal)
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
            # Hearing waits for every server asked, so one that died holds it to its deadline;
            # a thin client's request (daemon.BROKER_WAIT_S) must not wait that long. Past
            # HEAR_BLOCK_S this round goes on with what is known, and the next uses the rest.
            hearing = self._loop.create_task(self._hear_changed())
            await asyncio.wait([hearing], timeout=HEAR_BLOCK_S)
            started = self._loop.time()
            targets = self._targets()
            self._hear_later()
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
                # Alive now: a request that cannot wait for the whole refresh (the view is
                # older than ANSWER_TTL_S) gets the servers that answered so far.
                self.view.observe(key, answer, self._loop.time())
                if published:
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
            await hearing
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
        # The cookie the server gave this broker's address: what it believes when no known
        # hosts vouch for this broker (trust any).
        signed = listed.answered.signed
        datagram = relay.encode(
            client,
            nonce,
            time.time(),
            key=key.private if key else None,
            certificate=key.certificate if key else b"",
            cookie=signed.reply.cookie if signed is not None else b"",
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
