"""One-shot DNS-SD discovery over mDNS (RFC 6762 section 5.1), bounded by a deadline.

The hook runs once per login screen and exits, so it does not join the mDNS group or bind port
5353 (where a local Avahi may live): it sends the PTR question from an ephemeral port, and every
responder answers it at once by unicast ("legacy unicast", RFC 6762 section 6.7) with the SRV,
TXT and A records as additionals. python-zeroconf's DNS codec builds and parses the packets.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from zeroconf import DNSAddress, DNSIncoming, DNSOutgoing, DNSPointer, DNSQuestion, DNSService, DNSText

from ltsp_mesh.core.discovery import services
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

# Bounds what a flood of bogus answers can make a client hold: at most MAX_RECORDS records in
# all (a few MB at most), and at most MAX_RECORDS_PER_SOURCE from any one responder, so that one
# host answering with thousands of services cannot crowd out the real servers' few records each.
MAX_RECORDS: Final = 4096
MAX_RECORDS_PER_SOURCE: Final = 256
MAX_PACKET_BYTES: Final = 9000
# Follow-up questions name at most this many incomplete instances or hosts per round.
MAX_FOLLOWUP_NAMES: Final = 64


@dataclass
class Browse:
    """What one browse collected."""

    records: list[services.DnsRecord] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)
    per_source: Counter[str] = field(default_factory=Counter)

    def discovered(self) -> list[services.Discovered]:
        """The complete service instances found."""
        return services.assemble(SERVICE_TYPE, self.records)


def _convert(record: object) -> services.DnsRecord | None:
    if getattr(record, "ttl", 1) == 0:
        return None  # a goodbye
    match record:
        case DNSPointer():
            return services.Ptr(service_type=record.name, instance=record.alias)
        case DNSService():
            return services.Srv(instance=record.name, host=record.server, port=record.port)
        case DNSText():
            return services.Txt(instance=record.name, rdata=record.text)
        case DNSAddress() if record.type == _TYPE_A and len(record.address) == 4:
            return services.A(host=record.name, address=socket.inet_ntoa(record.address))
    return None


class _Collector(asyncio.DatagramProtocol):
    def __init__(self, browse: Browse, query_ids: set[int], arrived: asyncio.Event) -> None:
        self.browse, self.query_ids, self.arrived = browse, query_ids, arrived

    def error_received(self, exc: Exception) -> None:
        # asyncio reports a failed sendto here, not to the caller: count it, or a client that
        # cannot send its question would look like a LAN without servers.
        self.browse.counters["mdns_send_errors"] += 1
        log.warning("mDNS query not sent: %s", exc)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        counters = self.browse.counters
        counters["mdns_packets"] += 1
        if len(data) > MAX_PACKET_BYTES:
            counters["mdns_dropped"] += 1
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
        per_source = self.browse.per_source
        for answer in message.answers():
            converted = _convert(answer)
            if converted is None:
                continue
            if len(self.browse.records) >= MAX_RECORDS or per_source[addr[0]] >= MAX_RECORDS_PER_SOURCE:
                counters["mdns_records_over_limit"] += 1
                continue
            per_source[addr[0]] += 1
            self.browse.records.append(converted)
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
        sock.bind((interface.address, 0))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


# Follow-up questions for incomplete instances are asked at most this many times.
MAX_FOLLOWUPS: Final = 2


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
    query_id = rng.randrange(1, 65536)
    transports: list[asyncio.DatagramTransport] = []

    def send(questions: Sequence[tuple[str, int]]) -> None:
        for packet in _query_packets(query_id, questions):
            for transport in transports:
                transport.sendto(packet, (_MDNS_ADDR, _MDNS_PORT))
                result.counters["mdns_queries_sent"] += 1

    try:
        for interface in interfaces:
            sock = _socket_on(interface)
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Collector(result, {query_id}, arrived), sock=sock
            )
            transports.append(transport)
        half_way = loop.time() + (window_end - loop.time()) / 2
        send([(SERVICE_TYPE, _TYPE_PTR)])
        await asyncio.sleep(max(0.0, half_way - loop.time()))
        send([(SERVICE_TYPE, _TYPE_PTR)])
        await asyncio.sleep(max(0.0, window_end - loop.time()))
        try:
            async with asyncio.timeout_at(deadline):
                for _ in range(MAX_FOLLOWUPS):
                    lacking_records, lacking_address = services.missing(SERVICE_TYPE, result.records)
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
    finally:
        for transport in transports:
            transport.close()
    return result
