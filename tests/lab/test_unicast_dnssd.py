"""Beyond one link: servers register in a real BIND9 zone, clients in another subnet browse it.

The site: the servers and the DNS server (Debian's named, a zone that takes TSIG-signed updates
only) on 10.77.1.0/24, the thin clients on 10.77.2.0/24, a router namespace between them. mDNS
stops at the router; every lab host's resolver is the lab's named.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ltsp_mesh.core.config import dns_site
from ltsp_mesh.core.discovery import dnssd_zone
from ltsp_mesh.lab.bind import DEBIAN_PACKAGES, TOOLS, ZONE, Bind
from ltsp_mesh.lab.mesh import host_key_path, set_load, start_server, wait_ready
from ltsp_mesh.lab.netns import Lab, LabProcess, mesh_argv
from ltsp_mesh.lab.routed import RoutedLab
from tests.conftest import LabFactory, require_tools
from tests.lab.helpers import ldm_split, load, run_hook, wait_until

pytestmark = pytest.mark.lab
HOOK = Path(__file__).resolve().parents[2] / "chroot_hooks" / "get_hosts"
SERVERS = ("s1", "s2")
# Short enough that the kill -9 test sees a sweep within seconds; a site keeps the default.
LEASE_S = 4
REGISTERED = "registered "
PTR = f"_ltsp._tcp.{ZONE}"


class Site:
    """The routed lab, its named, and the servers' argv for DNS registration."""

    def __init__(self, lab: RoutedLab, bind: Bind) -> None:
        self.lab, self.bind = lab, bind
        self.dns_args = [
            "--dns-sd-domain",
            ZONE,
            "--tsig-key",
            str(bind.key_path),
            "--dns-lease",
            str(LEASE_S),
        ]

    def args(self, host: str, *extra: str) -> list[str]:
        """`serve` options for `host`: its own host name (lab hosts share the machine's) and DNS."""
        return ["--hostname", host, *self.dns_args, *extra]

    def start(self, host: str, *extra: str) -> LabProcess:
        """Start `serve` on `host`, registering in the zone; wait until it has registered."""
        proc = start_server(
            self.lab,
            host,
            load(sessions=SERVERS.index(host) if host in SERVERS else 0),
            args=self.args(host, *extra),
        )
        wait_ready(self.lab, [proc])
        self.lab.wait_for_log(proc, REGISTERED, 10)
        return proc

    def instances(self) -> list[str]:
        """The instances the zone lists now (dig +short PTR)."""
        return sorted(self.bind.dig("client", PTR, "PTR"))

    def instance(self, host: str) -> str:
        """`host`'s instance name as dig writes it."""
        return f"{host}\\032[{self.lab.mac(host)}].{PTR}."

    def host_name(self, host: str) -> str:
        """The DNS host name `host`'s server registers under."""
        return dnssd_zone.text(
            dnssd_zone.names_for(host, self.lab.mac(host), dns_site.domain(ZONE, "test")).host
        )


@pytest.fixture(scope="module")
def site(module_lab_factory: LabFactory) -> Iterator[Site]:
    require_tools(*TOOLS, "unshare", debian=f"{DEBIAN_PACKAGES} util-linux")
    lab = module_lab_factory(["dns", *SERVERS, "s3", "client"], RoutedLab, far=["client"])
    assert isinstance(lab, RoutedLab)
    bind = Bind(lab, "dns")
    for host in lab.hosts:
        lab.set_resolver(host, bind.address)
    site = Site(lab, bind)
    for host in SERVERS:
        site.start(host)
    yield site
    # The servers go first, so that they can still remove their records from named.
    for proc in [p for p in lab.processes if p is not bind.process]:
        assert lab.stop(proc) == 0


def _hosts(lab: Lab, **env: str) -> dict[str, Any]:
    proc = lab.run("client", mesh_argv("hosts", "--interface", "eth0", "--json"), env=env, check=False)
    data: dict[str, Any] = json.loads(proc.stdout)["data"]
    return data


def _servers(site: Site) -> set[str]:
    return {site.lab.address(h) for h in SERVERS}


