"""Three cloned servers and a client in one lab: discovery, fresh figures, the responders."""

from __future__ import annotations

import json
import os
import random

import msgpack
import pytest

from ltsp_mesh.core.codec import legacy_xml, load_query
from ltsp_mesh.lab.mesh import set_load, start_server, wait_ready
from ltsp_mesh.lab.netns import Lab, mesh_argv
from tests.conftest import LabFactory
from tests.lab.helpers import hosts_json, hosts_line, load, tcp_probe, udp_probe, wait_until

pytestmark = pytest.mark.lab
SERVERS = ("s1", "s2", "s3")


@pytest.fixture(scope="module")
def lab(module_lab_factory: LabFactory) -> Lab:
    """s1..s3 serving (every lab host is a clone: same host name, same machine-id), a client."""
    lab = module_lab_factory([*SERVERS, "client"])
    procs = [
        start_server(lab, host, load(cpus=4, sessions=i), sample_interval_s=0.5)
        for i, host in enumerate(SERVERS)
    ]
    wait_ready(lab, procs)
    return lab


def test_client_lists_every_server_running_in_other_namespaces(lab: Lab) -> None:
    assert sorted(hosts_line(lab)) == sorted(lab.address(h) for h in SERVERS)


def test_chooser_lists_every_server_after_its_pick_best_first(lab: Lab) -> None:
    proc = lab.run("client", mesh_argv("hosts", "--interface", "eth0", "--algorithm", "chooser"))
    line = proc.stdout.split()
    by_fill = [lab.address(h) for h in SERVERS]  # sessions 0, 1, 2 on equal capacity
    assert sorted(line) == sorted(by_fill)
    assert line[1:] == [a for a in by_fill if a != line[0]]


def test_cloned_servers_appear_under_distinct_names(lab: Lab) -> None:
    servers = hosts_json(lab)["servers"]
    assert len({s["instance"] for s in servers}) == 3
    assert len({s["host"] for s in servers}) == 3
    assert len({s["record"]["server_id"] for s in servers}) == 3
    assert sorted(s["address"] for s in servers) == sorted(lab.address(h) for h in SERVERS)


def test_each_cloned_server_resolves_to_its_own_address_only(lab: Lab) -> None:
    servers = hosts_json(lab)["servers"]
    assert sorted(tuple(s["addresses"]) for s in servers) == sorted((lab.address(h),) for h in SERVERS)
    for server in servers:
        assert server["addresses"] == [server["address"]]


def test_load_change_reaches_a_fresh_query_at_the_next_sample(lab: Lab) -> None:
    def s1_has(sessions: int) -> bool:
        by_address = {s["address"]: s for s in hosts_json(lab)["servers"]}
        return bool(by_address[lab.address("s1")]["record"]["sessions"] == sessions)

    set_load(lab, "s1", load(cpus=4, sessions=9))
    try:
        wait_until(lambda: s1_has(9), timeout_s=5, what="s1's new session count in hosts --json")
    finally:
        set_load(lab, "s1", load(cpus=4, sessions=0))
        wait_until(lambda: s1_has(0), 5, "s1 back to 0 sessions")


def _good_request(size: int = load_query.REQUEST_SIZE_BYTES) -> bytes:
    return load_query.encode_request(load_query.Request(load_query.Op.STATS, os.urandom(16)), pad_to=size)


