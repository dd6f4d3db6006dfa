"""What a thin client asks a broker: the request line of docs/broker.md, read and checked.

`GET /ltsp-mesh/v1/hosts?mac=...&LDM_LB_ALGORITHM=...` carries the client's MAC and the lts.conf
settings ranking needs, under their lts.conf names and checked by the very rules that check
lts.conf (client_settings), so a value is valid in a request exactly when it is valid in
lts.conf. A bad value is not a bad request: the broker ranks with that setting's default and
says so (BrokerRequest.bad), because refusing would send the client to its fallback, no
balancing at all, for a typo. A request outside the protocol (method, path, an unknown or
repeated parameter, an unreadable query) is a BadRequest carrying the HTTP status and a
one-line reason for the hook's log. Pure: method and target in, a BrokerRequest out.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import urllib.parse
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.core.config import client_settings
from ltsp_mesh.core.config.client_settings import BadSetting, ClientSettings
from ltsp_mesh.errors import DecodeError

API_VERSION: Final = 1
API_ROOT: Final = "/ltsp-mesh/"
API_PREFIX: Final = f"{API_ROOT}v{API_VERSION}/"
# A request line with every parameter at its longest is under 400 bytes; 2 KiB is what the
# smallest common servers allow a URL and far below what could cost the daemon anything.
MAX_TARGET_BYTES: Final = 2048
MAC_PARAMETER: Final = "mac"
PARAMETERS: Final = (MAC_PARAMETER, *client_settings.BROKER_KEYS)
_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}", re.ASCII)
# What mac-hash ranks by when the MAC sent is bad, as the answer says.
MAC_DEFAULT: Final = "one derived from the client's address"


class Form(enum.StrEnum):
    """What the client wants back: the hook's line, or JSON for tools."""

    TEXT = "hosts"
    JSON = "hosts.json"


class BadRequest(DecodeError):
    """A request the broker will not answer; `status` is the HTTP status that says why."""

    def __init__(self, status: int, reason: str) -> None:
        reason = " ".join(reason.split())  # one line in the hook's log, whatever the client sent
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class BrokerRequest:
    """A checked request: the form wanted, the client's MAC (lower case), its settings, and
    the values it sent that could not be used (each replaced by its default in `settings`)."""

    form: Form
    mac: str | None
    settings: ClientSettings
    head: bool = False
    bad: tuple[BadSetting, ...] = ()

    @property
    def counts(self) -> bool:
        """True when answering it hands a server out (a pick and a claim): the hook's form."""
        return self.form is Form.TEXT and not self.head


def decode(method: bytes, target: bytes) -> BrokerRequest:
    """The request for `method` and `target` (the request line's parts); BadRequest if none."""
    if method not in (b"GET", b"HEAD"):
        raise BadRequest(405, f"method {method[:16].decode('ascii', 'replace')!r} is not GET or HEAD")
    if len(target) > MAX_TARGET_BYTES:
        raise BadRequest(414, f"the request target is over {MAX_TARGET_BYTES} bytes")
    try:
        text = target.decode("ascii")
    except UnicodeDecodeError:
        raise BadRequest(400, "the request target is not ASCII") from None
    path, _, query = text.partition("?")
    form = _form(path)
    values = _parameters(query)
    bad: list[BadSetting] = []
    mac = values.pop(MAC_PARAMETER, None)
    if mac is not None and not _MAC.fullmatch(mac.lower()):
        shown = ascii(mac[:40])
        bad.append(
            BadSetting(
                MAC_PARAMETER, f"mac={shown} is not a MAC address (e.g. 02:00:0a:4d:00:0b)", MAC_DEFAULT
            )
        )
        mac = None
    checked = client_settings.check_values(values)
    return BrokerRequest(
        form,
        mac.lower() if mac else None,
        checked.settings,
        head=method == b"HEAD",
        bad=(*bad, *checked.bad),
    )


def _form(path: str) -> Form:
    if path.startswith(API_PREFIX):
        rest = path[len(API_PREFIX) :]
        for form in Form:
            if rest == form.value:
                return form
        raise BadRequest(404, f"{path[:80]} is not a broker resource (try {API_PREFIX}{Form.TEXT.value})")
    if path.startswith(API_ROOT):
        raise BadRequest(404, f"{path[:80]} is not a version this broker speaks (it speaks {API_PREFIX})")
    raise BadRequest(404, f"{path[:80]} is not a broker path (try {API_PREFIX}{Form.TEXT.value})")


def _parameters(query: str) -> dict[str, str]:
    if not query:
        return {}
    try:
        pairs = urllib.parse.parse_qsl(
            query,
            keep_blank_values=True,
            strict_parsing=True,
            max_num_fields=2 * len(PARAMETERS),
            errors="strict",
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(400, f"the query string cannot be read: {exc}") from None
    values: dict[str, str] = {}
    for key, value in pairs:
        if key not in PARAMETERS:
            raise BadRequest(400, f"{key[:40]!r} is not a parameter (known: {', '.join(PARAMETERS)})")
        if key in values:
            raise BadRequest(400, f"{key} is given twice")
        if value and value.upper() != "NONE":  # lts.conf: empty or NONE is unset
            values[key] = value
    return values


def hashing_mac(request: BrokerRequest, client: str) -> str:
    """The MAC mac-hash ranks by: the client's own, or one derived from its IPv4 address.

    A client that sends no MAC still keeps its server while its address stays the same: the
    locally administered MAC 02:00 followed by the address's four bytes stands in for it.
    """
    if request.mac:
        return request.mac
    try:
        packed = ipaddress.IPv4Address(client).packed
    except ValueError:
        packed = bytes(4)
    return "02:00:" + ":".join(f"{b:02x}" for b in packed)
