"""DNS-SD answers -> discovered servers, and the address a client should use for each.

The shell turns mDNS packets into the plain records below, each with the address of the
responder it came from; this module joins PTR -> SRV/TXT -> A into one `Discovered` per service
instance. Pure, so the joining rules (case-insensitive names, records believed from the
responder they describe, addresses on the client's own subnet first) are tested without sockets.

Who may say what: any host on the LAN can answer a question about any name, so an A record
for a genuine server's host name pointing at a rogue, or an SRV or TXT for a genuine instance,
proves nothing. `assemble` therefore joins the records of each responder on their own first:
the version of an instance a responder gives about itself (its SRV's host has that
responder's own address) comes before the version another responder gives (a reflector, a
proxy), and the records of all responders merged come last, for answers split across
addresses. The first version is the instance; the others are kept as its `alternatives`, so
that a trust policy checks every one before it calls a server untrusted.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from ltsp_mesh.core.codec import txt
from ltsp_mesh.core.record import ServerRecord
from ltsp_mesh.errors import DecodeError

if TYPE_CHECKING:
    from ltsp_mesh.core.trust.signed_reply import SignedReply

# Versions of one instance kept (one per responder at most, and the merged one): enough for
# the genuine server, a reflector and a few rogues claiming its name; the record budget
# (core/discovery/budget.py) bounds the work before this does.
MAX_VERSIONS: Final = 16


@dataclass(frozen=True, slots=True)
class Ptr:
    """A PTR record: the service type points at an instance."""

    service_type: str
    instance: str
    source: str = ""  # the responder it came from; "" when a resolver vouches (unicast DNS)


@dataclass(frozen=True, slots=True)
class Srv:
    """An SRV record: the instance runs on `host`, port `port`."""

    instance: str
    host: str
    port: int
    source: str = ""


@dataclass(frozen=True, slots=True)
class Txt:
    """A TXT record's RDATA for an instance."""

    instance: str
    rdata: bytes
    source: str = ""


@dataclass(frozen=True, slots=True)
class A:
    """An A record: `host` has IPv4 `address`."""

    host: str
    address: str
    source: str = ""

    @property
    def self_attested(self) -> bool:
        """True when the record came from the address it names: the responder speaks for itself."""
        return self.source == self.address


DnsRecord = Ptr | Srv | Txt | A


@dataclass(frozen=True, slots=True)
class Discovered:
    """One service instance as discovery found it; `announced` is None when its TXT is unusable.

    `alternatives` are other versions of the same instance (other SRV, TXT or addresses, from
    other responders), least likely first: a trust policy may find the genuine one among them.
    """

    instance: str
    host: str
    ssh_port: int
    addresses: tuple[str, ...]
    announced: ServerRecord | None
    txt_problem: str = ""
    # The TXT properties as announced, signature included: trust checks them (not the record,
    # which keeps only the figures).
    txt_properties: Mapping[bytes, bytes | None] = field(default_factory=dict, compare=False)
    alternatives: tuple[Discovered, ...] = field(default=(), compare=False)
    # The responder whose records make this version; "" for records merged from several (or
    # vouched for by a resolver).
    source: str = field(default="", compare=False)

    @property
    def label(self) -> str:
        """The instance name without the service type, for people."""
        return self.instance.split("._", 1)[0]

    @property
    def self_attested(self) -> bool:
        """True when this version came from one of its own addresses: the server speaking for itself."""
        return self.source in self.addresses

    @property
    def versions(self) -> tuple[Discovered, ...]:
        """This version and its alternatives, most likely first."""
        return (self, *self.alternatives)


def name_key(name: str) -> str:
    """A DNS name as compared: case-insensitive, with or without the final dot."""
    return name.lower().rstrip(".")


_key = name_key


