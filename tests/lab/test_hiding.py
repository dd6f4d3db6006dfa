"""A rogue on the LAN must not hide genuine servers under known-hosts trust (issue 11, item 3).

Two tricks, each against `ltsp-mesh hosts` and against a broker, with real daemons:
- a rogue answering first, for every genuine server's host name, with an A record pointing at
  itself (and flushing the genuine addresses from every browser's cache every 0.2 s);
- twenty source addresses answering with 256 records each, more than a browse keeps in all,
  and announcing 1,280 bogus services to the brokers.
Each is tried RUNS times in one lab: every genuine server must be listed every time.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ltsp_mesh.lab.mesh import start_server, trust, wait_ready
from ltsp_mesh.lab.netns import PREFIX_LEN, SUBNET, Lab, LabProcess, mesh_argv
from tests.conftest import LabFactory
from tests.lab.helpers import BrokerPace, load, wait_until

pytestmark = pytest.mark.lab
HIDER = str(Path(__file__).with_name("hider.py"))
BROKER_CLIENT = str(Path(__file__).with_name("broker_client.py"))
BROKER_PACE = BrokerPace()
RUNS = 20
GENUINE = ("s1", "s2")
FLOOD_SOURCES = 20
# 64 services of four records each: 256 records from each source, 5,120 in all.
FLOOD_SERVICES = 64
KNOWN_HOSTS = {"LDM_LB_TRUST": "known-hosts"}


@pytest.fixture(scope="module")
def lab(module_lab_factory: LabFactory) -> Lab:
    """Two genuine servers (each a broker) that the clients' and servers' known hosts list, and
    s3, listed too, started by the test that needs a server joining under attack."""
    lab = module_lab_factory([*GENUINE, "s3", "rogue", "flood", "client"])
    trust(lab, *GENUINE, "s3")
    wait_ready(lab, [start_server(lab, h, load()) for h in GENUINE])
    for i in range(FLOOD_SOURCES):
        lab.run("flood", ["ip", "addr", "add", f"{SUBNET}.{200 + i}/{PREFIX_LEN}", "dev", "eth0"])
    return lab


def _running(lab: Lab, host: str, argv: list[str]) -> Iterator[LabProcess]:
    proc = lab.spawn(host, [sys.executable, HIDER, *argv], log_name=f"hider-{argv[0]}")
    try:
        lab.wait_for_log(proc, "ready", 60)
        yield proc
    finally:
        lab.stop(proc)


@pytest.fixture
def rogue_naming_itself(lab: Lab) -> Iterator[LabProcess]:
    """The rogue answering for both genuine host names with its own address."""
    yield from _running(lab, "rogue", ["addresses", lab.address("rogue"), str(len(GENUINE))])


@pytest.fixture
def flood(lab: Lab) -> Iterator[LabProcess]:
    """Twenty flooding sources on one host."""
    sources = [f"{SUBNET}.{200 + i}" for i in range(FLOOD_SOURCES)]
    yield from _running(lab, "flood", ["flood", str(FLOOD_SERVICES), "1", *sources])


def _hosts(lab: Lab) -> dict[str, object]:
    proc = lab.run(
        "client", mesh_argv("hosts", "--interface", "eth0", "--json"), env=KNOWN_HOSTS, check=False
    )
    data: dict[str, object] = json.loads(proc.stdout)["data"]
    return data


def _broker_line(lab: Lab, broker: str = "s1") -> list[str]:
    BROKER_PACE.wait_for(broker)  # RUNS requests back to back, from one client: under its limit
    proc = lab.run(
        "client", [sys.executable, BROKER_CLIENT, "get", lab.address(broker), "378", "/ltsp-mesh/v1/hosts"]
    )
    (answer,) = json.loads(proc.stdout)
    assert answer["status"] == 200, answer
    return str(answer["body"]).split()


def _assert_all_listed(listings: list[list[str]], expected: set[str]) -> None:
    misses = [listed for listed in listings if not expected <= set(listed)]
    assert misses == [], f"a genuine server missing in {len(misses)} of {len(listings)} runs: {misses}"


def test_a_rogue_naming_itself_for_genuine_hosts_hides_none_from_hosts(
    lab: Lab, rogue_naming_itself: LabProcess
) -> None:
    expected = {lab.address(h) for h in GENUINE}
    listings = [list(_hosts(lab)["hosts"]) for _ in range(RUNS)]  # type: ignore[call-overload]
    _assert_all_listed(listings, expected)
    assert not any(lab.address("rogue") in listed for listed in listings)


def test_a_rogue_naming_itself_for_genuine_hosts_hides_none_from_the_broker(
    lab: Lab, rogue_naming_itself: LabProcess
) -> None:
    expected = {lab.address(h) for h in GENUINE}
    listings = [_broker_line(lab) for _ in range(RUNS)]
    _assert_all_listed(listings, expected)
    assert not any(lab.address("rogue") in listed for listed in listings)


def test_twenty_flooding_sources_hide_no_server_from_hosts(lab: Lab, flood: LabProcess) -> None:
    expected = {lab.address(h) for h in GENUINE}
    runs = [_hosts(lab) for _ in range(RUNS)]
    _assert_all_listed([list(r["hosts"]) for r in runs], expected)  # type: ignore[call-overload]
    counters = runs[0]["counters"]
    assert isinstance(counters, dict)
    # The flood arrived, more of it than a browse keeps, and was cut down to a fair share.
    assert counters.get("mdns_records_over_limit", 0) + counters.get("mdns_records_evicted", 0) > 0


def test_a_server_joining_while_twenty_sources_flood_is_listed_by_the_broker(
    lab: Lab, flood: LabProcess
) -> None:
    wait_ready(lab, [start_server(lab, "s3", load())])
    expected = {lab.address(h) for h in (*GENUINE, "s3")}
    wait_until(lambda: expected <= set(_broker_line(lab)), 15, "the broker listing the server that joined")
    listings = [_broker_line(lab) for _ in range(RUNS)]
    _assert_all_listed(listings, expected)