MALFORMED = {
    "random bytes": random.Random(7).randbytes(300),
    "truncated msgpack": _good_request()[:40],
    "not a map": msgpack.packb([1, 2, 3]) + bytes(400),
    "op of the wrong type": msgpack.packb({"op": 5, "n": b"x" * 16, "p": bytes(400)}),
    "nonce of the wrong type": msgpack.packb({"op": "stats", "n": 12345, "p": bytes(400)}),
    "unknown op": msgpack.packb({"op": "reboot", "n": b"x" * 16, "p": bytes(400)}),
    "huge map": msgpack.packb({str(i): i for i in range(200)}) + bytes(100),
    "deep nesting": b"\x91" * 1000,
    "oversized datagram": bytes(2000),
    "empty": b"",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_datagram_gets_no_reply_and_the_daemon_keeps_answering(lab: Lab, name: str) -> None:
    results = udp_probe(lab, "client", lab.address("s1"), [MALFORMED[name], _good_request()])
    assert results[0]["reply"] is None
    reply = load_query.decode_reply(bytes.fromhex(results[1]["reply"]))
    assert reply.record.server_id


def test_unpadded_request_gets_no_reply(lab: Lab) -> None:
    bare = load_query.encode_request(load_query.Request(load_query.Op.STATS, os.urandom(16)), pad_to=0)
    results = udp_probe(lab, "client", lab.address("s2"), [bare, _good_request()])
    assert results[0]["reply"] is None
    assert results[1]["reply"] is not None


def test_reply_is_never_larger_than_its_request(lab: Lab) -> None:
    sizes = list(range(150, 600, 25))
    results = udp_probe(lab, "client", lab.address("s3"), [_good_request(n) for n in sizes])
    answered = [r for r in results if r["reply"] is not None]
    assert answered, "no request size was answered at all"
    for result in answered:
        assert len(bytes.fromhex(result["reply"])) <= result["sent"]
    assert results[-1]["reply"] is not None  # the client's standard padding is always enough


def test_reply_echoes_the_request_nonce(lab: Lab) -> None:
    request = _good_request()
    results = udp_probe(lab, "client", lab.address("s1"), [request])
    nonce = load_query.decode_request(request).nonce
    assert load_query.decode_reply(bytes.fromhex(results[0]["reply"])).nonce == nonce


def test_tcp_responder_sends_the_xml_document_then_closes(lab: Lab) -> None:
    result = tcp_probe(lab, "client", lab.address("s3"))
    assert result["closed"]
    report = legacy_xml.decode(bytes.fromhex(result["data"]))
    assert report.load == load(cpus=4, sessions=2)
    assert report.state.value == "up"
    by_address = {s["address"]: s for s in hosts_json(lab)["servers"]}
    record = by_address[lab.address("s3")]["record"]
    assert report.server_id == record["server_id"]
    assert report.record(query_port=377).sessions == record["sessions"]
    assert report.capacity == record["capacity"]


def test_status_shows_every_server_with_its_figures(lab: Lab) -> None:
    proc = lab.run("client", mesh_argv("status", "--interface", "eth0", "--json"))
    assert proc.returncode == 0
    servers = json.loads(proc.stdout)["data"]["servers"]
    by_address = {s["address"]: s for s in servers}
    assert sorted(by_address) == sorted(lab.address(h) for h in SERVERS)
    assert [by_address[lab.address(h)]["sessions"] for h in SERVERS] == [0, 1, 2]
    assert {s["status"] for s in servers} == {"Idle"}
    assert sum(s["recommended"] for s in servers) == 1
    assert servers[0]["recommended"]  # the recommended server comes first


def test_status_prints_a_table_with_a_row_per_server(lab: Lab) -> None:
    lines = lab.run("client", mesh_argv("status", "--interface", "eth0")).stdout.splitlines()
    assert lines[0].split()[:3] == ["SERVER", "ADDRESS", "STATUS"]
    addresses = [next(w for w in line.split() if w.startswith("10.77.")) for line in lines[1:]]
    assert sorted(addresses) == sorted(lab.address(h) for h in SERVERS)
    assert lines[1].startswith("*")


def test_status_watch_redraws_until_its_count(lab: Lab) -> None:
    proc = lab.run(
        "client",
        mesh_argv("status", "--interface", "eth0", "--watch", "--interval", "0.5", "--count", "3", "--json"),
    )
    snapshots = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(snapshots) == 3
    assert all(len(s["servers"]) == 3 for s in snapshots)
    assert snapshots[0]["at"] < snapshots[1]["at"] < snapshots[2]["at"]
