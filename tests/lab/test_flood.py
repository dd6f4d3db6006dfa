"""Floods: thousands of bogus services, and a source hammering the query port."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ltsp_mesh.core.codec import load_query
from ltsp_mesh.lab.mesh import start_server, trust, wait_ready
from ltsp_mesh.lab.netns import Lab
from ltsp_mesh.shell.client.discover import MAX_RECORDS, MAX_RECORDS_PER_SOURCE
from tests.conftest import LabFactory
from tests.lab.helpers import PROBE, load, pending_of, udp_probe

pytestmark = pytest.mark.lab
FLOODER = str(Path(__file__).with_name("flooder.py"))
BOGUS = 10_000
# Runs the hosts command in-process and prints its peak resident memory (KiB) on stderr.
MEASURED_HOSTS = """
import resource, sys
from ltsp_mesh.cli import main
code = main(["hosts", "--interface", "eth0", "--json"])
print("maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def _hosts_with_memory(lab: Lab, **env: str) -> tuple[dict[str, object], int]:
    proc = lab.run("client", [sys.executable, "-c", MEASURED_HOSTS], env=env, check=False)
    rss_kib = int(proc.stderr.rsplit("maxrss", 1)[1].split()[0])
    return json.loads(proc.stdout)["data"], rss_kib


@pytest.fixture(scope="module")
def lab(module_lab_factory: LabFactory) -> Lab:
    lab = module_lab_factory(["s1", "s2", "flood", "client"])
    wait_ready(lab, [start_server(lab, h, load()) for h in ("s1", "s2")])
    trust(lab, "s1", "s2")
    return lab


def test_ten_thousand_bogus_services_keep_memory_bounded_and_real_servers_found(lab: Lab) -> None:
    baseline, baseline_kib = _hosts_with_memory(lab, LDM_LB_TRUST="known-hosts")
    flooder = lab.spawn(
        "flood", [sys.executable, FLOODER, lab.address("flood"), str(BOGUS)], log_name="flooder"
    )
    lab.wait_for_log(flooder, "ready", 60)  # it builds its 10,000 services first
    try:
        for trust_setting in ("known-hosts", "any"):
            data, flooded_kib = _hosts_with_memory(lab, LDM_LB_TRUST=trust_setting)
            assert sorted(data["hosts"]) == sorted([lab.address("s1"), lab.address("s2")]), trust_setting
            counters = data["counters"]
            # The flood arrived and hit the cap: its records past the share were dropped, and
            # its packets past that were not even parsed.
            assert counters.get("mdns_records_over_limit", 0) + counters.get("mdns_packets_over_share", 0) > 0
            # The bound: at most MAX_RECORDS_PER_SOURCE records kept from the flooder, MAX_RECORDS
            # in all; a few MB over the run without a flood, not the hundreds 40,000 records take.
            assert flooded_kib - baseline_kib < 16 * 1024, (
                f"{trust_setting}: {flooded_kib} KiB vs {baseline_kib}"
            )
    finally:
        lab.stop(flooder)
    assert MAX_RECORDS_PER_SOURCE * 4 <= MAX_RECORDS  # several flooders still leave room
    assert sorted(baseline["hosts"]) == sorted([lab.address("s1"), lab.address("s2")])


def test_a_source_hammering_the_query_port_is_rate_limited_and_others_still_answered(lab: Lab) -> None:
    request = load_query.encode_request(load_query.Request(load_query.Op.STATS, b"n" * 16))
    proc = lab.run(
        "flood", [sys.executable, PROBE, "burst", lab.address("s1"), "377", "0.5", "2000", request.hex()]
    )
    answered = json.loads(proc.stdout)["replies"]
    assert 10 <= answered <= 40  # the burst of 20 (and what 10 a second earns meanwhile), of 2000 sent
    honest = udp_probe(lab, "client", lab.address("s1"), [request])
    assert honest[0]["reply"] is not None


def test_a_claim_flood_from_one_source_counts_once(lab: Lab) -> None:
    # With the cookie s2 gave the flooder's address: a claim that would count, 200 times.
    stats = load_query.encode_request(load_query.Request(load_query.Op.STATS, b"s" * 16))
    (answer,) = udp_probe(lab, "flood", lab.address("s2"), [stats])
    cookie = load_query.decode_reply(bytes.fromhex(answer["reply"])).cookie
    claim = load_query.encode_request(load_query.Request(load_query.Op.CLAIM, b"c" * 16, cookie=cookie))
    udp_probe(lab, "flood", lab.address("s2"), [claim] * 200, timeout_s=0.01)
    assert pending_of(lab, "s2") == 1