def test_lab_subnets_are_joined_only_by_the_router(site: Site) -> None:
    lab = site.lab
    assert lab.network_of("client") != lab.network_of("s1")
    assert site.bind.dig("client", f"ns.{ZONE}", "A") == [site.bind.address]  # unicast crosses the router


def test_servers_register_ptr_srv_txt_and_a_records(site: Site) -> None:
    lab, bind = site.lab, site.bind
    assert len(site.instances()) == 2
    instance = site.instance("s1")
    assert instance in site.instances()
    assert bind.dig("client", instance, "SRV") == [f"0 0 22 {site.host_name('s1')}"]
    assert bind.dig("client", site.host_name("s1"), "A") == [lab.address("s1")]
    txt = " ".join(bind.dig("client", instance, "TXT"))
    assert '"v=1"' in txt and '"ses=0"' in txt and '"st=up"' in txt and '"q=377"' in txt


def test_a_load_change_reaches_the_txt_in_the_zone(site: Site) -> None:
    def sessions_in_dns() -> str:
        return " ".join(site.bind.dig("client", site.instance("s2"), "TXT"))

    # The zone follows the mDNS announcement, hysteresis and rate limit included (one update in
    # 6 s at most); with the lab's short lease the next renewal carries it.
    set_load(site.lab, "s2", load(sessions=5))
    try:
        wait_until(lambda: '"ses=5"' in sessions_in_dns(), 10, "the new session count in the zone's TXT")
    finally:
        set_load(site.lab, "s2", load(sessions=1))


def test_bind_9_18_ignores_the_update_lease_and_the_server_says_so(site: Site) -> None:
    # RFC 9664: a server that honours the lease echoes the option in its response. BIND 9.18
    # answers without it (and keeps the records past the lease), hence the peers' sweep.
    s1 = next(p for p in site.lab.processes if p.host == "s1")
    assert "the DNS server ignores update leases (RFC 9664)" in s1.log_text()


def test_records_carry_the_short_ttl_of_the_lease(site: Site) -> None:
    proc = site.lab.run("client", ["dig", "+noall", "+answer", f"@{site.bind.address}", PTR, "PTR"])
    assert {line.split()[1] for line in proc.stdout.splitlines()} == {str(LEASE_S)}


def test_bind_refuses_an_unsigned_update_and_nothing_changes(site: Site) -> None:
    before = site.instances()
    done = site.bind.nsupdate(
        "client", f"update delete {PTR}. PTR\nupdate add evil.{PTR}. 60 PTR evil.{ZONE}.", signed=False
    )
    assert done.returncode != 0 and "REFUSED" in done.stdout + done.stderr
    assert site.instances() == before
    assert "denied" in site.bind.log_text()


def test_mdns_alone_finds_nothing_across_the_router(site: Site) -> None:
    assert _hosts(site.lab)["hosts"] == []


def test_hosts_in_the_other_subnet_finds_the_servers_through_the_resolver(site: Site) -> None:
    data = _hosts(site.lab, LDM_LB_DOMAIN=ZONE)
    assert sorted(data["hosts"]) == sorted(_servers(site))
    assert data["counters"]["dns_records"] >= 8  # PTR, SRV, TXT, A for each


def test_hosts_hook_prints_the_routed_addresses(site: Site, tmp_path: Path) -> None:
    # The Python client's hook mode, whose deadline counts its interpreter's start-up and the
    # DNS browse: 400 ms is a thin client's budget (the sh hook's), too tight for a shared CI
    # machine late in a run, and the test is about the addresses, so it gets a second and a half.
    output, elapsed_s = run_hook(
        site.lab, {"LDM_LB_DOMAIN": ZONE, "LTSP_MESH_CACHE_DIR": str(tmp_path), "LDM_LB_TIMEOUT_MS": "1500"}
    )
    hosts = ldm_split(output)
    assert sorted(hosts) == sorted(_servers(site))
    assert hosts[0] == site.lab.address("s1")  # least-loaded: s1 has no session, s2 one
    assert elapsed_s < 1.5 + 0.5


