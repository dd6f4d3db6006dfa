"""The broker in every `serve`, asked over real sockets by lab hosts, against real daemons."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ltsp_mesh.core.broker.view import FRESH_S
from ltsp_mesh.lab.mesh import control_path, start_server, trust, wait_ready
from ltsp_mesh.lab.netns import Lab, _ip, mesh_argv
from tests.conftest import LabFactory
from tests.lab.helpers import load, pending_of, wait_until

pytestmark = pytest.mark.lab
SERVERS = ("s1", "s2", "s3")
LOADS = {"s1": load(sessions=1), "s2": load(sessions=2), "s3": load(sessions=0, swapping=True)}
PORT = 378
HOSTS = "/ltsp-mesh/v1/hosts"
CLIENT = str(Path(__file__).with_name("broker_client.py"))


@pytest.fixture(scope="module")
def lab(module_lab_factory: LabFactory) -> Lab:
    """Three servers that know each other's keys (known-hosts trust), two clients and a rogue."""
    lab = module_lab_factory([*SERVERS, "client", "client2", "rogue"])
    trust(lab, *SERVERS)
    wait_ready(lab, [start_server(lab, h, LOADS[h], args=["--claim-ttl", "60"]) for h in SERVERS])
    return lab


def ask(
    lab: Lab, target: str = HOSTS, *, host: str = "client", broker: str = "s1", count: int = 1
) -> list[dict[str, Any]]:
    proc = lab.run(host, [sys.executable, CLIENT, "get", lab.address(broker), str(PORT), target, str(count)])
    answers: list[dict[str, Any]] = json.loads(proc.stdout)
    return answers


def line(lab: Lab, target: str = HOSTS, **kwargs: Any) -> list[str]:
    (answer,) = ask(lab, target, **kwargs)
    assert answer["status"] == 200, answer
    body: str = answer["body"]
    assert body.endswith("\n") and body.count("\n") == 1, body
    return body[:-1].split(" ")


def first_server(lab: Lab, address: str) -> str:
    return next(h for h in SERVERS if lab.address(h) == address)


@pytest.mark.parametrize("algorithm", ["least-loaded", "random", "filtered", "mac-hash", "chooser"])
def test_every_broker_lists_every_live_server_on_one_line(lab: Lab, algorithm: str) -> None:
    expected = {lab.address(h) for h in SERVERS}
    if algorithm == "filtered":
        expected.discard(lab.address("s3"))  # swapping, and LDM_LB_IGNORE_SWAPPING defaults to True
    for broker in SERVERS:
        hosts = line(lab, f"{HOSTS}?LDM_LB_ALGORITHM={algorithm}&mac={lab.mac('client')}", broker=broker)
        assert sorted(hosts) == sorted(expected)


def test_the_json_form_shows_each_server_with_its_status(lab: Lab) -> None:
    (answer,) = ask(lab, f"{HOSTS}.json")
    document = json.loads(answer["body"])
    assert answer["status"] == 200 and document["v"] == 1
    statuses = {s["address"]: s["status"] for s in document["servers"]}
    assert statuses == {lab.address("s1"): "Idle", lab.address("s2"): "Idle", lab.address("s3"): "Swapped"}


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("LDM_LB_ALGORITHM=fastest", "LDM_LB_ALGORITHM='fastest'"),
        ("LDM_LB_MAX_LOAD=abc", "LDM_LB_MAX_LOAD='abc'"),
        ("LDM_LB_HOSTS=-1", "LDM_LB_HOSTS='-1'"),
        ("mac=nope", "mac='nope' is not a MAC"),
    ],
)
def test_a_bad_value_is_answered_with_every_live_server_and_a_warning_header(
    lab: Lab, query: str, says: str
) -> None:
    (answer,) = ask(lab, f"{HOSTS}?{query}")
    assert answer["status"] == 200 and sorted(answer["body"].split()) == sorted(
        lab.address(h) for h in SERVERS
    )
    (warning,) = [h for h in answer["head"].split("\r\n") if h.lower().startswith("ltsp-mesh-warning:")]
    assert says in warning and "; using the default" in warning


