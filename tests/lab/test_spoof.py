"""ltsp_mesh/lab/spoof.py builds what an honest stack would send, from a source it does not own."""

from __future__ import annotations

import socket
import struct

from ltsp_mesh.core.codec import load_query
from ltsp_mesh.lab import spoof


def _first(kind: str) -> tuple[str, bytes]:
    return next(spoof.datagrams(kind, ["10.77.0.10"], spoof.sources("10.77.0.10", 150, 151)))


def test_a_spoofed_datagram_carries_the_spoofed_source_and_a_valid_udp_checksum() -> None:
    _, packet = _first("stats")
    source, destination = socket.inet_ntoa(packet[12:16]), socket.inet_ntoa(packet[16:20])
    udp = packet[20:]
    pseudo = packet[12:20] + struct.pack("!BBH", 0, socket.IPPROTO_UDP, len(udp))
    assert (source, destination) == ("10.77.0.150", "10.77.0.10")
    assert spoof.internet_checksum(pseudo + udp) == 0  # RFC 1071: the sum over a correct checksum is 0


def test_a_spoofed_stats_request_is_a_valid_padded_request() -> None:
    _, packet = _first("stats")
    payload = packet[28:]
    assert len(payload) == load_query.REQUEST_SIZE_BYTES
    assert load_query.decode_request(payload).op is load_query.Op.STATS


def test_a_spoofed_claim_is_a_plain_claim() -> None:
    _, packet = _first("claims")
    assert load_query.decode_request(packet[28:]).op is load_query.Op.CLAIM


def test_each_datagram_comes_from_the_next_source() -> None:
    packets = spoof.datagrams("stats", ["10.77.0.10"], spoof.sources("10.77.0.10", 150, 152))
    sources = [socket.inet_ntoa(next(packets)[1][12:16]) for _ in range(4)]
    assert sources == ["10.77.0.150", "10.77.0.151", "10.77.0.152", "10.77.0.150"]
