"""Count one interface's packets by kind until SIGTERM, then print the counts as one JSON line.

`python -m ltsp_mesh.lab.bench.sniff eth0`, run inside a lab namespace (needs root): an AF_PACKET
socket sees every frame the interface sends and receives. Kinds, by UDP or TCP port: `dns`
(53), `mdns` (5353), `query` (UDP 377, the direct query), `legacy` (TCP 377), `other` (ARP,
ICMP, the rest). Each is counted as `<kind>_tx` and `<kind>_rx`.
"""

from __future__ import annotations

import json
import signal
import socket
import struct
import sys
from collections import Counter
from typing import Final

ETH_P_ALL: Final = 0x0003
PACKET_OUTGOING: Final = 4
_PORTS: Final = {(17, 53): "dns", (6, 53): "dns", (17, 5353): "mdns", (17, 377): "query", (6, 377): "legacy"}


def kind(frame: bytes) -> str:
    """What an Ethernet frame carries, by protocol and the lower of its two ports of interest."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return "other"
    header = (frame[14] & 0x0F) * 4
    protocol = frame[23]
    if protocol not in (6, 17) or len(frame) < 14 + header + 4:
        return "other"
    source, destination = struct.unpack("!HH", frame[14 + header : 18 + header])
    return _PORTS.get((protocol, destination)) or _PORTS.get((protocol, source)) or "other"


def main(interface: str) -> int:
    """Count until SIGTERM or SIGINT; print the counts."""
    counts: Counter[str] = Counter()
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as sock:
        sock.bind((interface, 0))
        sock.settimeout(0.1)
        print("ready", file=sys.stderr, flush=True)
        while not stopping:
            try:
                frame, address = sock.recvfrom(65535)
            except TimeoutError:
                continue
            except InterruptedError:
                continue
            direction = "tx" if address[2] == PACKET_OUTGOING else "rx"
            counts[f"{kind(frame)}_{direction}"] += 1
    print(json.dumps(dict(counts), sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "eth0"))
