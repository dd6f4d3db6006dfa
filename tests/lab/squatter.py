"""Registers one _ltsp._tcp service name with python-zeroconf and holds it until SIGTERM.

Run inside a lab namespace: `python squatter.py ADDRESS "INSTANCE NAME"`; prints "registered".
Used to prove that `serve` takes a new name when its own is already taken.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys

from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf


async def main(address: str, instance: str) -> None:
    aiozc = AsyncZeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
    info = ServiceInfo("_ltsp._tcp.local.", f"{instance}._ltsp._tcp.local.", port=22,
                       properties={b"v": b"1"}, server="squatter.local.",
                       addresses=[socket.inet_aton(address)])  # fmt: skip
    await aiozc.async_register_service(info)
    print("registered", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await aiozc.async_close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
