"""The monitoring paths beside the broker's, on its HTTP port: the request line read and checked.

    GET /                         the status page (HTML, refreshing by itself)
    GET /?client=ADDRESS|MAC      the same, with only that thin client's recent decisions
    GET /metrics                  Prometheus metrics (text exposition format)
    GET /status.json              the mesh as `ltsp-mesh status --json` shows it
    GET /decisions.json[?client=] the broker's recent decisions, newest first

Read-only: GET and HEAD only, nothing here changes anything (draining stays a root-only
command on the control socket). Anything else is a BadRequest with the status to answer: 405
for another method, 404 for another path, 400 for a parameter this path does not take or a
value that is no address. Pure: method and target in, a PageRequest out.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import urllib.parse
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.core.broker.request import MAX_TARGET_BYTES, BadRequest


class Page(enum.StrEnum):
    """What a monitoring request asks for, by path."""

    STATUS = "/"
    METRICS = "/metrics"
    STATUS_JSON = "/status.json"
    DECISIONS_JSON = "/decisions.json"


# Only these take a `client` filter; /metrics takes no parameter (Prometheus sends none).
FILTERED: Final = frozenset({Page.STATUS, Page.DECISIONS_JSON})
CLIENT_PARAMETER: Final = "client"
_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}", re.ASCII)


@dataclass(frozen=True, slots=True)
class PageRequest:
    """A checked monitoring request: the page, the client filter (address or lower-case MAC)."""

    page: Page
    client: str | None = None
    head: bool = False


def decode(method: bytes, target: bytes) -> PageRequest:
    """The request for `method` and `target`; BadRequest (with its HTTP status) if none."""
    if method not in (b"GET", b"HEAD"):
        raise BadRequest(
            405,
            f"method {method[:16].decode('ascii', 'replace')!r} is not GET or HEAD: this page is read-only",
        )
    if len(target) > MAX_TARGET_BYTES:
        raise BadRequest(414, f"the request target is over {MAX_TARGET_BYTES} bytes")
    try:
        text = target.decode("ascii")
    except UnicodeDecodeError:
        raise BadRequest(400, "the request target is not ASCII") from None
    path, _, query = text.partition("?")
    try:
        page = Page(path)
    except ValueError:
        known = ", ".join(p.value for p in Page)
        raise BadRequest(
            404, f"{path[:80]} is not a page here (pages: {known}; the broker: /ltsp-mesh/v1/hosts)"
        ) from None
    client = _client(page, query)
    return PageRequest(page, client, head=method == b"HEAD")


def _client(page: Page, query: str) -> str | None:
    if not query:
        return None
    try:
        pairs = urllib.parse.parse_qsl(
            query, keep_blank_values=True, strict_parsing=True, max_num_fields=2, errors="strict"
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(400, f"the query string cannot be read: {exc}") from None
    if page not in FILTERED:
        raise BadRequest(400, f"{page.value} takes no parameters")
    if len(pairs) != 1 or pairs[0][0] != CLIENT_PARAMETER:
        raise BadRequest(400, f"{page.value} takes one parameter, {CLIENT_PARAMETER}=ADDRESS or MAC")
    value = pairs[0][1].strip().lower()
    if not value:
        return None  # the page's empty search box: every client
    if _MAC.fullmatch(value):
        return value
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise BadRequest(400, f"client={value[:40]!r} is neither an IPv4 address nor a MAC address") from None
