"""The legacy responder on TCP 377: write the XML document to whoever connects, then close."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from typing import Final

from ltsp_mesh.core.codec import legacy_xml
from ltsp_mesh.core.codec.legacy_xml import ServerReport
from ltsp_mesh.shell.listen import cannot_listen

log = logging.getLogger(__name__)

# A client that does not read its 600 bytes in this time is not worth a socket.
WRITE_TIMEOUT_S: Final = 2.0


async def start(
    host: str, port: int, current: Callable[[], ServerReport], counters: Counter[str]
) -> asyncio.Server:
    """Listen on (host, port); each connection gets the current document, then EOF. ConfigError
    when it cannot listen."""

    async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(legacy_xml.encode(current()))
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await writer.drain()
            counters["tcp_answered"] += 1
        except (OSError, TimeoutError) as exc:
            counters["tcp_failed"] += 1
            log.debug("legacy client %s: %s", writer.get_extra_info("peername"), exc)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    try:
        return await asyncio.start_server(serve_one, host, port, reuse_address=True)
    except OSError as exc:
        raise cannot_listen("the legacy XML (TCP)", host, port, "QUERY_PORT / --query-port", exc) from None
