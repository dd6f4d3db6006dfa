"""One-shot unicast DNS-SD browse (RFC 6763) through the ordinary resolver, under a deadline.

PTR `_ltsp._tcp.<domain>` lists the instances; then the SRV and TXT of every instance are asked
at once, and the A records of SRV targets that the answers' additional sections did not carry
(BIND adds in-zone SRV targets' addresses there, so this is usually nothing). Two round trips
to a LAN DNS server take a few milliseconds. The result is the plain records of
core/discovery/services.py, so `services.assemble` treats them like an mDNS browse's.

A zone may be hostile or just huge: at most MAX_INSTANCES instances and MAX_RECORDS records are
kept, and whatever arrived by the deadline is returned.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Final

import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.rdatatype
import dns.resolver
import dns.rrset

from ltsp_mesh.core.config import dns_site
from ltsp_mesh.core.config.dns_site import Labels
from ltsp_mesh.core.discovery import dnssd_zone, services
from ltsp_mesh.errors import ConfigError

log = logging.getLogger(__name__)

MAX_INSTANCES: Final = 256
MAX_RECORDS: Final = 4096
PARALLEL: Final = 32
EDNS_PAYLOAD: Final = 1232


def _text(name: dns.name.Name) -> str:
    return dnssd_zone.text(tuple(name.labels[:-1]) if name.is_absolute() else tuple(name.labels))


def _txt_rdata(strings: Sequence[bytes]) -> bytes:
    return b"".join(bytes([len(s)]) + s for s in strings)


def _resolver(nameservers: Sequence[str], port: int) -> dns.asyncresolver.Resolver:
    if nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = list(nameservers)
        resolver.port = port
    else:
        resolver = dns.asyncresolver.Resolver()  # /etc/resolv.conf, as every other lookup on the host
    # EDNS(0) with the 1232-byte payload of DNS Flag Day 2020: a PTR RRset of a few dozen
    # servers then fits one UDP answer instead of falling back to TCP (512 bytes without EDNS).
    resolver.use_edns(0, 0, EDNS_PAYLOAD)
    return resolver


class _Collector:
    def __init__(self, counters: Counter[str]) -> None:
        self.records: list[services.DnsRecord] = []
        self.counters = counters

    def add(self, record: services.DnsRecord) -> bool:
        if len(self.records) >= MAX_RECORDS:
            self.counters["dns_records_over_limit"] += 1
            return False
        self.records.append(record)
        return True

    def addresses(self, rrsets: Sequence[dns.rrset.RRset]) -> None:
        for rrset in rrsets:
            if rrset.rdtype == dns.rdatatype.A:
                for address in sorted(r.address for r in rrset):
                    self.add(services.A(host=_text(rrset.name), address=address))


async def browse(
    domain: str,
    deadline: float,
    *,
    nameservers: Sequence[str] = (),
    port: int = 53,
    counters: Counter[str] | None = None,
) -> list[services.DnsRecord]:
    """The `_ltsp._tcp` records of `domain`, collected until `deadline` (the loop's clock).

    `nameservers` replaces /etc/resolv.conf (tests). Never raises for DNS failures: they are
    counted (`dns_failed`, `dns_timed_out`) and logged at debug, and the records so far returned.
    """
    counters = counters if counters is not None else Counter()
    found = _Collector(counters)
    try:
        zone_domain: Labels = dns_site.domain(domain, "LDM_LB_DOMAIN")
    except ConfigError as exc:  # the mDNS half of the look goes on without it
        counters["dns_failed"] += 1
        log.warning("%s", exc)
        return []
    ptr_name = dns.name.Name((*dnssd_zone.service_type(zone_domain), b""))
    loop = asyncio.get_running_loop()
    limit = asyncio.Semaphore(PARALLEL)
    targets_by_text: dict[str, dns.name.Name] = {}

    async def ask(name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message | None:
        async with limit:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            counters["dns_queries"] += 1
            try:
                answer = await resolver.resolve(
                    name, rdtype, raise_on_no_answer=False, lifetime=remaining, search=False
                )
            except dns.resolver.NXDOMAIN:
                return None
            except (dns.exception.DNSException, OSError) as exc:
                counters["dns_failed"] += 1
                log.debug("DNS %s %s failed: %s", name, dns.rdatatype.to_text(rdtype), exc)
                return None
            return answer.response

    def rrset(
        response: dns.message.Message | None, name: dns.name.Name, rdtype: int
    ) -> dns.rrset.RRset | None:
        if response is None:
            return None
        return next((r for r in response.answer if r.rdtype == rdtype and r.name == name), None)

    async def instance(name: dns.name.Name) -> None:
        srv_response, txt_response = await asyncio.gather(
            ask(name, dns.rdatatype.SRV), ask(name, dns.rdatatype.TXT)
        )
        srv = rrset(srv_response, name, dns.rdatatype.SRV)
        txt = rrset(txt_response, name, dns.rdatatype.TXT)
        if txt:
            found.add(services.Txt(instance=_text(name), rdata=_txt_rdata(next(iter(txt)).strings)))
        if not srv:
            return
        target = next(iter(srv))
        targets_by_text[_text(target.target)] = target.target
        found.add(services.Srv(instance=_text(name), host=_text(target.target), port=target.port))
        if srv_response is not None:
            found.addresses([r for r in srv_response.additional if r.name == target.target])

    try:
        resolver = await asyncio.to_thread(_resolver, nameservers, port)  # reads /etc/resolv.conf
        async with asyncio.timeout_at(deadline):
            ptr = rrset(await ask(ptr_name, dns.rdatatype.PTR), ptr_name, dns.rdatatype.PTR)
            targets = sorted({r.target for r in ptr} if ptr else set())
            if len(targets) > MAX_INSTANCES:
                counters["dns_instances_over_limit"] += len(targets) - MAX_INSTANCES
                targets = targets[:MAX_INSTANCES]
            for target in targets:
                found.add(services.Ptr(service_type=_text(ptr_name), instance=_text(target)))
            await asyncio.gather(*(instance(t) for t in targets))
            _, lacking = services.missing(_text(ptr_name), found.records)
            hosts = [targets_by_text[h] for h in sorted(lacking) if h in targets_by_text]
            responses = await asyncio.gather(*(ask(h, dns.rdatatype.A) for h in hosts))
            for host, response in zip(hosts, responses, strict=True):
                found.addresses([r for r in (response.answer if response else []) if r.name == host])
    except TimeoutError:
        counters["dns_timed_out"] += 1
    except (dns.exception.DNSException, OSError) as exc:  # no resolv.conf, no nameserver
        counters["dns_failed"] += 1
        log.debug("unicast DNS-SD browse of %s failed: %s", domain, exc)
    counters["dns_records"] += len(found.records)
    return found.records


async def discovered(
    domain: str,
    deadline: float,
    *,
    nameservers: Sequence[str] = (),
    port: int = 53,
    counters: Counter[str] | None = None,
) -> list[services.Discovered]:
    """The complete `_ltsp._tcp` instances of `domain`, as `services.assemble` joins them."""
    records = await browse(domain, deadline, nameservers=nameservers, port=port, counters=counters)
    if not records:
        return []
    service_type = dnssd_zone.text(dnssd_zone.service_type(dns_site.domain(domain, "LDM_LB_DOMAIN")))
    return services.assemble(service_type, records)
