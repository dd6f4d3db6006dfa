"""Asking an ltsp-cluster load balancer over HTTP, within the hook's deadline."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from ltsp_mesh.core.codec import ltsp_cluster
from ltsp_mesh.errors import DecodeError

log = logging.getLogger(__name__)


async def recommend(url: str, deadline: float, counters: Counter[str]) -> str | None:
    """The address the load balancer at `url` recommends, or None (failed, or past `deadline`)."""
    host, port, path = ltsp_cluster.parse_url(url)
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout_at(deadline):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(ltsp_cluster.request_bytes(host, port, path))
            await writer.drain()
            data = await reader.read(ltsp_cluster.MAX_RESPONSE_BYTES + 1)
            while data and len(data) <= ltsp_cluster.MAX_RESPONSE_BYTES:
                more = await reader.read(ltsp_cluster.MAX_RESPONSE_BYTES + 1 - len(data))
                if not more:
                    break
                data += more
        address = ltsp_cluster.decode_response(data)
    except (OSError, TimeoutError, DecodeError) as exc:
        counters["loadbalancer_failed"] += 1
        log.info("load balancer %s gave no answer: %s", url, exc or type(exc).__name__)
        return None
    finally:
        if writer is not None:
            writer.close()
    counters["loadbalancer_answered"] += 1
    return address
