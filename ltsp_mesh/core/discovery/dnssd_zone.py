"""Unicast DNS-SD (RFC 6763) in a site's own zone: the names, and the updates that keep them.

A server registered in `school.example` owns, by construction (the MAC is in both names):

    _ltsp._tcp.school.example.                         PTR  app1 [52:54:00:12:34:56]._ltsp._tcp...
    app1 [52:54:00:12:34:56]._ltsp._tcp.school.example. SRV  0 0 22 app1-525400123456.school.example.
    app1 [52:54:00:12:34:56]._ltsp._tcp.school.example. TXT  "v=1" "id=..." ... (as over mDNS)
    app1-525400123456.school.example.                   A    10.0.1.10 (every announcing interface)
    app1-525400123456.school.example.                   TXT  "ltsp-lease=600" "renew=9f2c41d07a3e"

The PTR RRset is shared by every server: a server adds and deletes only its own PTR record,
never the RRset. The last TXT is the renewal stamp: it changes at every refresh, so a peer that
sees it unchanged for longer than the lease knows the server is gone and may delete its records
(see core/discovery/dnssd_lease.py), with the stamp as a prerequisite (RFC 2136 section 2.4.2) so that a
server that renewed in the meantime loses nothing.

Names are tuples of labels (bytes, no root label); the shell turns them into dnspython names.
Pure: no sockets, no clocks; the renewal token is passed in.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.core.config.dns_site import Labels
from ltsp_mesh.core.discovery import names
from ltsp_mesh.core.discovery.services import Discovered

SERVICE_LABELS: Final[Labels] = (b"_ltsp", b"_tcp")
STAMP_LEASE_KEY: Final = b"ltsp-lease"
STAMP_RENEW_KEY: Final = b"renew"
_TOKEN = re.compile(rb"[0-9a-f]{8,32}")
_MAX_NAME_BYTES: Final = 255  # RFC 1035 section 2.3.4, in wire form


class RrType(enum.StrEnum):
    """The record types a registration uses."""

    PTR = "PTR"
    SRV = "SRV"
    TXT = "TXT"
    A = "A"


def text(labels: Labels) -> str:
    """`labels` as the absolute name text services.py and signing.py use (no escapes, final dot).

    mDNS names reach the client as such text, so unicast names must read the same way: an
    instance label keeps its spaces and brackets, as in "app1 [52:54:00:12:34:56]._ltsp._tcp.x.".
    """
    return ".".join(label.decode("utf-8", "surrogateescape") for label in labels) + "."


def service_type(zone_domain: Labels) -> Labels:
    """The name clients browse: `_ltsp._tcp.<domain>`."""
    return SERVICE_LABELS + zone_domain


@dataclass(frozen=True, slots=True)
class Names:
    """The names one server registers under in one domain."""

    domain: Labels
    instance: Labels
    host: Labels

    @property
    def service_type(self) -> Labels:
        """`_ltsp._tcp.<domain>`, whose PTR RRset lists every instance."""
        return service_type(self.domain)


def names_for(hostname: str, mac: str, zone_domain: Labels) -> Names:
    """The instance and host names of the server `hostname` announcing from `mac`.

    The same labels as over mDNS (core/discovery/names.py): unique per MAC, so cloned images differ.
    """
    instance = names.instance_name(hostname, mac).encode("utf-8")
    host = f"{names.host_label(hostname)}-{names.normalize_mac(mac).replace(':', '')}".encode("ascii")
    result = Names(
        domain=zone_domain, instance=(instance, *service_type(zone_domain)), host=(host, *zone_domain)
    )
    for name in (result.instance, result.host):
        if sum(len(label) + 1 for label in name) + 1 > _MAX_NAME_BYTES:
            raise ValueError(f"{text(name)} is longer than a DNS name may be")
    return result


@dataclass(frozen=True, slots=True)
class Ptr:
    """A PTR record."""

    owner: Labels
    ttl_s: int
    target: Labels


@dataclass(frozen=True, slots=True)
class Srv:
    """An SRV record (priority and weight 0: one instance, one target)."""

    owner: Labels
    ttl_s: int
    port: int
    target: Labels


@dataclass(frozen=True, slots=True)
class Txt:
    """A TXT record, as its character-strings."""

    owner: Labels
    ttl_s: int
    strings: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class A:
    """An A record."""

    owner: Labels
    ttl_s: int
    address: str


Rr = Ptr | Srv | Txt | A


@dataclass(frozen=True, slots=True)
class Stamp:
    """The renewal stamp at a server's host name: its lease and this renewal's random token."""

    lease_s: int
    token: bytes

    def __post_init__(self) -> None:
        if not 1 <= self.lease_s <= 2**31 - 1 or not _TOKEN.fullmatch(self.token):
            raise ValueError(f"bad renewal stamp: lease {self.lease_s}, token {self.token!r}")

    def strings(self) -> tuple[bytes, ...]:
        """The TXT character-strings that carry the stamp."""
        return (STAMP_LEASE_KEY + b"=" + str(self.lease_s).encode(), STAMP_RENEW_KEY + b"=" + self.token)


def read_stamp(strings: Sequence[bytes]) -> Stamp | None:
    """The stamp in a host name's TXT strings, or None when they are not one (not ours to sweep)."""
    if len(strings) != 2:
        return None
    lease, renew = (s.partition(b"=") for s in strings)
    if (
        (lease[0], renew[0]) != (STAMP_LEASE_KEY, STAMP_RENEW_KEY)
        or not lease[2].isdigit()
        or len(lease[2]) > 10
    ):
        return None
    try:
        return Stamp(int(lease[2]), renew[2])
    except ValueError:
        return None


