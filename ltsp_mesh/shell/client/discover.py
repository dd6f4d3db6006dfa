"""One-shot DNS-SD discovery over mDNS (RFC 6762 section 5.1), bounded by a deadline.

The hook runs once per login screen and exits, so it does not join the mDNS group or bind port
5353 (where a local Avahi may live): it sends the PTR question from an ephemeral port, and every
responder answers it at once by unicast ("legacy unicast", RFC 6762 section 6.7) with the SRV,
TXT and A records as additionals. python-zeroconf's DNS codec builds and parses the packets.

Any host on the LAN can answer too, as often and as much as it likes, so each record keeps the
address it came from (core/discovery/services.py believes records from the responder they
describe), what is kept is shared fairly among the responders (core/discovery/budget.py), and
the socket is read so that a flood queued ahead of a server's answer does not delay it
(`_Reader`). `hear` asks the responders themselves about servers a cache already knows: a
broker's python-zeroconf cache merges every responder's records.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import socket
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from zeroconf import (
    DNSAddress,
    DNSIncoming,
    DNSOutgoing,
    DNSPointer,
    DNSQuestion,
    DNSRecord,
    DNSService,
    DNSText,
)

from ltsp_mesh.core.discovery import budget, services
from ltsp_mesh.core.discovery.names import SERVICE_TYPE
from ltsp_mesh.shell.netif import Interface

log = logging.getLogger(__name__)

# The protocol's own numbers, named here rather than taken from zeroconf's private constants:
# RFC 1035 section 3.2 (types, class IN), RFC 2782 (SRV), RFC 6762 section 3 (the mDNS group
# and port); a query's flags are all zero (RFC 1035 section 4.1.1).
_TYPE_A: Final = 1
_TYPE_PTR: Final = 12
_TYPE_TXT: Final = 16
_TYPE_SRV: Final = 33
_CLASS_IN: Final = 1
_FLAGS_QR_QUERY: Final = 0x0000
_MDNS_ADDR: Final = "224.0.0.251"
_MDNS_PORT: Final = 5353

# A flood of bogus answers is bounded by core/discovery/budget.py: MAX_RECORDS records in all
# (a few MB at most), at most MAX_RECORDS_PER_SOURCE from any one responder, shared fairly
# among the responders while full, so that hosts answering with thousands of services, from
# one address or from many, cannot crowd out the real servers' few records each.
MAX_RECORDS: Final = budget.MAX_RECORDS
MAX_RECORDS_PER_SOURCE: Final = budget.MAX_RECORDS_PER_SOURCE
MAX_PACKET_BYTES: Final = 9000
# Datagrams read from one socket at one wake-up, before they are handled: about 15 MB of a
# flood at most, and the loop stays responsive (the reader is called again if more wait).
MAX_DATAGRAMS_PER_WAKEUP: Final = 1024
# Answers arrive in a burst; a flood's burst is larger than the kernel's default receive buffer
# (about 200 KB), where a genuine server's answer would be dropped before it is read. Asked for,
# not forced: the kernel caps it at net.core.rmem_max.
RECEIVE_BUFFER_BYTES: Final = 4 * 1024 * 1024
# Follow-up questions name at most this many incomplete instances or hosts per round.
MAX_FOLLOWUP_NAMES: Final = 64


# What the budget's answer to a record adds to the browse's counters.
_OFFER_COUNTERS: Final = {
    budget.Offer.KEPT_EVICTING: "mdns_records_evicted",
    budget.Offer.DUPLICATE: "mdns_records_duplicate",
    budget.Offer.OVER_SOURCE_LIMIT: "mdns_records_over_limit",
    budget.Offer.OVER_LIMIT: "mdns_records_over_limit",
    budget.Offer.TOO_MANY_SOURCES: "mdns_records_too_many_sources",
}


@dataclass
class Browse:
    """What one browse collected: the records each responder sent, within the budget."""

    kept: budget.RecordBudget[services.DnsRecord] = field(default_factory=budget.RecordBudget)
    counters: Counter[str] = field(default_factory=Counter)

    @property
    def records(self) -> list[services.DnsRecord]:
        """The records kept, in the order they arrived."""
        return self.kept.records()

    def add(self, source: str, record: services.DnsRecord) -> None:
        """Keep `record` from the responder at `source` if the budget allows; count what it did."""
        offer = self.kept.offer(source, record)
        counter = _OFFER_COUNTERS.get(offer)
        if counter:
            self.counters[counter] += 1

    def discovered(self) -> list[services.Discovered]:
        """The complete service instances found."""
        return services.assemble(SERVICE_TYPE, self.records)


def _convert(record: object, source: str) -> services.DnsRecord | None:
    if getattr(record, "ttl", 1) == 0:
        return None  # a goodbye
    match record:
        case DNSPointer():
            return services.Ptr(service_type=record.name, instance=record.alias, source=source)
        case DNSService():
            return services.Srv(instance=record.name, host=record.server, port=record.port, source=source)
        case DNSText():
            return services.Txt(instance=record.name, rdata=record.text, source=source)
        case DNSAddress() if record.type == _TYPE_A and len(record.address) == 4:
            return services.A(host=record.name, address=socket.inet_ntoa(record.address), source=source)
    return None


def _answers(message: DNSIncoming) -> list[DNSRecord]:
    # DNSIncoming.answers is a property in Debian 12's zeroconf 0.47.3 and a method in later ones.
    answers: Any = message.answers
    return list(answers() if callable(answers) else answers)


class _Reader:
    """Reads one socket's answers into a browse: everything queued at each wake-up, then handled
    source by source in turn, the sources with the fewest packets first.

    asyncio's datagram transport hands over one datagram per turn of the loop, in the order they
    came: a flood that answers first queues hundreds of packets ahead of a genuine server's one,
    and the browse window ends before it is read (the kernel then drops it with the socket).
    Reading is cheap and parsing is not, so the queue is emptied first and parsed fairly.
    """

    def __init__(
        self, sock: socket.socket, browse: Browse, query_ids: set[int], arrived: asyncio.Event
    ) -> None:
        self.sock, self.browse, self.query_ids, self.arrived = sock, browse, query_ids, arrived

    def readable(self) -> None:
        """Drain the socket (at most MAX_DATAGRAMS_PER_WAKEUP) and handle what came."""
        queued: dict[str, list[tuple[bytes, tuple[str, int]]]] = {}
        for _ in range(MAX_DATAGRAMS_PER_WAKEUP):
            try:
                data, addr = self.sock.recvfrom(MAX_PACKET_BYTES + 1)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # an ICMP error queued on the socket: count it, read on
                self.browse.counters["mdns_receive_errors"] += 1
                log.debug("mDNS receive error: %s", exc)
                continue
            queued.setdefault(addr[0], []).append((data, addr))
        for turn in itertools.zip_longest(*sorted(queued.values(), key=len)):
            for datagram in turn:
                if datagram is not None:
                    self._handle(*datagram)

    def send(self, packet: bytes) -> None:
        """Send a question to the mDNS group; a failure is counted, not raised."""
        try:
            self.sock.sendto(packet, (_MDNS_ADDR, _MDNS_PORT))
        except OSError as exc:
            # Counted: a client that cannot send its question would look like a LAN without servers.
            self.browse.counters["mdns_send_errors"] += 1
            log.warning("mDNS query not sent: %s", exc)
            return
        self.browse.counters["mdns_queries_sent"] += 1

    def _handle(self, data: bytes, addr: tuple[str, int]) -> None:
        counters = self.browse.counters
        counters["mdns_packets"] += 1
        if len(data) > MAX_PACKET_BYTES:
            counters["mdns_dropped"] += 1
            return
        if self.browse.kept.saturated(addr[0]):
            # Not even parsed: a flooding source that holds its share costs a lookup a packet,
            # not a parse, and leaves the time to everyone else's answers.
            counters["mdns_packets_over_share"] += 1
            return
        message = DNSIncoming(data, addr)
        if not message.valid or not message.is_response() or message.id not in self.query_ids:
            counters["mdns_dropped"] += 1
            log.debug(
                "dropped mDNS packet from %s: valid=%s response=%s id=%s",
                addr[0],
                message.valid,
                message.is_response(),
                message.id,
            )
            return
        for answer in _answers(message):
            converted = _convert(answer, addr[0])
            if converted is not None:
                self.browse.add(addr[0], converted)
        self.arrived.set()


def _query_packets(query_id: int, questions: Sequence[tuple[str, int]]) -> list[bytes]:
    # multicast=False keeps the id in the packet: legacy unicast answers echo it (RFC 6762 6.7).
    out = DNSOutgoing(_FLAGS_QR_QUERY, multicast=False, id_=query_id)
    for name, type_ in questions:
        out.add_question(DNSQuestion(name, type_, _CLASS_IN))
    return out.packets()


def _socket_on(interface: Interface) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface.address))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        sock.bind((interface.address, 0))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


# Follow-up questions for incomplete instances are asked at most this many times.
MAX_FOLLOWUPS: Final = 2


@contextlib.asynccontextmanager
async def _asking(
    interfaces: Sequence[Interface], result: Browse, arrived: asyncio.Event, rng: random.Random
) -> AsyncIterator[Callable[[Sequence[tuple[str, int]]], None]]:
    """A socket on each interface collecting answers into `result`; yields `send(questions)`."""
    loop = asyncio.get_running_loop()
    query_id = rng.randrange(1, 65536)
    readers: list[_Reader] = []

    def send(questions: Sequence[tuple[str, int]]) -> None:
        for packet in _query_packets(query_id, questions):
            for reader in readers:
                reader.send(packet)

    try:
        for interface in interfaces:
            reader = _Reader(_socket_on(interface), result, {query_id}, arrived)
            readers.append(reader)
            loop.add_reader(reader.sock.fileno(), reader.readable)
        yield send
    finally:
        for reader in readers:
            loop.remove_reader(reader.sock.fileno())
            reader.sock.close()


async def browse(
    interfaces: Sequence[Interface], window_end: float, deadline: float, rng: random.Random
) -> Browse:
    """Ask for `_ltsp._tcp` on every interface and collect answers until `window_end`.

    Times are absolute, on the event loop's clock. The question goes out twice (at the start
    and half-way), so one lost packet does not hide a server. Instances whose records are still
    incomplete are then asked for directly, until complete or until `deadline`; whatever was
    collected by then is returned.
    """
    result = Browse()
    arrived = asyncio.Event()
    loop = asyncio.get_running_loop()
    async with _asking(interfaces, result, arrived, rng) as send:
        half_way = loop.time() + (window_end - loop.time()) / 2
        send([(SERVICE_TYPE, _TYPE_PTR)])
        await asyncio.sleep(max(0.0, half_way - loop.time()))
        send([(SERVICE_TYPE, _TYPE_PTR)])
        await asyncio.sleep(max(0.0, window_end - loop.time()))
        try:
            async with asyncio.timeout_at(deadline):
                for _ in range(MAX_FOLLOWUPS):
                    # A source holding its whole share would not be heard: it is not asked.
                    open_sources = [r for r in result.records if not result.kept.saturated(r.source)]
                    lacking_records, lacking_address = services.missing(SERVICE_TYPE, open_sources)
                    if not lacking_records and not lacking_address:
                        break
                    result.counters["mdns_followups"] += 1
                    arrived.clear()
                    send(
                        [
                            (i, t)
                            for i in sorted(lacking_records)[:MAX_FOLLOWUP_NAMES]
                            for t in (_TYPE_SRV, _TYPE_TXT)
                        ]
                        + [(h, _TYPE_A) for h in sorted(lacking_address)[:MAX_FOLLOWUP_NAMES]]
                    )
                    await arrived.wait()
        except TimeoutError:
            result.counters["mdns_followups_timed_out"] += 1
    return result


async def hear(
    interfaces: Sequence[Interface], wanted: Mapping[str, str], deadline: float, rng: random.Random
) -> list[services.Discovered]:
    """Ask the responders themselves about known instances: `wanted` maps an instance name to
    its host name (as a cache had them); asks for each instance's SRV and TXT and each host's A
    records, and collects answers, with who sent them, until every instance has an answer from
    a responder speaking for itself or until `deadline` (loop time).

    A broker's browser keeps python-zeroconf's cache, which merges every responder's records:
    hearing them again from their senders gives it the versions `services.assemble` orders
    (core/discovery/services.py), as a client's own one-shot browse has them. At most
    MAX_FOLLOWUP_NAMES instances are asked at once.
    """
    asked = dict(sorted(wanted.items())[:MAX_FOLLOWUP_NAMES])
    result = Browse()
    for instance in asked:  # known instances: their PTRs are taken as the cache had them
        result.add("", services.Ptr(SERVICE_TYPE, instance))
    arrived = asyncio.Event()
    keys = {services.name_key(i) for i in asked}

    def answered_for_themselves() -> bool:
        found = {services.name_key(d.instance): d for d in result.discovered()}
        return all(k in found and any(v.self_attested for v in found[k].versions) for k in keys)

    async with _asking(interfaces, result, arrived, rng) as send:
        send(
            [(i, t) for i in asked for t in (_TYPE_SRV, _TYPE_TXT)]
            + [(h, _TYPE_A) for h in sorted(set(asked.values()))]
        )
        try:
            async with asyncio.timeout_at(deadline):
                while not answered_for_themselves():
                    arrived.clear()
                    await arrived.wait()
        except TimeoutError:
            result.counters["mdns_hear_timed_out"] += 1
    return [d for d in result.discovered() if services.name_key(d.instance) in keys]