def assemble(service_type: str, records: Iterable[DnsRecord]) -> list[Discovered]:
    """Join the records of one browse into the instances of `service_type`, complete ones only.

    An instance is complete when it has an SRV record and its host has an IPv4 address. The
    result is sorted by instance name so that callers see a stable order; each instance's
    versions are ordered as the module's docstring says.
    """
    records = list(records)
    instances: dict[str, str] = {}
    by_source: dict[str, list[DnsRecord]] = {}
    # Who said anything about an instance (its SRV, TXT) or about a host (its A records).
    speakers: dict[str, set[str]] = {}
    hosts: dict[str, set[str]] = {}  # instance -> the hosts its SRV records name
    for record in records:
        by_source.setdefault(record.source, []).append(record)
        match record:
            case Ptr() if _key(record.service_type) == _key(service_type):
                instances.setdefault(_key(record.instance), record.instance)
            case Srv():
                speakers.setdefault(_key(record.instance), set()).add(record.source)
                hosts.setdefault(_key(record.instance), set()).add(_key(record.host))
            case Txt():
                speakers.setdefault(_key(record.instance), set()).add(record.source)
            case A():
                speakers.setdefault(_key(record.host), set()).add(record.source)
    # A flood repeats one TXT: each distinct RDATA is decoded once.
    decoded: dict[bytes, tuple[Mapping[bytes, bytes | None], ServerRecord | None, str]] = {}
    # (rank, version): 0 a responder speaking for itself, 1 for another host, 2 everyone's merged.
    versions: dict[str, list[tuple[int, Discovered]]] = {}
    for source, own in by_source.items():
        for key, version in _join(instances, own, source, decoded).items():
            versions.setdefault(key, []).append((0 if version.self_attested else 1, version))
    # Everyone's records merged, only for the instances several responders spoke about.
    split = {
        key
        for key in instances
        if len(set().union(speakers.get(key, set()), *(speakers.get(h, set()) for h in hosts.get(key, ()))))
        > 1
    }
    if split:
        for key, version in _join({k: instances[k] for k in split}, records, "", decoded).items():
            versions.setdefault(key, []).append((2, version))
    found = []
    for key in sorted(instances):
        ordered = _distinct(v for _, v in sorted(versions.get(key, []), key=lambda ranked: ranked[0]))
        if ordered:
            found.append(dataclasses.replace(ordered[0], alternatives=tuple(ordered[1:MAX_VERSIONS])))
    return found


def _join(
    instances: Mapping[str, str],
    records: Iterable[DnsRecord],
    source: str,
    decoded: dict[bytes, tuple[Mapping[bytes, bytes | None], ServerRecord | None, str]],
) -> dict[str, Discovered]:
    """One version of each instance from `records`: the first SRV and TXT, and the SRV host's
    addresses, surest first (`_doubt`)."""
    srv: dict[str, Srv] = {}
    txt_rdata: dict[str, bytes] = {}
    addresses: dict[str, list[A]] = {}
    describers: dict[str, set[str]] = {}  # host -> the responders that sent an SRV naming it
    for record in records:
        match record:
            case Srv():
                srv.setdefault(_key(record.instance), record)
                describers.setdefault(_key(record.host), set()).add(record.source)
            case Txt():
                txt_rdata.setdefault(_key(record.instance), record.rdata)
            case A():
                seen = addresses.setdefault(_key(record.host), [])
                if all(a.address != record.address for a in seen):
                    seen.append(record)
                elif record.self_attested:  # the same address, now from the host itself
                    seen[:] = [record if a.address == record.address else a for a in seen]
    joined = {}
    for key, service in srv.items():
        known = addresses.get(_key(service.host))
        if key not in instances or not known:
            continue
        properties, announced, problem = _decoded(txt_rdata[key], decoded) if key in txt_rdata else NO_TXT
        joined[key] = Discovered(
            instance=instances[key],
            host=service.host,
            ssh_port=service.port,
            addresses=tuple(a.address for a in sorted(known, key=functools.partial(_doubt, describers))),
            announced=announced,
            txt_problem=problem,
            txt_properties=properties,
            source=source,
        )
    return joined


