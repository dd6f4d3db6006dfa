"""Interoperation with a real peer: Debian's avahi-daemon in the lab."""

from __future__ import annotations

import pytest

from ltsp_mesh.lab.mesh import start_server, wait_ready
from ltsp_mesh.lab.netns import Lab, mesh_argv
from tests.conftest import LabFactory, require_tools
from tests.lab.avahi import Avahi
from tests.lab.helpers import hosts_json, load, wait_until

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(module_lab_factory: LabFactory) -> Lab:
    """Two ltsp-mesh servers, an old box announced only by an Avahi static service, a client."""
    require_tools(
        "avahi-daemon", "avahi-browse", "dbus-daemon", "unshare", debian="avahi-daemon avahi-utils dbus"
    )
    lab = module_lab_factory(["s1", "s2", "oldbox", "client"])
    wait_ready(lab, [start_server(lab, "s1", load(sessions=3)), start_server(lab, "s2", load(sessions=1))])
    Avahi(lab, "oldbox", static_name="oldbox")
    return lab


@pytest.fixture(scope="module")
def client_avahi(lab: Lab) -> Avahi:
    """An Avahi with D-Bus on the client, for avahi-browse."""
    return Avahi(lab, "client", with_dbus=True)


def test_avahi_browse_lists_our_servers_with_their_txt(lab: Lab, client_avahi: Avahi) -> None:
    def ours() -> dict[str, list[str]]:
        return {f[7]: f for f in client_avahi.browse() if f[7] in (lab.address("s1"), lab.address("s2"))}

    found = wait_until(lambda: len(ours()) == 2 and ours(), 10, "both servers in avahi-browse")
    s1 = found[lab.address("s1")]
    assert s1[8] == "22"  # the SRV port is the SSH port
    txt = s1[9]
    assert '"v=1"' in txt and '"ses=3"' in txt and '"st=up"' in txt and '"q=377"' in txt


def test_avahi_browse_resolves_each_clone_to_its_own_address(lab: Lab, client_avahi: Avahi) -> None:
    lines = [f for f in client_avahi.browse() if f[7] in (lab.address("s1"), lab.address("s2"))]
    assert len({f[6] for f in lines}) == 2  # distinct host names for the two clones


def test_host_announced_only_by_avahi_is_listed_after_measured_servers(lab: Lab) -> None:
    data = wait_until(lambda: (d := hosts_json(lab)) and len(d["hosts"]) == 3 and d, 10, "three hosts")
    assert data["hosts"] == [lab.address("s2"), lab.address("s1"), lab.address("oldbox")]
    oldbox = data["servers"][2]
    assert (oldbox["measured"], oldbox["record"]) == (False, None)


def test_status_shows_the_avahi_host_as_unmeasured(lab: Lab) -> None:
    lines = lab.run("client", mesh_argv("status", "--interface", "eth0")).stdout.splitlines()
    oldbox = [line for line in lines if lab.address("oldbox") in line]
    assert len(oldbox) == 1 and "Unmeasured" in oldbox[0]


def test_the_avahi_host_costs_the_client_no_wait(lab: Lab) -> None:
    data = hosts_json(lab)
    # Nothing was asked of the host without a query service, so nothing timed out.
    assert data["counters"].get("query_unanswered", 0) == 0
