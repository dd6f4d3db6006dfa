"""A rogue server for the trust tests: announces `_ltsp._tcp` with a tempting zero load.

Run inside a lab namespace: `python rogue.py MODE ADDRESS [GENUINE_ADDRESS]`; prints "ready".
MODE says how it tries to pass:
  unsigned      TXT and replies without signatures
  own-key       TXT and replies signed with a key of its own (not in known_hosts)
  replay        the genuine server's signed TXT copied under its own name and address, and a
                reply captured from the genuine server (with that request's nonce) sent back
  relay         each client request forwarded to the genuine server and its genuine, correctly
                nonced reply sent back from the rogue's address
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519
from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from ltsp_mesh.core.codec import load_query, txt
from ltsp_mesh.core.trust import signed_reply, signing

try:
    from tests.records import record
except ModuleNotFoundError:  # run as a script in a lab namespace: the repository is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.records import record

TYPE = "_ltsp._tcp.local."
TEMPTING = record(server_id="rogue0000", cpus=64, load_per_cpu=0.0, mem_percent=1, capacity=64)


def _ask(genuine: str, request: load_query.Request) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(load_query.encode_request(request), (genuine, 377))
        return sock.recv(2048)


async def _genuine_txt(aiozc: AsyncZeroconf, genuine: str) -> dict[bytes, bytes | None]:
    names: set[str] = set()
    browser = AsyncServiceBrowser(aiozc.zeroconf, TYPE, handlers=[lambda name, **_: names.add(name)])
    try:
        for _ in range(50):
            for name in sorted(names):
                info = AsyncServiceInfo(TYPE, name)
                if await info.async_request(aiozc.zeroconf, 1000) and genuine in info.parsed_addresses():
                    return dict(info.properties)
            await asyncio.sleep(0.2)
    finally:
        await browser.async_cancel()
    raise SystemExit(f"no genuine TXT from {genuine}")


class Responder(asyncio.DatagramProtocol):
    def __init__(self, mode: str, key: ed25519.Ed25519PrivateKey, genuine: str, captured: bytes) -> None:
        self.mode, self.key, self.genuine, self.captured = mode, key, genuine, captured

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = load_query.decode_request(data)
        if self.mode == "unsigned":
            reply = load_query.reply_to(request, len(data), TEMPTING, time.time())
        elif self.mode == "own-key":
            reply = signed_reply.reply_to(request, len(data), TEMPTING, time.time(), key=self.key)
        elif self.mode == "replay":
            reply = self.captured
        else:  # relay: the genuine server's own answer to this very request
            reply = _ask(self.genuine, request)
        if reply:
            self.transport.sendto(reply, addr)  # type: ignore[attr-defined]


async def main(mode: str, address: str, genuine: str) -> None:
    aiozc = AsyncZeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
    key = ed25519.Ed25519PrivateKey.generate()
    instance, host = f"rogue-{mode}._ltsp._tcp.local.", f"rogue-{mode}.local."
    properties = txt.encode(TEMPTING)
    captured = b""
    if mode == "own-key":
        properties = signing.sign_txt(
            properties, instance=instance, host=host, ssh_port=22, key=key, now=time.time()
        )
    elif mode in ("replay", "relay"):
        properties = await _genuine_txt(aiozc, genuine)
        captured = _ask(genuine, load_query.Request(load_query.Op.STATS, os.urandom(16)))
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(
        lambda: Responder(mode, key, genuine, captured), local_addr=(address, 377)
    )
    info = ServiceInfo(
        TYPE, instance, port=22, properties=properties, server=host, addresses=[socket.inet_aton(address)]
    )
    await aiozc.async_register_service(info)
    print("ready", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await aiozc.async_close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else ""))
