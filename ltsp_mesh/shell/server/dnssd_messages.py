"""dnspython at the edge: core/discovery/dnssd_zone.py's values -> DNS names, rdata and update messages;
finding a zone's primary server.
"""

from __future__ import annotations

import asyncio
from typing import Final

import dns.asyncquery
import dns.asyncresolver
import dns.edns
import dns.exception
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.PTR
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A
import dns.rdtypes.IN.SRV
import dns.tsig
import dns.update

from ltsp_mesh.core.config.dns_site import Labels
from ltsp_mesh.core.discovery import dnssd_lease, dnssd_zone
from ltsp_mesh.core.discovery.dnssd_zone import Rr, RrType, Update
from ltsp_mesh.core.trust.tsig_key import TsigKey

_RDTYPES: Final = {
    RrType.PTR: dns.rdatatype.PTR,
    RrType.SRV: dns.rdatatype.SRV,
    RrType.TXT: dns.rdatatype.TXT,
    RrType.A: dns.rdatatype.A,
}


def name_of(labels: Labels) -> dns.name.Name:
    """Labels (no root) as an absolute dnspython name."""
    return dns.name.Name((*labels, b""))


def labels_of(name: dns.name.Name) -> Labels:
    """An absolute dnspython name as labels (no root)."""
    return tuple(name.labels[:-1]) if name.is_absolute() else tuple(name.labels)


def _rdata(record: Rr) -> dns.rdata.Rdata:
    # dnspython's PTR, SRV and A constructors have no annotations: hence the ignores below.
    in_ = dns.rdataclass.IN
    match record:
        case dnssd_zone.Ptr():
            target = name_of(record.target)
            return dns.rdtypes.ANY.PTR.PTR(in_, dns.rdatatype.PTR, target)  # type: ignore[no-untyped-call]  # see above
        case dnssd_zone.Srv():
            target = name_of(record.target)
            return dns.rdtypes.IN.SRV.SRV(in_, dns.rdatatype.SRV, 0, 0, record.port, target)  # type: ignore[no-untyped-call]  # see above
        case dnssd_zone.Txt():
            return dns.rdtypes.ANY.TXT.TXT(in_, dns.rdatatype.TXT, record.strings)
        case dnssd_zone.A():
            return dns.rdtypes.IN.A.A(in_, dns.rdatatype.A, record.address)  # type: ignore[no-untyped-call]  # see above
    raise TypeError(f"not a record: {record!r}")


def dnspython_key(key: TsigKey) -> dns.tsig.Key:
    """The key as dnspython signs with it."""
    return dns.tsig.Key(key.name + ".", key.secret, key.algorithm + ".")


def message(
    zone: dns.name.Name, update: Update, key: dns.tsig.Key | None, lease_s: int | None
) -> dns.update.UpdateMessage:
    """The RFC 2136 message for `update`, TSIG-signed with `key`, asking for `lease_s`."""
    out = dns.update.UpdateMessage(zone, keyring=key)
    for required in update.require:
        out.present(name_of(required.owner), _rdata(required))
    for owner, rrtype in update.delete_rrsets:
        out.delete(name_of(owner), _RDTYPES[rrtype])
    for deleted in update.delete_rrs:
        out.delete(name_of(deleted.owner), _rdata(deleted))
    for added in update.add:
        out.add(name_of(added.owner), added.ttl_s, _rdata(added))
    if lease_s is not None:
        # dnspython's OptionType has no member for code 2; GenericOption carries any code.
        option = dns.edns.GenericOption(
            dnssd_lease.UPDATE_LEASE_OPTION,  # type: ignore[arg-type]
            dnssd_lease.encode_lease_option(lease_s),
        )
        out.use_edns(0, options=[option])
    return out


def granted_lease(response: dns.message.Message) -> int | None:
    """The lease a server granted in its response (RFC 9664), or None when it sent none.

    Raises DecodeError when the option is malformed.
    """
    for option in response.options:
        if option.otype == dnssd_lease.UPDATE_LEASE_OPTION:
            return dnssd_lease.decode_lease_option(option.to_wire() or b"")
    return None


class Primary:
    """Where a zone's updates go: its apex and its primary server."""

    def __init__(self, zone: dns.name.Name, address: str, port: int) -> None:
        self.zone, self.address, self.port = zone, address, port

    def __str__(self) -> str:
        return f"{self.address}" + (f" port {self.port}" if self.port != 53 else "")


async def locate(domain: Labels, server: tuple[str, int] | None, deadline: float) -> Primary:
    """The zone holding `domain` and its primary: the SOA MNAME through the resolver, or `server`."""
    name = name_of(domain)
    remaining = max(0.1, deadline - asyncio.get_running_loop().time())
    if server is not None:
        response, _ = await dns.asyncquery.udp_with_fallback(
            dns.message.make_query(name, dns.rdatatype.SOA), server[0], timeout=remaining, port=server[1]
        )
        for section in (response.answer, response.authority):
            for rrset in section:
                if rrset.rdtype == dns.rdatatype.SOA:
                    return Primary(rrset.name, server[0], server[1])
        raise dns.exception.DNSException(  # type: ignore[no-untyped-call]  # dnspython's exceptions are untyped
            f"{server[0]} has no SOA for {name} (is it authoritative for the zone?)"
        )
    resolver = await asyncio.to_thread(dns.asyncresolver.Resolver)  # reads /etc/resolv.conf
    resolver.lifetime = remaining  # zone_for_name takes no lifetime before dnspython 2.4
    try:
        async with asyncio.timeout_at(deadline):
            zone = await dns.asyncresolver.zone_for_name(name, resolver=resolver)
            soa = await resolver.resolve(zone, dns.rdatatype.SOA)
            address = await resolver.resolve(soa[0].mname, dns.rdatatype.A)
    except TimeoutError as exc:
        raise dns.exception.Timeout(timeout=remaining) from exc  # type: ignore[no-untyped-call]  # untyped in dnspython
    return Primary(zone, address[0].address, 53)
