"""Registers one _ltsp._tcp service name with python-zeroconf and holds it until SIGTERM.

Run inside a lab namespace: `python squatter.py ADDRESS "INSTANCE NAME" [--ltsp-txt]`; prints
"registered". Used to prove that `serve` takes a new name when its own is already taken, and
(with --ltsp-txt: a valid ltsp-mesh TXT claiming a query port nobody answers on) to stand for a
server that announces itself but never answers the direct query.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys

from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

LTSP_TXT = {
    b"v": b"1",
    b"id": b"silent0",
    b"cpu": b"8",
    b"load": b"0.00",
    b"mem": b"1",
    b"swap": b"0",
    b"ses": b"0",
    b"pend": b"0",
    b"cap": b"64",
    b"st": b"up",
    b"q": b"377",
}


async def main(address: str, instance: str, ltsp_txt: bool) -> None:
    aiozc = AsyncZeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
    info = ServiceInfo(
        "_ltsp._tcp.local.",
        f"{instance}._ltsp._tcp.local.",
        port=22,
        properties=LTSP_TXT if ltsp_txt else {b"v": b"1"},
        server=f"{instance}.local.",
        addresses=[socket.inet_aton(address)],
    )
    await aiozc.async_register_service(info)
    print("registered", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await aiozc.async_close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], "--ltsp-txt" in sys.argv[3:]))
