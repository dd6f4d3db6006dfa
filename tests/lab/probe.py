"""A tiny network probe that lab tests run inside a namespace (`python probe.py ...`).

udp ADDRESS PORT TIMEOUT_S HEX...   send each payload, print [{"sent": n, "reply": hex|null}]
tcp ADDRESS PORT TIMEOUT_S          read until the server closes, print {"data": hex, "closed": bool}
burst ADDRESS PORT TIMEOUT_S N HEX  send the payload N times back to back, then count the replies
                                    that arrive until TIMEOUT_S of silence: print {"sent": N, "replies": n}
"""

from __future__ import annotations

import json
import socket
import sys
import time


def udp(address: str, port: int, timeout_s: float, payloads: list[bytes]) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout_s)
        for payload in payloads:
            sock.sendto(payload, (address, port))
            try:
                reply, _ = sock.recvfrom(65535)
                results.append({"sent": len(payload), "reply": reply.hex()})
            except TimeoutError:
                results.append({"sent": len(payload), "reply": None})
    return results


def tcp(address: str, port: int, timeout_s: float) -> dict[str, object]:
    chunks = []
    closed = False
    end = time.monotonic() + timeout_s
    with socket.create_connection((address, port), timeout=timeout_s) as sock:
        while time.monotonic() < end:
            try:
                chunk = sock.recv(65535)
            except TimeoutError:
                break
            if not chunk:
                closed = True
                break
            chunks.append(chunk)
    return {"data": b"".join(chunks).hex(), "closed": closed}


def burst(address: str, port: int, timeout_s: float, count: int, payload: bytes) -> dict[str, int]:
    replies = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        for _ in range(count):
            sock.sendto(payload, (address, port))
        sock.settimeout(timeout_s)
        try:
            while True:
                sock.recvfrom(65535)
                replies += 1
        except TimeoutError:
            pass
    return {"sent": count, "replies": replies}


if __name__ == "__main__":
    kind, address, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    if kind == "udp":
        print(json.dumps(udp(address, port, timeout, [bytes.fromhex(h) for h in sys.argv[5:]])))
    elif kind == "burst":
        print(json.dumps(burst(address, port, timeout, int(sys.argv[5]), bytes.fromhex(sys.argv[6]))))
    else:
        print(json.dumps(tcp(address, port, timeout)))
