"""A broker client that lab tests run inside a namespace (`python broker_client.py MODE ...`).

get ADDRESS PORT TARGET [COUNT [SOURCE]]
                                    send COUNT (default 1) GET requests one after the other (from
                                    the SOURCE address if given), print
                                    [{"status": int, "body": str, "ms": float}]
silent ADDRESS PORT N HOLD_S        open N connections that send nothing, then one real request;
                                    print {"real": {...}, "silent": [what each got back by HOLD_S]}
claims ADDRESS PORT MODE N          send N relayed claims for N different clients (10.77.1.x),
                                    MODE "unsigned" or "own-key" (a key no known_hosts lists);
                                    print {"replies": n}
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from ltsp_mesh.core.broker import relay


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def _parse(data: bytes) -> dict[str, Any]:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("ascii", "replace")
    parts = status_line.split(" ")
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return {
        "status": status,
        "body": body.decode("utf-8", "replace"),
        "head": head.decode("ascii", "replace"),
    }


def get(address: str, port: int, target: str, count: int, source: str = "") -> list[dict[str, Any]]:
    results = []
    for _ in range(count):
        started = time.perf_counter()
        with socket.create_connection(
            (address, port), timeout=5, source_address=(source, 0) if source else None
        ) as sock:
            sock.sendall(f"GET {target} HTTP/1.0\r\nHost: {address}\r\n\r\n".encode())
            result = _parse(_read_all(sock))
        result["ms"] = round((time.perf_counter() - started) * 1000, 2)
        results.append(result)
    return results


def silent(address: str, port: int, n: int, hold_s: float) -> dict[str, Any]:
    held = [socket.create_connection((address, port), timeout=5) for _ in range(n)]
    try:
        real = get(address, port, "/ltsp-mesh/v1/hosts", 1)[0]
        end = time.monotonic() + hold_s
        got = []
        for sock in held:
            sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                got.append(_parse(_read_all(sock))["status"])
            except TimeoutError:
                got.append(None)
        return {"real": real, "silent": got}
    finally:
        for sock in held:
            sock.close()


def claims(address: str, port: int, mode: str, n: int) -> dict[str, Any]:
    key = ed25519.Ed25519PrivateKey.generate() if mode == "own-key" else None
    replies = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        for i in range(n):
            sock.sendto(
                relay.encode(f"10.77.1.{i + 1}", os.urandom(16), time.time(), key=key), (address, port)
            )
            try:
                sock.recv(4096)
                replies += 1
            except TimeoutError:
                pass
    return {"replies": replies}


def main(argv: list[str]) -> None:
    mode, address, port = argv[0], argv[1], int(argv[2])
    if mode == "get":
        out: Any = get(
            address, port, argv[3], int(argv[4]) if len(argv) > 4 else 1, argv[5] if len(argv) > 5 else ""
        )
    elif mode == "silent":
        out = silent(address, port, int(argv[3]), float(argv[4]))
    else:
        out = claims(address, port, argv[3], int(argv[4]))
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
