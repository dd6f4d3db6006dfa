"""A storm of thin clients asking one broker: run inside a lab namespace, print one JSON line.

`python -m ltsp_mesh.lab.bench.broker_load BROKER PORT REQUESTS RATE SOURCE...` starts REQUESTS
hook requests (GET /ltsp-mesh/v1/hosts, the default algorithm) at RATE a second, whether or
not earlier ones were answered (thin clients boot on their own clocks: an open loop), each
from the next SOURCE address in turn (every thin client has its own address), and prints
{"ms": [...], "status": {code: n}, "first": {address: n}, "seconds": s}.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter


async def _one(broker: str, port: int, source: str) -> tuple[float, int, str]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(broker, port, local_addr=(source, 0))
    writer.write(f"GET /ltsp-mesh/v1/hosts HTTP/1.0\r\nHost: {broker}\r\n\r\n".encode())
    data = await reader.read()
    elapsed_ms = (time.perf_counter() - started) * 1000
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    first = body.split(b" ", 1)[0].strip().decode("ascii", "replace") if status == 200 else ""
    return elapsed_ms, status, first


async def storm(
    broker: str, port: int, requests: int, rate_per_s: float, sources: list[str]
) -> dict[str, object]:
    """Send the storm; return the latencies, statuses and first hosts."""
    loop = asyncio.get_running_loop()
    results: list[tuple[float, int, str]] = []

    async def one(i: int) -> None:
        await asyncio.sleep(max(0.0, start + i / rate_per_s - loop.time()))
        try:
            results.append(await asyncio.wait_for(_one(broker, port, sources[i % len(sources)]), 5.0))
        except (OSError, TimeoutError):
            results.append((5000.0, 0, ""))

    start = loop.time()
    await asyncio.gather(*(one(i) for i in range(requests)))
    return {
        "ms": [round(r[0], 3) for r in results],
        "status": dict(Counter(str(r[1]) for r in results)),
        "first": dict(Counter(r[2] for r in results if r[2])),
        "seconds": round(loop.time() - start, 3),
    }


def main(argv: list[str]) -> int:
    """Run the storm described by `argv` and print its JSON line."""
    broker, port, requests, rate, *sources = argv
    print(json.dumps(asyncio.run(storm(broker, int(port), int(requests), float(rate), sources))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