def txt_strings(rdata: bytes) -> tuple[bytes, ...]:
    """TXT RDATA (length-prefixed strings, as core/codec/txt.py encodes them) as its strings."""
    out, offset = [], 0
    while offset < len(rdata):
        length = rdata[offset]
        out.append(rdata[offset + 1 : offset + 1 + length])
        offset += 1 + length
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Registration:
    """Everything one server puts in the zone."""

    names: Names
    addresses: tuple[str, ...]
    ssh_port: int
    txt_rdata: bytes
    ttl_s: int
    stamp: Stamp

    def records(self) -> tuple[Rr, ...]:
        """The records, PTR first."""
        n, ttl = self.names, self.ttl_s
        return (
            Ptr(n.service_type, ttl, n.instance),
            Srv(n.instance, ttl, self.ssh_port, n.host),
            Txt(n.instance, ttl, txt_strings(self.txt_rdata) or (b"",)),
            *(A(n.host, ttl, address) for address in self.addresses),
            Txt(n.host, ttl, self.stamp.strings()),
        )


@dataclass(frozen=True, slots=True)
class Update:
    """One RFC 2136 update message: prerequisites, then deletions, then additions, all or nothing.

    `require` are value-dependent "RRset exists" prerequisites (section 2.4.2): the update is
    applied only if each named RRset holds exactly these records.
    """

    require: tuple[Txt, ...] = ()
    delete_rrsets: tuple[tuple[Labels, RrType], ...] = ()
    delete_rrs: tuple[Rr, ...] = ()
    add: tuple[Rr, ...] = ()


def _own_rrsets(n: Names) -> tuple[tuple[Labels, RrType], ...]:
    # Every RRset a server owns outright (its PTR lives in the shared RRset and goes alone).
    return ((n.instance, RrType.SRV), (n.instance, RrType.TXT), (n.host, RrType.A), (n.host, RrType.TXT))


def register(registration: Registration) -> Update:
    """Put the whole registration in place, replacing whatever the server's own names held.

    Used for the first registration, every refresh and every TXT change alike: a refresh that
    finds its records deleted (by an admin, or a peer that wrongly judged it dead) restores them.
    """
    return Update(delete_rrsets=_own_rrsets(registration.names), add=registration.records())


def remove(registration: Registration) -> Update:
    """Take the registration out of the zone, if the zone still holds this very renewal."""
    n = registration.names
    return Update(
        require=(Txt(n.host, 0, registration.stamp.strings()),),
        delete_rrsets=_own_rrsets(n),
        delete_rrs=(Ptr(n.service_type, 0, n.instance),),
    )


def sweep(zone_domain: Labels, instance: Labels, host: Labels, stamp: Stamp) -> Update:
    """Delete a dead server's records, provided its stamp is still the one that went stale."""
    if not is_within(instance, service_type(zone_domain)) or not is_within(host, zone_domain):
        raise ValueError("a sweep only deletes names within the domain")
    gone = Names(domain=zone_domain, instance=instance, host=host)
    return Update(
        require=(Txt(host, 0, stamp.strings()),),
        delete_rrsets=_own_rrsets(gone),
        delete_rrs=(Ptr(gone.service_type, 0, instance),),
    )


def is_within(name: Labels, parent: Labels) -> bool:
    """True when `name` is strictly below `parent` (labels compared case-insensitively)."""
    return len(name) > len(parent) and tuple(label.lower() for label in name[-len(parent) :]) == tuple(
        label.lower() for label in parent
    )


def merge(local: Sequence[Discovered], unicast: Sequence[Discovered]) -> list[Discovered]:
    """One list of servers from an mDNS and a unicast DNS-SD browse, each server once.

    A server found both ways (on the client's link and in the zone) shares an address between
    its two entries; the mDNS one is kept, as it is announced on the client's own link.
    """
    seen = {address for server in local for address in server.addresses}
    merged = list(local)
    for server in unicast:
        if seen.isdisjoint(server.addresses):
            merged.append(server)
            seen.update(server.addresses)
    return merged