@pytest.mark.parametrize(
    ("query", "says"),
    [("LDM_LB_TRUST=any", "not a parameter"), ("LDM_LB_HOSTS=1&LDM_LB_HOSTS=2", "given twice")],
)
def test_a_request_outside_the_protocol_gets_a_400_with_a_one_line_reason(
    lab: Lab, query: str, says: str
) -> None:
    (answer,) = ask(lab, f"{HOSTS}?{query}")
    assert answer["status"] == 400 and says in answer["body"] and answer["body"].count("\n") == 1


def test_a_draining_server_is_never_listed(lab: Lab) -> None:
    lab.run("s2", mesh_argv("drain", "on", "--control-socket", str(control_path(lab, "s2"))))
    try:
        time.sleep(FRESH_S + 0.2)  # the views refresh at the next request after this
        for broker in SERVERS:
            for answer in ask(lab, broker=broker, count=3):
                assert lab.address("s2") not in answer["body"].split()
    finally:
        lab.run("s2", mesh_argv("drain", "off", "--control-socket", str(control_path(lab, "s2"))))
        time.sleep(FRESH_S + 0.2)  # the other tests expect every broker to see s2 taking logins again


def test_the_broker_claims_the_first_server_for_the_client(lab: Lab) -> None:
    first = line(lab, f"{HOSTS}?LDM_LB_ALGORITHM=mac-hash&mac={lab.mac('client')}")[0]
    # The server's own count, asked directly by another client: the claim is the thin client's.
    assert pending_of(lab, first_server(lab, first), client="client2") == 1


def test_repeated_requests_from_one_client_claim_once(lab: Lab) -> None:
    target = f"{HOSTS}?LDM_LB_ALGORITHM=mac-hash&mac={lab.mac('client2')}"
    answers = {(b, i): line(lab, target, host="client2", broker=b) for b in SERVERS for i in range(2)}
    firsts = {hosts[0] for hosts in answers.values()}
    assert len(firsts) == 1, answers  # mac-hash: the same server from every broker
    server = first_server(lab, firsts.pop())
    pending_now = pending_of(lab, server, client="client")
    line(lab, target, host="client2")
    assert pending_of(lab, server, client="client") == pending_now


@pytest.mark.parametrize("mode", ["unsigned", "own-key"])
def test_a_non_member_cannot_claim_for_other_clients(lab: Lab, mode: str) -> None:
    before = pending_of(lab, "s1", client="client2")
    proc = lab.run("rogue", [sys.executable, CLIENT, "claims", lab.address("s1"), "377", mode, "40"])
    assert json.loads(proc.stdout)["replies"] > 0  # answered as a query, never counted as a claim
    assert pending_of(lab, "s1", client="client2") == before


def test_silent_clients_cannot_hold_the_broker(lab: Lab) -> None:
    proc = lab.run(
        "rogue", [sys.executable, CLIENT, "silent", lab.address("s1"), str(PORT), "8", "4"], timeout_s=30
    )
    result = json.loads(proc.stdout)
    assert result["real"]["status"] == 503  # the ninth connection from one address is refused
    assert result["silent"] == [408] * 8  # each silent one is answered and closed after the read timeout
    assert line(lab, host="client")  # others were served all along


def test_mac_hash_keeps_each_client_on_its_server_while_it_is_up(make_lab: LabFactory) -> None:
    lab = make_lab(["s1", "s2", "s3", "s4", "c1", "c2", "c3", "c4"])
    servers = {h: start_server(lab, h, load()) for h in ("s1", "s2", "s3", "s4")}
    wait_ready(lab, list(servers.values()))
    clients = ("c1", "c2", "c3", "c4")

    def firsts(broker: str) -> dict[str, str]:
        target = HOSTS + "?LDM_LB_ALGORITHM=mac-hash&mac={}"
        return {c: line(lab, target.format(lab.mac(c)), host=c, broker=broker)[0] for c in clients}

    before = firsts("s1")
    assert firsts("s2") == before
    victim = next(h for h in servers if lab.address(h) == before["c1"])
    lab.stop(servers[victim], signal.SIGKILL)
    time.sleep(FRESH_S + 0.3)
    after = firsts(next(h for h in servers if h != victim))
    assert after["c1"] != before["c1"]
    assert {c: a for c, a in after.items() if before[c] != before["c1"]} == {
        c: b for c, b in before.items() if b != before["c1"]
    }  # only the lost server's clients moved


