"""A hostile responder: answers every one-shot `_ltsp._tcp` query with thousands of bogus services.

Run inside a lab namespace: `python flooder.py ADDRESS COUNT`; prints "ready". It joins the mDNS
group on ADDRESS's interface, and to each legacy-unicast PTR question it sends COUNT tempting
services (zero load, unsigned, all pointing at its own address, where nothing answers the direct
query), a few per packet, straight to the querier's port with the query's id.
"""

from __future__ import annotations

import socket
import struct
import sys
from pathlib import Path

from zeroconf import DNSAddress, DNSIncoming, DNSOutgoing, DNSPointer, DNSService, DNSText

from ltsp_mesh.core.codec import txt

try:
    from tests.records import record
except ModuleNotFoundError:  # run as a script in a lab namespace: the repository is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.records import record

TYPE = "_ltsp._tcp.local."
# RFC 1035 section 3.2 and 4.1.1, RFC 2782: the protocol's numbers, not zeroconf's private names.
_TYPE_A, _TYPE_PTR, _TYPE_TXT, _TYPE_SRV, _CLASS_IN = 1, 12, 16, 33, 1
_FLAGS_QR_RESPONSE, _FLAGS_AA = 0x8000, 0x0400
PER_PACKET = 8
TEMPTING = txt.encode_rdata(
    txt.encode(record(server_id="bogus", cpus=64, load_per_cpu=0.0, mem_percent=1, capacity=64))
)


def packets(query_id: int, address: bytes, count: int) -> list[bytes]:
    out = []
    for start in range(0, count, PER_PACKET):
        message = DNSOutgoing(_FLAGS_QR_RESPONSE | _FLAGS_AA, multicast=False, id_=query_id)
        for i in range(start, min(count, start + PER_PACKET)):
            instance, host = f"bogus{i}.{TYPE}", f"bogus{i}.local."
            message.add_answer_at_time(DNSPointer(TYPE, _TYPE_PTR, _CLASS_IN, 120, instance), 0)
            message.add_additional_answer(DNSService(instance, _TYPE_SRV, _CLASS_IN, 120, 0, 0, 22, host))
            message.add_additional_answer(DNSText(instance, _TYPE_TXT, _CLASS_IN, 120, TEMPTING))
            message.add_additional_answer(DNSAddress(host, _TYPE_A, _CLASS_IN, 120, address))
        out.extend(message.packets())
    return out


def main(address: str, count: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("224.0.0.251", 5353))
    sock.setsockopt(
        socket.IPPROTO_IP,
        socket.IP_ADD_MEMBERSHIP,
        struct.pack("4s4s", socket.inet_aton("224.0.0.251"), socket.inet_aton(address)),
    )
    reply = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    reply.bind((address, 0))
    # Built once (seconds of work for 10,000 services), each question's id patched in: built
    # per question, the flood came after the client had stopped listening.
    built = packets(0, socket.inet_aton(address), count)
    print("ready", flush=True)
    while True:
        data, (source, port) = sock.recvfrom(9000)
        message = DNSIncoming(data, (source, port))
        if port == 5353 or not message.valid or not message.is_query():
            continue
        if any(q.name.lower() == TYPE and q.type == _TYPE_PTR for q in message.questions):
            for packet in built:
                reply.sendto(data[:2] + packet[2:], (source, port))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