NO_TXT: Final[tuple[Mapping[bytes, bytes | None], ServerRecord | None, str]] = ({}, None, "no TXT record")


def _decoded(
    rdata: bytes, decoded: dict[bytes, tuple[Mapping[bytes, bytes | None], ServerRecord | None, str]]
) -> tuple[Mapping[bytes, bytes | None], ServerRecord | None, str]:
    if rdata not in decoded:
        properties: Mapping[bytes, bytes | None] = {}
        try:
            properties = txt.decode_rdata(rdata)
            decoded[rdata] = (properties, txt.decode(properties), "")
        except DecodeError as exc:
            decoded[rdata] = (properties, None, str(exc))
    return decoded[rdata]


def _doubt(describers: Mapping[str, set[str]], record: A) -> tuple[bool, bool]:
    # An address is surest from the responder that named the host in an SRV and speaks for
    # itself, then from any responder speaking for itself, then from a third party.
    return record.source not in describers.get(_key(record.host), set()), not record.self_attested


def _distinct(versions: Iterable[Discovered]) -> list[Discovered]:
    kept: list[Discovered] = []
    for version in versions:
        # Discovered's equality leaves the TXT properties out: two TXTs with the same figures
        # but different signatures are two versions.
        if not any(k == version and k.txt_properties == version.txt_properties for k in kept):
            kept.append(version)
    return kept


def ordered_addresses(addresses: Sequence[str], local_networks: Sequence[str]) -> list[str]:
    """`addresses` with those on one of the client's own networks first, order kept otherwise."""
    networks = [_network(n) for n in local_networks]
    return sorted(addresses, key=lambda a: not any(_address(a) in net for net in networks))


def choose_address(addresses: Sequence[str], local_networks: Sequence[str]) -> str | None:
    """The address to use for a server: the first one on one of the client's own networks.

    A server announced on two links carries the addresses of both; the one on the client's
    subnet is the one that reaches it. With none on a local network, the first address is the
    best guess (a routed site). `local_networks` are CIDR strings such as "10.0.0.0/24".
    """
    networks = [_network(n) for n in local_networks]
    for address in addresses:
        ip = _address(address)
        if any(ip in net for net in networks):
            return address
    return addresses[0] if addresses else None


# A broker chooses an address for each of its servers at every request: the same few strings
# parsed again and again. Bounded caches of the parsed values (pure: same text, same value).
@functools.lru_cache(maxsize=1024)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text, strict=False)


@functools.lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def missing(service_type: str, records: Iterable[DnsRecord]) -> tuple[set[str], set[str]]:
    """What a browse still lacks: (instances with no SRV or TXT, SRV hosts with no A record),
    responder by responder: another host's records do not complete a server's own answer."""
    by_source: dict[str, list[DnsRecord]] = {}
    for record in records:
        by_source.setdefault(record.source, []).append(record)
    lacking_records: set[str] = set()
    lacking_address: set[str] = set()
    for own in by_source.values():
        instances = {
            r.instance for r in own if isinstance(r, Ptr) and _key(r.service_type) == _key(service_type)
        }
        srv = {_key(r.instance): r for r in own if isinstance(r, Srv)}
        txt_seen = {_key(r.instance) for r in own if isinstance(r, Txt)}
        hosts_with_a = {_key(r.host) for r in own if isinstance(r, A)}
        lacking_records |= {i for i in instances if _key(i) not in srv or _key(i) not in txt_seen}
        lacking_address |= {s.host for s in srv.values() if _key(s.host) not in hosts_with_a}
    return lacking_records, lacking_address


@dataclass(frozen=True, slots=True)
class Answered:
    """A discovered server that answered the direct query: its fresh record and how fast.

    `signed` is the reply as it came, signature, certificate and key included, for callers that
    check or collect them (`ltsp-mesh known-hosts`).
    """

    discovered: Discovered
    address: str
    record: ServerRecord
    response_ms: float
    signed: SignedReply | None = field(default=None, compare=False)
