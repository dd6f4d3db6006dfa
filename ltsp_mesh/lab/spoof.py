"""A spoofed-source flooder for UDP 377, run inside a lab namespace (root: a raw socket).

    python -m ltsp_mesh.lab.spoof KIND TARGETS RATE SECONDS FIRST LAST

KIND is `stats` (valid, padded stats requests, a fresh nonce each) or `claims` (plain claims,
the kind a thin client sends itself, without a relaying broker's signature). TARGETS is a
comma-separated list of server addresses, taken in turn; each datagram comes from the next
source address of FIRST..LAST (last octets on the first target's /24). Nothing in the lab owns
those addresses, so nobody answers a server's ARP for them and every reply waits in the
server's neighbour queue until the kernel gives up: what one host on a LAN can do. It sends
RATE datagrams a second for SECONDS (0: until SIGTERM), prints "ready" on stderr when its
socket is open, and one JSON line on stdout at the end: {"kind", "sent", "failed", "started",
"ended"} (CLOCK_MONOTONIC, which every namespace shares).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.core.codec import load_query

KINDS: Final = {"stats": load_query.Op.STATS, "claims": load_query.Op.CLAIM}
QUERY_PORT: Final = 377
_FIRST_SOURCE_PORT: Final = 40000


def internet_checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def spoofed_udp(
    source: str, destination: str, source_port: int, destination_port: int, payload: bytes
) -> bytes:
    """One IPv4 datagram with a UDP payload, from any `source`, for a raw socket with IP_HDRINCL.

    The kernel fills in the IP checksum and identification; the UDP checksum is computed here
    (over the pseudo-header, RFC 768), so the packet is exactly what an honest stack would send.
    """
    length = 8 + len(payload)
    pseudo = socket.inet_aton(source) + socket.inet_aton(destination) + struct.pack("!BBH", 0, 17, length)
    header = struct.pack("!HHHH", source_port, destination_port, length, 0)
    checksum = internet_checksum(pseudo + header + payload) or 0xFFFF  # 0 would mean "no checksum"
    udp = struct.pack("!HHHH", source_port, destination_port, length, checksum)
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + length,
        0,
        0,
        64,
        socket.IPPROTO_UDP,
        0,
        socket.inet_aton(source),
        socket.inet_aton(destination),
    )
    return ip + udp + payload


def sources(target: str, first: int, last: int) -> list[str]:
    """The spoofed source addresses: last octets FIRST..LAST on `target`'s /24."""
    if not 1 <= first <= last <= 254:
        raise ValueError(f"source octets {first}..{last} are not within 1..254")
    net = target.rsplit(".", 1)[0]
    return [f"{net}.{octet}" for octet in range(first, last + 1)]


def datagrams(kind: str, targets: Sequence[str], spoofed: Sequence[str]) -> Iterator[tuple[str, bytes]]:
    """Endless (target, packet) pairs: each target and each source in turn, a fresh nonce each."""
    op = KINDS[kind]
    index = 0
    while True:
        target, source = targets[index % len(targets)], spoofed[index % len(spoofed)]
        payload = load_query.encode_request(load_query.Request(op, os.urandom(16)))
        port = _FIRST_SOURCE_PORT + index % 20000
        yield target, spoofed_udp(source, target, port, QUERY_PORT, payload)
        index += 1


@dataclass
class Sent:
    """What one flood sent."""

    kind: str
    sent: int = 0
    failed: int = 0  # the local queue was full: the flood goes on
    started: float = 0.0
    ended: float = 0.0


def flood(kind: str, targets: Sequence[str], rate: float, seconds: float, first: int, last: int) -> Sent:
    """Send `rate` spoofed datagrams a second for `seconds` (0: until SIGTERM); return the counts."""
    if rate <= 0 or not targets:
        raise ValueError("a flood needs a rate above 0 and at least one target")
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    packets = datagrams(kind, targets, sources(targets[0], first, last))
    result = Sent(kind)
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        print("ready", file=sys.stderr, flush=True)
        result.started = time.monotonic()
        end = result.started + seconds if seconds > 0 else float("inf")
        while not stopping:
            now = time.monotonic()
            if now >= end:
                break
            # Catch up with the schedule, then sleep to the next datagram's time: the rate holds
            # on average whatever the scheduler does to this process.
            due = int((now - result.started) * rate) + 1
            while result.sent + result.failed < due:
                target, packet = next(packets)
                try:
                    # Never block: a target that stops answering ARP (a killed or moved server)
                    # would fill the kernel queue and stop the flood, and the soak with it.
                    sock.sendto(packet, socket.MSG_DONTWAIT, (target, 0))
                    result.sent += 1
                except OSError:
                    result.failed += 1
            time.sleep(max(0.0, result.started + due / rate - time.monotonic()))
        result.ended = time.monotonic()
    return result


def main(argv: Sequence[str]) -> int:
    """Parse KIND TARGETS RATE SECONDS FIRST LAST, flood, print the counts."""
    if len(argv) != 6 or argv[0] not in KINDS:
        print(__doc__, file=sys.stderr)
        return 2
    kind, targets = argv[0], argv[1].split(",")
    result = flood(kind, targets, float(argv[2]), float(argv[3]), int(argv[4]), int(argv[5]))
    print(json.dumps(result.__dict__), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
