"""Prometheus and people watching a broker: run inside a lab namespace, print one JSON line.

`python -m ltsp_mesh.lab.bench.page_load BROKER PORT SECONDS SCRAPER VIEWER...` scrapes
/metrics every second from the SCRAPER address and keeps one open status page per VIEWER
address, each loaded every page.REFRESH_S seconds as the page's own refresh does (ten
viewers: ten addresses, as ten staff PCs would be), for SECONDS, then prints
{"scrapes": n, "pages": n, "status": {code: n}, "ms": {"metrics": [...], "page": [...]}}.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter

from ltsp_mesh.core.view.page import REFRESH_S

SCRAPE_EVERY_S = 1.0


async def _get(broker: str, port: int, path: str, source: str) -> tuple[int, float]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(broker, port, local_addr=(source, 0))
    writer.write(f"GET {path} HTTP/1.0\r\nHost: {broker}\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    parts = data.split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return status, (time.perf_counter() - started) * 1000


async def watch(
    broker: str, port: int, seconds: float, scraper: str, viewers: list[str]
) -> dict[str, object]:
    """Scrape and view for `seconds`; return what was answered."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    statuses: Counter[str] = Counter()
    times: dict[str, list[float]] = {"metrics": [], "page": []}

    async def every(path: str, source: str, period: float, offset: float, kind: str) -> None:
        await asyncio.sleep(offset)
        while loop.time() < end:
            started = loop.time()
            try:
                status, ms = await asyncio.wait_for(_get(broker, port, path, source), 5.0)
            except (OSError, TimeoutError):
                status, ms = 0, 5000.0
            statuses[str(status)] += 1
            times[kind].append(round(ms, 3))
            await asyncio.sleep(max(0.0, period - (loop.time() - started)))

    await asyncio.gather(
        every("/metrics", scraper, SCRAPE_EVERY_S, 0.0, "metrics"),
        *(every("/", v, REFRESH_S, i * REFRESH_S / len(viewers), "page") for i, v in enumerate(viewers)),
    )
    return {
        "scrapes": len(times["metrics"]),
        "pages": len(times["page"]),
        "status": dict(statuses),
        "ms": times,
    }


def main(argv: list[str]) -> int:
    """Watch as `argv` says and print the JSON line."""
    broker, port, seconds, scraper, *viewers = argv
    print(json.dumps(asyncio.run(watch(broker, int(port), float(seconds), scraper, viewers))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
