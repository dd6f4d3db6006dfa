"""shell/client/discover.py's reader, on loopback sockets: a flood queued ahead of a server's answer.

Loopback owns all of 127.0.0.0/8, so each sender binds an address of its own: the reader tells
responders apart by address, as on a LAN.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from zeroconf import DNSAddress, DNSOutgoing, DNSPointer, DNSService, DNSText

from ltsp_mesh.core.codec import txt
from ltsp_mesh.core.discovery import budget
from ltsp_mesh.shell.client import discover
from ltsp_mesh.shell.netif import Interface
from tests import records

TYPE = "_ltsp._tcp.local."
QUERY_ID = 4242
CLIENT, FLOOD, SERVER = "127.0.0.1", "127.0.0.2", "127.0.0.3"
RDATA = txt.encode_rdata(txt.encode(records.record()))


def answer(source: str, names: range) -> bytes:
    """One legacy-unicast answer from `source` with a service per number in `names`."""
    out = DNSOutgoing(0x8400, multicast=False, id_=QUERY_ID)
    for i in names:
        instance, host = f"s{i}-{source}.{TYPE}", f"s{i}-{source}.local."
        out.add_answer_at_time(DNSPointer(TYPE, 12, 1, 120, instance), 0)
        out.add_answer_at_time(DNSService(instance, 33, 1, 120, 0, 0, 22, host), 0)
        out.add_answer_at_time(DNSText(instance, 16, 1, 120, RDATA), 0)
        out.add_answer_at_time(DNSAddress(host, 1, 1, 120, socket.inet_aton(source)), 0)
    (packet,) = out.packets()
    return packet


@pytest.fixture
def client() -> Iterator[socket.socket]:
    """The socket a browse opens, on loopback."""
    sock = discover._socket_on(Interface(name="lo", address=CLIENT, network="127.0.0.0/8", mac=""))
    yield sock
    sock.close()


def send_from(source: str, to: tuple[str, int], packets: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        for packet in packets:
            sock.sendto(packet, to)


async def test_a_wake_up_reads_every_queued_answer_and_handles_the_quietest_source_first(
    client: socket.socket,
) -> None:
    flood = [answer(FLOOD, range(i * 4, i * 4 + 4)) for i in range(200)]
    send_from(FLOOD, client.getsockname(), flood)
    send_from(SERVER, client.getsockname(), [answer(SERVER, range(1))])
    browse = discover.Browse()
    reader = discover._Reader(client, browse, {QUERY_ID}, asyncio.Event())
    reader.readable()
    assert browse.counters["mdns_packets"] == 201
    assert {r.source for r in browse.records[:4]} == {SERVER}  # handled before the flood


async def test_a_flooding_source_over_its_share_is_not_even_parsed(client: socket.socket) -> None:
    send_from(FLOOD, client.getsockname(), [answer(FLOOD, range(i * 4, i * 4 + 4)) for i in range(20)])
    browse = discover.Browse(kept=budget.RecordBudget(total=64, per_source=32))
    discover._Reader(client, browse, {QUERY_ID}, asyncio.Event()).readable()
    assert browse.kept.held_by(FLOOD) == 32
    assert browse.counters["mdns_packets_over_share"] == 20 - 32 // 16


async def test_answers_with_another_id_are_dropped_and_counted(client: socket.socket) -> None:
    send_from(SERVER, client.getsockname(), [answer(SERVER, range(1))])
    browse = discover.Browse()
    discover._Reader(client, browse, {QUERY_ID + 1}, asyncio.Event()).readable()
    assert browse.counters["mdns_dropped"] == 1 and browse.records == []


async def test_each_record_keeps_the_address_it_came_from(client: socket.socket) -> None:
    send_from(SERVER, client.getsockname(), [answer(SERVER, range(1))])
    browse = discover.Browse()
    discover._Reader(client, browse, {QUERY_ID}, asyncio.Event()).readable()
    [found] = browse.discovered()
    assert (found.source, found.addresses, found.self_attested) == (SERVER, (SERVER,), True)