def test_a_killed_server_is_never_listed_and_the_others_are(make_lab: LabFactory) -> None:
    lab = make_lab(["s1", "s2", "s3", "client"])
    servers = {h: start_server(lab, h, load()) for h in ("s1", "s2", "s3")}
    wait_ready(lab, list(servers.values()))
    assert sorted(line(lab)) == sorted(lab.address(h) for h in servers)
    lab.stop(servers["s3"], signal.SIGKILL)
    time.sleep(FRESH_S + 0.3)
    for answer in ask(lab, count=20):
        assert answer["status"] == 200 and sorted(answer["body"].split()) == sorted(
            [lab.address("s1"), lab.address("s2")]
        )


def test_a_broker_that_sees_no_live_server_says_so_with_a_503(make_lab: LabFactory) -> None:
    lab = make_lab(["s1", "client"])
    server = start_server(lab, "s1", load())
    wait_ready(lab, [server])
    lab.run("s1", mesh_argv("drain", "on", "--control-socket", str(control_path(lab, "s1"))))
    wait_until(lambda: ask(lab)[0]["status"] == 503, 5, "the drained server to leave the broker's answers")
    (answer,) = ask(lab)
    assert "takes logins" in answer["body"]


def _second_nic(lab: Lab, host: str, address: str) -> None:
    """Give `host` an eth1 with `address`/24 on the lab's bridge: a server with two NICs."""
    index = list(lab.hosts).index(host) + 1
    outer, inner = f"{lab.prefix}-n{index}", f"{lab.prefix}-n{index}p"
    _ip(
        "-batch",
        "-",
        stdin=f"link add {outer} type veth peer name {inner}\nlink set {inner} netns {lab.netns(host)}\n"
        f"link set {outer} master {lab.bridge} up\n",
    )
    _ip(
        "-n",
        lab.netns(host),
        "-batch",
        "-",
        stdin=f"link set {inner} name eth1\nlink set eth1 addrgenmode none\n"
        f"addr add {address}/24 dev eth1\nlink set eth1 up\n",
    )


def test_each_server_is_handed_out_with_its_address_on_the_clients_subnet(make_lab: LabFactory) -> None:
    lab = make_lab(["s1", "s2", "s3", "client"])
    second = {"s1": "10.78.0.10", "s2": "10.78.0.11"}
    for host, address in second.items():
        _second_nic(lab, host, address)
    _ip("-n", lab.netns("client"), "addr", "add", "10.78.0.30/24", "dev", "eth0")
    servers = [
        start_server(lab, h, load(), args=["--interface", "eth1"] if h in second else [])
        for h in ("s1", "s2", "s3")
    ]
    wait_ready(lab, servers)

    def hosts_from(broker_address: str, source: str) -> list[str]:
        proc = lab.run(
            "client", [sys.executable, CLIENT, "get", broker_address, str(PORT), HOSTS, "1", source]
        )
        (answer,) = json.loads(proc.stdout)
        assert answer["status"] == 200, answer
        return sorted(answer["body"].split())

    first_lan = sorted(lab.address(h) for h in ("s1", "s2", "s3"))
    assert hosts_from(lab.address("s2"), lab.address("client")) == first_lan
    # Asked on the second subnet, the two-NIC servers are handed out with their address there.
    assert hosts_from("10.78.0.11", "10.78.0.30") == sorted(["10.78.0.10", "10.78.0.11", lab.address("s3")])