def test_signed_txt_in_dns_passes_known_hosts_trust(site: Site, tmp_path: Path) -> None:
    known_hosts = tmp_path / "ssh_known_hosts"
    known_hosts.write_text(
        "".join(
            f"{site.lab.address(h)} {Path(str(host_key_path(site.lab, h)) + '.pub').read_text()}"
            for h in SERVERS
        )
    )
    data = _hosts(
        site.lab, LDM_LB_DOMAIN=ZONE, LDM_LB_TRUST="known-hosts", LDM_LB_KNOWN_HOSTS=str(known_hosts)
    )
    assert sorted(data["hosts"]) == sorted(_servers(site))


def test_sigterm_removes_the_servers_records(site: Site) -> None:
    proc = site.start("s3")
    assert len(site.instances()) == 3
    assert site.lab.stop(proc, signal.SIGTERM) == 0
    assert len(site.instances()) == 2  # removed before the daemon exited
    assert site.bind.dig("client", site.host_name("s3"), "A") == []
    assert "removed s3 [" in proc.log_text()


def test_after_kill_9_the_server_is_never_printed_and_a_peer_sweeps_its_records(site: Site) -> None:
    proc = site.start("s3")
    site.lab.stop(proc, signal.SIGKILL)
    assert len(site.instances()) == 3  # no goodbye: the records stay for now ...
    assert sorted(_hosts(site.lab, LDM_LB_DOMAIN=ZONE)["hosts"]) == sorted(
        _servers(site)
    )  # ... but s3 is not listed
    # BIND ignores the RFC 9664 lease, so a live peer deletes the records once the stamp has
    # stood still for 1.5 leases (6 s here), at its next renewal (every 2 s).
    wait_until(lambda: len(site.instances()) == 2, 15, "a peer to sweep s3's records", interval_s=0.5)
    assert site.bind.dig("client", site.host_name("s3"), "A") == []
    sweeps = [
        p.log_text() for p in site.lab.processes if p.host in SERVERS and "removed s3 [" in p.log_text()
    ]
    assert sweeps and "stood still" in sweeps[0]


def test_a_server_whose_dns_server_is_down_keeps_serving(site: Site) -> None:
    # Nothing answers on the router's port 53: the update times out (3 s).
    lab = site.lab
    proc = start_server(lab, "s3", load(), args=site.args("s3", "--dns-server", lab.router_address("s3")))
    wait_ready(lab, [proc])
    lab.wait_for_log(proc, "is 10.77.1.1 up and reachable?", 10)
    assert proc.popen.poll() is None
    assert lab.stop(proc, signal.SIGTERM) == 0
    assert "dns_update_failed=" in proc.log_text()


def test_a_server_with_the_wrong_key_says_so_and_retries(site: Site, tmp_path: Path) -> None:
    lab = site.lab
    wrong = tmp_path / "wrong.key"
    wrong.write_text(
        subprocess.run(["tsig-keygen", "ltsp-mesh"], capture_output=True, text=True, check=True).stdout
    )
    proc = start_server(lab, "s3", load(), args=[*site.args("s3"), "--tsig-key", str(wrong)])
    wait_ready(lab, [proc])
    wait_until(lambda: proc.log_text().count("does not know this TSIG key") >= 2, 10, "two refusals, logged")
    assert proc.popen.poll() is None and len(site.instances()) == 2
    assert lab.stop(proc, signal.SIGTERM) == 0


def test_a_broker_on_another_link_lists_the_servers_of_the_zone_for_the_sh_hook(
    site: Site, tmp_path: Path
) -> None:
    # A server on the clients' subnet (mDNS cannot cross the router) that is also their boot
    # server: its broker browses the zone, and the thin client's sh hook gets every server.
    broker = site.start("client")
    try:
        proc = site.lab.run(
            "client",
            ["/bin/sh", str(HOOK)],
            env={"SERVER": site.lab.address("client"), "LTSP_MESH_CACHE_DIR": str(tmp_path)},
        )
        hosts = ldm_split(proc.stdout)
        assert sorted(hosts) == sorted([*_servers(site), site.lab.address("client")])
        assert (tmp_path / "hosts").exists()  # a broker's answer, not a fallback
    finally:
        assert site.lab.stop(broker, signal.SIGTERM) == 0  # its own records leave the zone
    assert len(site.instances()) == 2
