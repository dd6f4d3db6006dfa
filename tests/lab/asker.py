"""An honest client that keeps asking one server, run inside a lab namespace.

    python asker.py SERVER PORT SECONDS INTERVAL_S TIMEOUT_S

Every INTERVAL_S for SECONDS it sends a padded `stats` request with a fresh nonce and waits up
to TIMEOUT_S for the reply carrying that nonce. Prints "ready" at the start and, at the end, one
JSON line: {"asked": [[sent_at, answered], ...]} with sent_at on CLOCK_MONOTONIC (shared by
every namespace).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

from ltsp_mesh.core.codec import load_query
from ltsp_mesh.errors import DecodeError


def ask(sock: socket.socket, server: str, port: int, timeout_s: float) -> bool:
    """One request; True when its reply came within `timeout_s`."""
    nonce = os.urandom(16)
    sock.sendto(load_query.encode_request(load_query.Request(load_query.Op.STATS, nonce)), (server, port))
    end = time.monotonic() + timeout_s
    while (left := end - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data, _ = sock.recvfrom(65535)
        except TimeoutError:
            return False
        try:
            if load_query.decode_reply(data).nonce == nonce:
                return True
        except DecodeError:
            pass
    return False


def main(server: str, port: int, seconds: float, interval_s: float, timeout_s: float) -> None:
    asked: list[tuple[float, bool]] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        print("ready", flush=True)
        start = time.monotonic()
        while (now := time.monotonic()) < start + seconds:
            asked.append((now, ask(sock, server, port, timeout_s)))
            pause = now + interval_s - time.monotonic()
            if pause > 0:
                time.sleep(pause)
    print(json.dumps({"asked": asked}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
