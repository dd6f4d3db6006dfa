"""shell/client/dnssd_browse.py against a small authoritative DNS server on loopback (UDP and TCP)."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from ltsp_mesh.core.codec import txt
from ltsp_mesh.core.discovery import services
from ltsp_mesh.shell.client import dnssd_browse

DOMAIN = "school.example"
PTR_NAME = f"_ltsp._tcp.{DOMAIN}."
TXT_RDATA = txt.encode_rdata({b"v": b"1", b"id": b"abc"})


@dataclass
class Zone:
    """What the fake server answers: rrsets by (name, type), and what to put in additional."""

    rrsets: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    additional: dict[tuple[str, str], list[tuple[str, str, str]]] = field(default_factory=dict)
    silent: bool = False
    asked: Counter[tuple[str, str]] = field(default_factory=Counter)

    def answer(self, wire: bytes) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        key = (question.name.to_text().lower(), dns.rdatatype.to_text(question.rdtype))
        self.asked[key] += 1
        if self.silent:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if key in self.rrsets:
            response.answer.append(
                dns.rrset.from_text_list(question.name, 60, "IN", key[1], self.rrsets[key])
            )
        elif not any(name == key[0] for name, _ in self.rrsets):
            response.set_rcode(dns.rcode.NXDOMAIN)
        for name, rdtype, value in self.additional.get(key, []):
            response.additional.append(dns.rrset.from_text(name, 60, "IN", rdtype, value))
        return response.to_wire(max_size=65535)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.zone.answer(data)
        if reply is not None and self.transport is not None:
            if len(reply) > 512:  # no EDNS in the query: truncate, the resolver retries over TCP
                query = dns.message.from_wire(data)
                short = dns.message.make_response(query)
                short.flags |= dns.flags.TC
                reply = short.to_wire()
            self.transport.sendto(reply, addr)


@pytest.fixture
async def server() -> AsyncIterator[tuple[Zone, int]]:
    zone = Zone()
    loop = asyncio.get_running_loop()

    async def tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                length = struct.unpack("!H", await reader.readexactly(2))[0]
                reply = zone.answer(await reader.readexactly(length))
                if reply is not None:
                    writer.write(struct.pack("!H", len(reply)) + reply)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    for _ in range(20):  # the UDP port must also be free for TCP
        transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(zone), local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        try:
            tcp_server = await asyncio.start_server(tcp, "127.0.0.1", port, family=socket.AF_INET)
            break
        except OSError:
            transport.close()
    else:
        pytest.fail("no port free for both UDP and TCP on loopback")
    try:
        yield zone, port
    finally:
        transport.close()
        tcp_server.close()
        await tcp_server.wait_closed()


def add_server(zone: Zone, label: str, address: str, *, additional: bool = True) -> None:
    instance = f"{label}\\032[52:54:00:00:00:01].{PTR_NAME}".lower()
    host = f"{label}-525400000001.{DOMAIN}."
    zone.rrsets.setdefault((PTR_NAME, "PTR"), []).append(instance)
    zone.rrsets[(instance, "SRV")] = [f"0 0 22 {host}"]
    zone.rrsets[(instance, "TXT")] = [" ".join(f'"{s.decode()}"' for s in (b"v=1", b"id=abc"))]
    zone.rrsets[(host.lower(), "A")] = [address]
    if additional:
        zone.additional[(instance, "SRV")] = [(host, "A", address)]


async def browse(
    port: int, within_s: float = 1.0, counters: Counter[str] | None = None
) -> list[services.DnsRecord]:
    deadline = asyncio.get_running_loop().time() + within_s
    return await dnssd_browse.browse(
        DOMAIN, deadline, nameservers=["127.0.0.1"], port=port, counters=counters
    )


async def test_browse_returns_records_that_assemble_into_servers(server: tuple[Zone, int]) -> None:
    zone, port = server
    add_server(zone, "app1", "10.0.1.10")
    found = services.assemble(PTR_NAME, await browse(port))
    assert len(found) == 1
    assert (found[0].label, found[0].host, found[0].ssh_port, found[0].addresses) == (
        "app1 [52:54:00:00:00:01]",
        "app1-525400000001.school.example.",
        22,
        ("10.0.1.10",),
    )
    assert found[0].txt_properties == txt.decode_rdata(TXT_RDATA)  # the strings, as the zone holds them


async def test_addresses_from_the_additional_section_save_a_query(server: tuple[Zone, int]) -> None:
    zone, port = server
    add_server(zone, "app1", "10.0.1.10", additional=True)
    add_server(zone, "app2", "10.0.1.11", additional=False)
    await browse(port)
    asked_a = {name for (name, rdtype) in zone.asked if rdtype == "A"}
    assert asked_a == {f"app2-525400000001.{DOMAIN}."}


async def test_an_empty_or_missing_domain_gives_no_records(server: tuple[Zone, int]) -> None:
    _, port = server
    counters: Counter[str] = Counter()
    assert await browse(port, counters=counters) == []
    assert counters["dns_failed"] == 0  # NXDOMAIN is an answer, not a failure


async def test_a_silent_server_costs_no_more_than_the_deadline(server: tuple[Zone, int]) -> None:
    zone, port = server
    zone.silent = True
    counters: Counter[str] = Counter()
    # A guard against a hang, not a stopwatch: the browse gives up at its 0.3 s deadline, and a
    # whole second more would only pass on a machine too busy to tell.
    async with asyncio.timeout(0.3 + 1.0):
        assert await browse(port, within_s=0.3, counters=counters) == []
    assert counters["dns_timed_out"] + counters["dns_failed"] >= 1


async def test_a_huge_zone_is_cut_at_max_instances(
    server: tuple[Zone, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    zone, port = server
    monkeypatch.setattr(dnssd_browse, "MAX_INSTANCES", 5)
    for n in range(40):  # 40 PTRs do not fit 512 bytes: the resolver retries over TCP
        add_server(zone, f"app{n}", f"10.0.1.{n + 1}")
    counters: Counter[str] = Counter()
    found = services.assemble(PTR_NAME, await browse(port, counters=counters))
    assert len(found) == 5
    assert counters["dns_instances_over_limit"] == 35
    assert sum(1 for (_, rdtype) in zone.asked if rdtype == "SRV") == 5


async def test_records_are_capped_at_max_records(
    server: tuple[Zone, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    zone, port = server
    monkeypatch.setattr(dnssd_browse, "MAX_RECORDS", 7)
    for n in range(4):
        add_server(zone, f"app{n}", f"10.0.1.{n + 1}")
    counters: Counter[str] = Counter()
    assert len(await browse(port, counters=counters)) == 7
    assert counters["dns_records_over_limit"] > 0


async def test_discovered_assembles_the_domain_service_type(server: tuple[Zone, int]) -> None:
    zone, port = server
    add_server(zone, "app1", "10.0.1.10")
    deadline = asyncio.get_running_loop().time() + 1.0
    found = await dnssd_browse.discovered(DOMAIN, deadline, nameservers=["127.0.0.1"], port=port)
    assert [d.addresses for d in found] == [("10.0.1.10",)]


async def test_a_domain_the_client_settings_allow_but_dns_sd_cannot_use_gives_nothing() -> None:
    # LDM_LB_DOMAIN=local passes lts.conf's name check; the mDNS half of the look must go on.
    counters: Counter[str] = Counter()
    deadline = asyncio.get_running_loop().time() + 0.2
    assert (
        await dnssd_browse.discovered("local", deadline, nameservers=["127.0.0.1"], counters=counters) == []
    )
    assert counters["dns_failed"] == 1
