"""DNS-SD instance names, mDNS host names and server ids that are unique by construction.

Sites clone server images, so host name and machine-id are often shared by many servers. The
MAC of the announcing interface differs per machine, so every name here includes it; zeroconf's
probing still renames on a conflict (`name-2`, ...) for the rare case where it does not help.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

SERVICE_TYPE: Final = "_ltsp._tcp.local."
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
# RFC 6763 section 4.1.1: an instance name is at most 63 bytes; leave room for the MAC suffix
# and zeroconf's "-N" conflict suffix.
_MAX_LABEL_CHARS: Final = 32


def normalize_mac(mac: str) -> str:
    """Return `mac` as lower-case colon-separated hex; raise ValueError if it is not a MAC."""
    cleaned = mac.strip().lower().replace("-", ":")
    if not _MAC.fullmatch(cleaned):
        raise ValueError(f"{mac!r} is not a MAC address")
    return cleaned


def host_label(hostname: str) -> str:
    """Return the first label of `hostname` reduced to what a DNS label may hold."""
    first = hostname.split(".", 1)[0].lower()
    label = re.sub(r"[^a-z0-9-]+", "-", first).strip("-")[:_MAX_LABEL_CHARS].strip("-")
    return label or "ltsp"


def instance_name(hostname: str, mac: str) -> str:
    """Return the DNS-SD instance name, e.g. "app1 [52:54:00:12:34:56]"."""
    return f"{host_label(hostname)} [{normalize_mac(mac)}]"


def service_name(hostname: str, mac: str) -> str:
    """Return the full service name: instance, service type and domain."""
    return f"{instance_name(hostname, mac)}.{SERVICE_TYPE}"


def mdns_host_name(hostname: str, mac: str) -> str:
    """Return the mDNS host name, e.g. "app1-525400123456.local.", unique per interface."""
    return f"{host_label(hostname)}-{normalize_mac(mac).replace(':', '')}.local."


def server_id(machine_id: str, mac: str) -> str:
    """Return a stable id for one server: machine-id alone is not unique on cloned images."""
    digest = hashlib.sha256(f"{machine_id.strip()}|{normalize_mac(mac)}".encode()).hexdigest()
    return digest[:16]
