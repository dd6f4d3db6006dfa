"""The installed hook in Python-free roots, against real `serve` brokers, as a thin client boots.

Roots: busybox-static alone, and dash with netcat-openbsd (ltsp_mesh/lab/chroot.py),
chrooted on a lab client, with SERVER set as LTSP sets it (the boot server).
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ltsp_mesh.core.broker.view import FRESH_S
from ltsp_mesh.lab import chroot as lab_chroot
from ltsp_mesh.lab.chroot import ClientRoot
from ltsp_mesh.lab.mesh import start_server, trust, wait_ready
from ltsp_mesh.lab.netns import Lab, LabProcess
from ltsp_mesh.shell import hook_install
from tests.conftest import LabFactory, require_tools
from tests.lab.helpers import load

pytestmark = pytest.mark.lab
HOOK = Path(__file__).resolve().parents[2] / "chroot_hooks" / "get_hosts"
CLIENT = str(Path(__file__).with_name("broker_client.py"))
FLAVOURS = ("busybox", "openbsd")
SERVERS = ("s1", "s2", "s3")
LOADS = {"s1": load(sessions=1), "s2": load(sessions=2), "s3": load(sessions=0, swapping=True)}
DEADLINE_S, SLACK_S = 0.400, 0.100


def _require_tools() -> None:
    missing = lab_chroot.missing_tools(FLAVOURS)
    if missing:
        require_tools(
            *missing, debian="busybox-static dash netcat-openbsd coreutils bsdutils util-linux libc-bin"
        )


class Site:
    """Servers that know each other's keys, and a client whose roots are built once."""

    def __init__(self, lab: Lab, roots: dict[str, ClientRoot], servers: dict[str, LabProcess]) -> None:
        self.lab, self.roots, self.servers = lab, roots, servers

    def hook(self, flavour: str, path: str = lab_chroot.HOOK_IN_ROOT, **env: str) -> tuple[list[str], float]:
        """Run the installed hook as LDM does; return what LDM makes of its line, and its wall time."""
        run = lab_chroot.run_hook(
            self.lab, "client", self.roots[flavour], {"SERVER": self.lab.address("s1"), **env}, path=path
        )
        assert run.returncode == 0 and run.stdout.endswith("\n") and run.stdout.count("\n") == 1, run
        line = run.stdout[:-1]
        return (line.split(" ") if line else []), run.wall_s

    def address(self, *hosts: str) -> list[str]:
        return [self.lab.address(h) for h in hosts]


def _site(lab: Lab, directory: Path) -> Iterator[Site]:
    trust(lab, *SERVERS)
    servers = {h: start_server(lab, h, LOADS[h]) for h in SERVERS}
    wait_ready(lab, list(servers.values()))
    with lab_chroot.client_roots(directory, lab, "client", FLAVOURS, hook=HOOK.read_bytes()) as roots:
        yield Site(lab, roots, servers)


@pytest.fixture(scope="module")
def site(module_lab_factory: LabFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A site that stays up for the module."""
    _require_tools()
    yield from _site(module_lab_factory([*SERVERS, "client"]), tmp_path_factory.mktemp("roots"))


@pytest.fixture
def fragile_site(make_lab: LabFactory, tmp_path: Path) -> Iterator[Site]:
    """A site whose servers a test may kill."""
    _require_tools()
    yield from _site(make_lab([*SERVERS, "client"]), tmp_path / "roots")


@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest, site: Site) -> str:
    """Each root in turn, freshly booted (no last good list)."""
    shutil.rmtree(site.roots[request.param].cache_dir, ignore_errors=True)
    return str(request.param)


@pytest.mark.parametrize("path", ["/" + p for p in hook_install.HOOK_PATHS])
def test_the_installed_hook_at_both_ldm_paths_prints_every_live_server(
    site: Site, flavour: str, path: str
) -> None:
    hosts, _ = site.hook(flavour, path)
    assert sorted(hosts) == sorted(site.address(*SERVERS))


def test_the_hook_prints_the_order_its_algorithm_gives(site: Site, flavour: str) -> None:
    mac = site.lab.mac("client")  # what the hook reads from the client's /sys
    proc = site.lab.run(
        "client",
        [
            sys.executable,
            CLIENT,
            "get",
            site.lab.address("s1"),
            "378",
            f"/ltsp-mesh/v1/hosts?mac={mac}&LDM_LB_ALGORITHM=mac-hash",
        ],
    )
    (direct,) = json.loads(proc.stdout)
    hosts, _ = site.hook(flavour, LDM_LB_ALGORITHM="mac-hash")
    assert hosts == direct["body"].split()


def test_filtered_leaves_out_the_swapping_server(site: Site, flavour: str) -> None:
    hosts, _ = site.hook(flavour, LDM_LB_ALGORITHM="filtered")
    assert sorted(hosts) == sorted(site.address("s1", "s2"))


def test_ldm_lb_hosts_reaches_the_broker(site: Site, flavour: str) -> None:
    hosts, _ = site.hook(flavour, LDM_LB_HOSTS="1")
    assert len(hosts) == 1


def test_the_hook_keeps_the_last_good_list_as_plain_text(site: Site, flavour: str) -> None:
    hosts, _ = site.hook(flavour, LDM_LB_ALGORITHM="mac-hash")
    assert site.roots[flavour].last_good_list.read_text() == " ".join(hosts) + "\n"


def test_a_killed_server_is_never_printed(fragile_site: Site) -> None:
    fragile_site.lab.stop(fragile_site.servers["s3"], signal.SIGKILL)
    time.sleep(FRESH_S + 0.3)
    for flavour in FLAVOURS:
        for _ in range(5):
            hosts, _ = fragile_site.hook(flavour)
            assert sorted(hosts) == sorted(fragile_site.address("s1", "s2"))


def test_with_the_boot_servers_daemon_killed_a_broker_from_the_last_good_list_answers(
    fragile_site: Site,
) -> None:
    for flavour in FLAVOURS:
        fragile_site.hook(flavour)  # a first boot: the last good list names all three
    fragile_site.lab.stop(fragile_site.servers["s1"], signal.SIGKILL)
    time.sleep(FRESH_S + 0.3)
    for flavour in FLAVOURS:
        hosts, wall_s = fragile_site.hook(flavour)
        assert sorted(hosts) == sorted(fragile_site.address("s2", "s3"))
        assert wall_s < DEADLINE_S + SLACK_S


def test_with_every_broker_dead_the_last_good_list_then_the_fallback_within_the_deadline(
    fragile_site: Site,
) -> None:
    for flavour in FLAVOURS:
        fragile_site.hook(flavour)
    for server in fragile_site.servers.values():
        fragile_site.lab.stop(server, signal.SIGKILL)
    everyone = sorted(fragile_site.address(*SERVERS))
    for flavour in FLAVOURS:
        hosts, wall_s = fragile_site.hook(flavour)
        assert sorted(hosts) == everyone and wall_s < DEADLINE_S + SLACK_S
        fragile_site.roots[flavour].last_good_list.unlink()
        hosts, wall_s = fragile_site.hook(flavour, LDM_LB_FALLBACK="10.77.0.98 10.77.0.99")
        assert hosts == ["10.77.0.98", "10.77.0.99"] and wall_s < DEADLINE_S + SLACK_S
        hosts, wall_s = fragile_site.hook(flavour)
        assert hosts == fragile_site.address("s1") and wall_s < DEADLINE_S + SLACK_S
