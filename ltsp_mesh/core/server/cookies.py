"""Claim cookies: proof that a claimant receives at the address it claims from.

A claim raises a server's `pend` for up to 15 minutes, so it must not be forgeable from a
spoofed source. Every reply of the server carries a cookie for the address it goes to: an
HMAC-SHA256 of that address and the current window (WINDOW_S), cut to COOKIE_BYTES, under a key
only this server process knows. A client's own claim counts only when it carries a cookie valid
for its source address, so only a host that received one of the server's replies at that address
can make one count (DNS cookies, RFC 7873, and TCP SYN cookies work the same way). A relaying
broker proves its own address the same way when no signature from a mesh member vouches for it.

The server's secret is drawn from os.urandom at start (the shell does that); each window's key
is derived from it (HMAC of the window number), so keys rotate every window with no state to
keep, and a cookie from the current or the previous window is accepted: it lives between one
and two windows, long enough for a client between its `stats` and its `claim`, or a broker
between two refreshes. Pure: the secret and `now` (monotonic seconds) are passed in.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import math
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.core.server.pending import client_key

COOKIE_BYTES: Final = 16
SECRET_BYTES: Final = 32
WINDOW_S: Final = 60.0
_KEY_LABEL: Final = b"ltsp-mesh cookie key v1\0"
_COOKIE_LABEL: Final = b"ltsp-mesh cookie v1\0"


class Check(enum.StrEnum):
    """What a claim's cookie proves: the claim counter is `claims_cookie_` + the value."""

    VALID = "valid"
    MISSING = "missing"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class CookieSecret:
    """The server's cookie secret, drawn once per process."""

    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) < SECRET_BYTES:
            raise ValueError(f"a cookie secret is at least {SECRET_BYTES} bytes")

    def __repr__(self) -> str:
        return "CookieSecret(...)"  # never in a log or a traceback


def window_of(now: float) -> int:
    """The window `now` falls in."""
    if not math.isfinite(now):
        raise ValueError(f"now={now} is not a time")
    return math.floor(now / WINDOW_S)


def _cookie(secret: CookieSecret, window: int, address: str) -> bytes:
    key = hmac.new(
        secret.secret, _KEY_LABEL + window.to_bytes(8, "big", signed=True), hashlib.sha256
    ).digest()
    message = _COOKIE_LABEL + client_key(address).encode("utf-8", "replace")
    return hmac.new(key, message, hashlib.sha256).digest()[:COOKIE_BYTES]


def make(secret: CookieSecret, address: str, now: float) -> bytes:
    """The cookie for `address` at `now`."""
    return _cookie(secret, window_of(now), address)


def check(secret: CookieSecret, address: str, cookie: bytes, now: float) -> Check:
    """Whether `cookie` is one this server made for `address` in this window or the last."""
    if not cookie:
        return Check.MISSING
    if len(cookie) != COOKIE_BYTES:
        return Check.INVALID
    window = window_of(now)
    for made_in in (window, window - 1):
        if hmac.compare_digest(cookie, _cookie(secret, made_in, address)):
            return Check.VALID
    return Check.INVALID
