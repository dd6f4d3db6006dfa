"""DNS-SD answers -> discovered servers, and the address a client should use for each.

The shell turns mDNS packets into the plain records below; this module joins PTR -> SRV/TXT ->
A into one `Discovered` per service instance. Pure, so the joining rules (case-insensitive
names, first TXT wins, addresses on the client's own subnet first) are tested without sockets.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ltsp_mesh.core.codec import txt
from ltsp_mesh.core.record import ServerRecord
from ltsp_mesh.errors import DecodeError

if TYPE_CHECKING:
    from ltsp_mesh.core.trust.signed_reply import SignedReply


@dataclass(frozen=True, slots=True)
class Ptr:
    """A PTR record: the service type points at an instance."""

    service_type: str
    instance: str


@dataclass(frozen=True, slots=True)
class Srv:
    """An SRV record: the instance runs on `host`, port `port`."""

    instance: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Txt:
    """A TXT record's RDATA for an instance."""

    instance: str
    rdata: bytes


@dataclass(frozen=True, slots=True)
class A:
    """An A record: `host` has IPv4 `address`."""

    host: str
    address: str


DnsRecord = Ptr | Srv | Txt | A


@dataclass(frozen=True, slots=True)
class Discovered:
    """One service instance as discovery found it; `announced` is None when its TXT is unusable."""

    instance: str
    host: str
    ssh_port: int
    addresses: tuple[str, ...]
    announced: ServerRecord | None
    txt_problem: str = ""
    # The TXT properties as announced, signature included: trust checks them (not the record,
    # which keeps only the figures).
    txt_properties: Mapping[bytes, bytes | None] = field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        """The instance name without the service type, for people."""
        return self.instance.split("._", 1)[0]


def _key(name: str) -> str:
    return name.lower().rstrip(".")


def assemble(service_type: str, records: Iterable[DnsRecord]) -> list[Discovered]:
    """Join the records of one browse into the instances of `service_type`, complete ones only.

    An instance is complete when it has an SRV record and its host has an IPv4 address. The
    result is sorted by instance name so that callers see a stable order.
    """
    instances: dict[str, str] = {}
    srv: dict[str, Srv] = {}
    txt_rdata: dict[str, bytes] = {}
    addresses: dict[str, list[str]] = {}
    for record in records:
        match record:
            case Ptr() if _key(record.service_type) == _key(service_type):
                instances.setdefault(_key(record.instance), record.instance)
            case Srv():
                srv.setdefault(_key(record.instance), record)
            case Txt():
                txt_rdata.setdefault(_key(record.instance), record.rdata)
            case A():
                seen = addresses.setdefault(_key(record.host), [])
                if record.address not in seen:
                    seen.append(record.address)
    found = []
    for key, name in sorted(instances.items()):
        service = srv.get(key)
        if service is None or not addresses.get(_key(service.host)):
            continue
        announced, problem, properties = None, "no TXT record", {}
        if key in txt_rdata:
            try:
                properties = txt.decode_rdata(txt_rdata[key])
                announced, problem = txt.decode(properties), ""
            except DecodeError as exc:
                problem = str(exc)
        found.append(
            Discovered(
                instance=name,
                host=service.host,
                ssh_port=service.port,
                addresses=tuple(addresses[_key(service.host)]),
                announced=announced,
                txt_problem=problem,
                txt_properties=properties,
            )
        )
    return found


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
    """What a browse still lacks: (instances with no SRV or TXT, SRV hosts with no A record)."""
    records = list(records)
    instances = {
        r.instance for r in records if isinstance(r, Ptr) and _key(r.service_type) == _key(service_type)
    }
    srv = {_key(r.instance): r for r in records if isinstance(r, Srv)}
    txt_seen = {_key(r.instance) for r in records if isinstance(r, Txt)}
    hosts_with_a = {_key(r.host) for r in records if isinstance(r, A)}
    lacking_records = {i for i in instances if _key(i) not in srv or _key(i) not in txt_seen}
    lacking_address = {s.host for s in srv.values() if _key(s.host) not in hosts_with_a}
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
