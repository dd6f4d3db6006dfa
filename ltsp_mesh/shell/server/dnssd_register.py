"""Register the server in a unicast DNS-SD zone with TSIG-signed RFC 2136 updates (dnspython).

The daemon starts one Registrar after its mDNS announcement. A background task registers, then
renews at half the lease (asking for the lease with the RFC 9664 option on every update), sends
a changed TXT at most every 30 s, and after each renewal looks at its peers' renewal stamps and
deletes the records of any whose stamp stood still for 1.5 leases (core/discovery/dnssd_lease.py says
why). `stop()` removes the records. Updates go to the zone's primary, named by the SOA MNAME
and found through the ordinary resolver, unless the admin names a server. When the DNS server
is down or refuses, the registrar logs what to fix, counts, backs off and retries: it never
stops the daemon.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Final

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.tsig
from cryptography.hazmat.primitives.asymmetric import ed25519

from ltsp_mesh.core.codec import txt
from ltsp_mesh.core.config import credentials, dns_site
from ltsp_mesh.core.config.dns_site import Labels
from ltsp_mesh.core.config.mesh_conf import ServeSettings
from ltsp_mesh.core.discovery import dnssd_lease, dnssd_zone
from ltsp_mesh.core.discovery.dnssd_zone import Names, Registration, Stamp, Update
from ltsp_mesh.core.trust import signing, tsig_key
from ltsp_mesh.core.trust.tsig_key import TsigKey
from ltsp_mesh.errors import ConfigError, DecodeError
from ltsp_mesh.shell import keys
from ltsp_mesh.shell.netif import Interface
from ltsp_mesh.shell.server.dnssd_messages import (
    Primary,
    dnspython_key,
    granted_lease,
    labels_of,
    locate,
    message,
    name_of,
)

log = logging.getLogger(__name__)

UPDATE_TIMEOUT_S: Final = 3.0
STOP_TIMEOUT_S: Final = 3.0
# A sweep reads at most this many peers, this many at a time: a zone cannot make a server
# hold or ask more.
MAX_PEERS: Final = 512
SWEEP_PARALLEL: Final = 16
_PREREQUISITE_FAILED: Final = (dns.rcode.NXRRSET, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN, dns.rcode.YXDOMAIN)
_HINTS: Final = {
    dns.rcode.REFUSED: "the zone does not take updates signed with this key: give it "
    "update-policy { grant KEY zonesub ANY; }; (or allow-update { key KEY; };)",
    dns.rcode.NOTAUTH: "this server is not authoritative for the zone, or does not know the key",
    dns.rcode.NOTZONE: "a name is outside the zone",
    dns.rcode.SERVFAIL: "the DNS server could not apply the update (see its log)",
}


class Registrar:
    """One server's records in one DNS-SD domain, kept current until `stop()`."""

    def __init__(
        self,
        *,
        names: Names,
        addresses: Sequence[str],
        ssh_port: int,
        key: TsigKey,
        counters: Counter[str],
        server: tuple[str, int] | None = None,
        lease_s: int = dnssd_lease.DEFAULT_LEASE_S,
        signing_key: ed25519.Ed25519PrivateKey | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.names, self.addresses, self.ssh_port = names, tuple(addresses), ssh_port
        self.lease_s = dnssd_lease.check_lease(lease_s)
        self.ttl_s = dnssd_lease.ttl_for(lease_s)
        self.counters = counters
        self._key, self._server, self._signing_key = dnspython_key(key), server, signing_key
        self._rng = rng or random.Random()
        self._properties: txt.TxtProperties = {}
        self._primary: Primary | None = None
        self._current: Registration | None = None
        # A registration whose update is out: a stop() that cancels it cannot tell whether the
        # zone applied it, so removal tries its stamp too.
        self._in_flight: Registration | None = None
        self._granted_s: int | None = None
        self._lease_reported = False
        self._txt_dirty = False
        self._txt_sent_at: float | None = None
        self._watch: dnssd_lease.StaleWatch[Labels] = dnssd_lease.StaleWatch()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def instance_name(self) -> str:
        """The instance's full name, e.g. "app1 [52:54:00:12:34:56]._ltsp._tcp.school.example."."""
        return dnssd_zone.text(self.names.instance)

    @property
    def host_name(self) -> str:
        """The host name its SRV points at, e.g. "app1-525400123456.school.example."."""
        return dnssd_zone.text(self.names.host)

    @property
    def registered(self) -> bool:
        """Whether the zone holds the records (as far as the last update knows)."""
        return self._current is not None

    # -- the lifecycle the daemon drives --------------------------------------------------
    def start(self, properties: txt.TxtProperties) -> None:
        """Register `properties` as TXT in the background, then keep the records current."""
        if self._task is not None:
            raise RuntimeError("start() twice")
        self._properties = dict(properties)
        self._task = asyncio.create_task(self._run(), name="dnssd-register")

    def update_txt(self, properties: txt.TxtProperties) -> None:
        """Publish new TXT properties: now, or once the 30 s rate limit allows."""
        if properties != self._properties:
            self._properties = dict(properties)
            self._txt_dirty = True
            self._wake.set()

    def update_addresses(self, addresses: Sequence[str]) -> None:
        """Publish new A records (the server was renumbered) with the next update, which
        replaces every record of this server's names; none while it has no address."""
        if addresses and tuple(addresses) != self.addresses:
            self.addresses = tuple(addresses)
            self._txt_dirty = True
            self._wake.set()

    async def stop(self) -> None:
        """Stop renewing and remove the records (bounded by STOP_TIMEOUT_S)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._current is not None or self._in_flight is not None:
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await self.remove()
            except TimeoutError:
                self.counters["dns_remove_failed"] += 1
                log.warning(
                    "could not remove %s from DNS within %.0f s; peers will sweep it",
                    self.instance_name,
                    STOP_TIMEOUT_S,
                )

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        renew_at = loop.time()
        while True:
            now = loop.time()
            due = renew_at
            if self._txt_dirty and self._current is not None and failures == 0:
                due = min(due, dnssd_lease.txt_due(self._txt_sent_at, now))
            if due > now:
                self._wake.clear()
                try:
                    async with asyncio.timeout_at(due):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                continue
            renewal = loop.time() >= renew_at
            try:
                ok = await (self.refresh() if renewal else self.register())
            except Exception:  # never let a surprise in dnspython or the network stop the daemon
                log.exception("unexpected failure updating DNS; retrying")
                self.counters["dns_update_failed"] += 1
                ok = False
            now = loop.time()
            if ok:
                failures = 0
                if renewal:
                    renew_at = now + dnssd_lease.renew_after(self.lease_s, self._granted_s, self._rng)
            else:
                failures += 1
                renew_at = now + dnssd_lease.retry_after(failures, self.lease_s, self._rng)

    # -- one step each ---------------------------------------------------------------------
    def _registration(self) -> Registration:
        properties = self._properties
        if self._signing_key is not None:
            properties = signing.sign_txt(
                properties,
                instance=self.instance_name,
                host=self.host_name,
                ssh_port=self.ssh_port,
                key=self._signing_key,
                now=time.time(),
            )
        return Registration(
            names=self.names,
            addresses=self.addresses,
            ssh_port=self.ssh_port,
            txt_rdata=txt.encode_rdata(properties),
            ttl_s=self.ttl_s,
            stamp=Stamp(self.lease_s, secrets.token_hex(8).encode()),
        )

    async def register(self) -> bool:
        """Put the current records in the zone (with a fresh renewal stamp); True on success."""
        registration = self._registration()
        first = self._current is None
        sent_txt = self._txt_dirty
        self._txt_dirty = False
        self._in_flight = registration
        rcode = await self._send(dnssd_zone.register(registration), "register", lease=True)
        self._in_flight = None
        if rcode != dns.rcode.NOERROR:
            self._txt_dirty = self._txt_dirty or sent_txt
            return False
        self._current = registration
        self._txt_sent_at = asyncio.get_running_loop().time()
        self.counters["dns_registrations" if first else "dns_updates"] += 1
        if sent_txt and not first:
            self.counters["dns_txt_updates"] += 1
        if first:
            log.info(
                "registered %s in DNS (zone %s, primary %s): %s, TTL %d s",
                self.instance_name,
                self._primary.zone if self._primary else "?",
                self._primary,
                ", ".join(self.addresses),
                self.ttl_s,
            )
        self._report_lease()
        return True

    async def refresh(self) -> bool:
        """Renew the records, then sweep peers whose stamps went stale; True if renewed."""
        first = self._current is None
        if not await self.register():
            return False
        if not first:
            self.counters["dns_renewals"] += 1
        try:
            await self.sweep()
        except (dns.exception.DNSException, OSError) as exc:
            self.counters["dns_sweep_failed"] += 1
            log.info("could not look at peers' DNS records: %s", exc)
        return True

    async def remove(self) -> bool:
        """Delete the records this registrar put in the zone; True when they are gone (or not ours)."""
        candidates = [r for r in (self._in_flight, self._current) if r is not None]
        for registration in candidates:
            rcode = await self._send(dnssd_zone.remove(registration), "remove", lease=False)
            if rcode == dns.rcode.NOERROR:
                self.counters["dns_removed"] += 1
                log.info("removed %s from DNS", self.instance_name)
                break
            if rcode not in _PREREQUISITE_FAILED:
                return False
        else:
            if candidates:
                log.info("left %s in DNS: the zone holds another registration of it", self.instance_name)
        self._current = self._in_flight = None
        return True

    async def sweep(self) -> list[str]:
        """Delete the records of peers whose renewal stamps stood still; return their names."""
        primary = self._primary
        if primary is None:
            return []
        loop = asyncio.get_running_loop()
        service_type = self.names.service_type
        pointers = await self._query(primary, service_type, dns.rdatatype.PTR)
        instances = sorted({labels_of(r.target) for r in pointers})[:MAX_PEERS]  # type: ignore[attr-defined]
        instances = [
            i for i in instances if dnssd_zone.is_within(i, service_type) and i != self.names.instance
        ]
        limit = asyncio.Semaphore(SWEEP_PARALLEL)

        async def stamp_of(instance: Labels) -> tuple[Labels, Labels, Stamp] | None:
            async with limit:
                srv = await self._query(primary, instance, dns.rdatatype.SRV)
                if len(srv) != 1:
                    return None
                host = labels_of(srv[0].target)  # type: ignore[attr-defined]  # an SRV rdata
                if not dnssd_zone.is_within(host, self.names.domain) or host == self.names.host:
                    return None
                found = await self._query(primary, host, dns.rdatatype.TXT)
                if len(found) != 1:
                    return None
                stamp = dnssd_zone.read_stamp(found[0].strings)  # type: ignore[attr-defined]  # a TXT rdata
                return (instance, host, stamp) if stamp else None

        observed = [s for s in await asyncio.gather(*(stamp_of(i) for i in instances)) if s is not None]
        hosts = {instance: (host, stamp) for instance, host, stamp in observed}
        removed = []
        for instance in self._watch.observe({i: s for i, (_, s) in hosts.items()}, loop.time()):
            host, stamp = hosts[instance]
            rcode = await self._send(
                dnssd_zone.sweep(self.names.domain, instance, host, stamp), "sweep", lease=False
            )
            if rcode == dns.rcode.NOERROR:
                self.counters["dns_swept"] += 1
                removed.append(dnssd_zone.text(instance))
                log.info(
                    "removed %s from DNS: its renewal stamp stood still for over %.0f s (server gone)",
                    dnssd_zone.text(instance),
                    stamp.lease_s * dnssd_lease.STALE_AFTER_LEASES,
                )
            self._watch.forget(instance)
        return removed

    # -- the wire ----------------------------------------------------------------------------
    async def _query(
        self, primary: Primary, owner: Labels, rdtype: dns.rdatatype.RdataType
    ) -> list[dns.rdata.Rdata]:
        query = dns.message.make_query(name_of(owner), rdtype, use_edns=0, payload=1232)  # see dnssd_browse
        response, _ = await dns.asyncquery.udp_with_fallback(
            query, primary.address, timeout=UPDATE_TIMEOUT_S, port=primary.port
        )
        self.counters["dns_queries"] += 1
        for rrset in response.answer:
            if rrset.rdtype == rdtype and rrset.name == name_of(owner):
                return list(rrset)
        return []

    async def _send(self, update: Update, what: str, *, lease: bool) -> int:
        """Send one update to the primary; its rcode, or -1 when none came back."""
        loop = asyncio.get_running_loop()
        try:
            if self._primary is None:
                self._primary = await locate(self.names.domain, self._server, loop.time() + UPDATE_TIMEOUT_S)
            primary = self._primary
            request = message(primary.zone, update, self._key, self.lease_s if lease else None)
            response = await dns.asyncquery.udp(
                request, primary.address, timeout=UPDATE_TIMEOUT_S, port=primary.port
            )
        except dns.tsig.PeerError as exc:  # BADKEY, BADSIG, BADTIME: the server answered, unsigned
            self.counters["dns_update_failed"] += 1
            log.warning(
                "DNS %s of %s refused by %s: %s; the zone does not know this TSIG key (%s) or its secret "
                "differs, or the clocks are more than 5 minutes apart",
                what,
                self.instance_name,
                self._primary,
                exc,
                self._key.name.to_text(omit_final_dot=True),
            )
            return -1
        except (dns.exception.DNSException, OSError) as exc:
            self.counters["dns_update_failed"] += 1
            where = self._primary or (f"{self._server[0]}" if self._server else "the zone's primary")
            log.warning(
                "DNS %s of %s failed (%s: %s): is %s up and reachable?",
                what,
                self.instance_name,
                type(exc).__name__,
                exc or "no answer",
                where,
            )
            self._primary = None  # find it again next time: the primary may have moved
            return -1
        rcode = response.rcode()
        if lease and rcode == dns.rcode.NOERROR:
            try:
                self._granted_s = granted_lease(response)
            except DecodeError as exc:
                self._granted_s = None
                log.debug("%s", exc)
        if rcode != dns.rcode.NOERROR and rcode not in _PREREQUISITE_FAILED:
            self.counters["dns_update_failed"] += 1
            log.warning(
                "DNS %s of %s refused by %s: %s; %s",
                what,
                self.instance_name,
                primary,
                dns.rcode.to_text(rcode),
                _HINTS.get(rcode, "see the DNS server's log"),
            )
        return rcode

    def _report_lease(self) -> None:
        if self._lease_reported:
            return
        self._lease_reported = True
        if self._granted_s is None:
            log.info(
                "the DNS server ignores update leases (RFC 9664): peers remove these records if this "
                "server dies without stopping"
            )
        else:
            self.counters["dns_lease_granted"] += 1
            log.info(
                "the DNS server granted an update lease of %d s (asked for %d s)",
                self._granted_s,
                self.lease_s,
            )


def read_key(path: str, environ: Mapping[str, str] | None = None) -> TsigKey:
    """The TSIG key in the BIND key file at `path` (or systemd's credential loaded from it, see
    core/config/credentials.py); ConfigError naming the file and the fix otherwise."""
    environ = os.environ if environ is None else environ
    try:
        text = keys.readable_path(path, environ).read_text(encoding="ascii")
    except PermissionError as exc:
        # 0600, as a key that may rewrite the zone must be: the unit's dynamic user reads it
        # only as a credential loaded from it.
        fix = credentials.advice(path) if keys.under_systemd(environ) else "run serve as root"
        raise ConfigError(f"TSIG_KEY: cannot read {path} ({exc.strerror}): {fix}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"TSIG_KEY: cannot read {path}: {exc}") from exc
    return tsig_key.parse(text, path)


async def for_daemon(
    settings: ServeSettings,
    *,
    hostname: str,
    interfaces: Sequence[Interface],
    counters: Counter[str],
    server: tuple[str, int] | None = None,
    lease_s: int = dnssd_lease.DEFAULT_LEASE_S,
    signing_key: ed25519.Ed25519PrivateKey | None = None,
) -> Registrar:
    """The registrar `serve` runs when DNS_SD_DOMAIN is set; ConfigError on a bad key or domain."""
    if not settings.tsig_key:
        raise ConfigError(
            f"DNS_SD_DOMAIN={settings.dns_sd_domain} needs TSIG_KEY: a key file written by "
            "`tsig-keygen ltsp-mesh` that the zone's update-policy grants"
        )
    key = await asyncio.to_thread(read_key, settings.tsig_key)
    mac = next((i.mac for i in interfaces if i.mac and i.mac != "00:00:00:00:00:00"), "")
    if not mac:
        raise ConfigError("no interface has a MAC address to derive the DNS names from")
    names = dnssd_zone.names_for(hostname, mac, dns_site.domain(settings.dns_sd_domain, "DNS_SD_DOMAIN"))
    return Registrar(
        names=names,
        addresses=[i.address for i in interfaces],
        ssh_port=settings.ssh_port,
        key=key,
        counters=counters,
        server=server,
        lease_s=lease_s,
        signing_key=signing_key,
    )
