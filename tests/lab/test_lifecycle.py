"""Servers that stop, die, change their load and collide on names, seen by real clients."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from ltsp_mesh.core.discovery import names
from ltsp_mesh.core.server.publish import MAX_UPDATES_PER_MINUTE
from ltsp_mesh.lab.mesh import (
    control_path,
    ensure_host_key,
    known_hosts_path,
    mesh,
    set_load,
    start_server,
    trust,
    wait_ready,
)
from ltsp_mesh.lab.netns import PREFIX_LEN, SUBNET, Lab, LabProcess, mesh_argv
from tests.conftest import LabFactory
from tests.lab.helpers import BrokerPace, events, hosts_json, hosts_line, load, start_browser, wait_until

pytestmark = pytest.mark.lab


def _instance_of(events_: list[dict[str, object]], address: str) -> str:
    for event in events_:
        if event["change"] == "added" and address in event["addresses"]:  # type: ignore[operator]
            return str(event["instance"])
    raise AssertionError(f"no added event for {address}")


def test_sigterm_sends_goodbyes_that_a_running_browser_sees_at_once(make_lab: LabFactory) -> None:
    lab = make_lab(["s1", "s2", "client"])
    procs = {h: start_server(lab, h, load()) for h in ("s1", "s2")}
    wait_ready(lab, list(procs.values()))
    browser = start_browser(lab)
    wait_until(
        lambda: sum(e["change"] == "added" for e in events(browser)) >= 2, 10, "both servers in the browser"
    )
    instance = _instance_of(events(browser), lab.address("s2"))

    stopped_at = time.time()
    assert lab.stop(procs["s2"], signal.SIGTERM) == 0
    removed = wait_until(
        lambda: [e for e in events(browser) if e["change"] == "removed" and e["instance"] == instance],
        timeout_s=3,
        what="the goodbye of s2",
    )
    # A browser that missed the goodbye would only notice when the record expires (75 min);
    # "at once" here means well inside a second of the daemon's exit.
    assert removed[0]["at"] - stopped_at < 1.0
    assert not [e for e in events(browser) if e["change"] == "removed" and e["instance"] != instance]


def test_sigkill_server_is_never_printed_by_hosts_afterwards(make_lab: LabFactory) -> None:
    lab = make_lab(["s1", "s2", "client"])
    procs = {h: start_server(lab, h, load()) for h in ("s1", "s2")}
    wait_ready(lab, list(procs.values()))
    assert sorted(hosts_line(lab)) == sorted([lab.address("s1"), lab.address("s2")])

    lab.stop(procs["s2"], signal.SIGKILL)
    for _ in range(5):
        data = hosts_json(lab)
        # Its announcement still sits in the client's view of the network (no goodbye) ...
        assert data["hosts"] == [lab.address("s1")]
    assert hosts_line(lab) == [lab.address("s1")]


def test_sigterm_exits_zero_and_logs_its_counters(make_lab: LabFactory) -> None:
    lab = make_lab(["s1", "client"])
    proc = start_server(lab, "s1", load())
    wait_ready(lab, [proc])
    hosts_line(lab)
    assert lab.stop(proc, signal.SIGTERM) == 0
    assert "udp_answered=" in proc.log_text()


def test_txt_change_reaches_a_running_browser_within_the_rate_limit(make_lab: LabFactory) -> None:
    lab = make_lab(["s1", "client"])
    proc = start_server(lab, "s1", load(sessions=0), sample_interval_s=0.2)
    wait_ready(lab, [proc])
    browser = start_browser(lab)
    wait_until(lambda: any(e["change"] == "added" for e in events(browser)), 10, "s1 in the browser")

    changed_at = time.time()
    set_load(lab, "s1", load(sessions=5))
    updated = wait_until(
        lambda: [e for e in events(browser) if e["record"] and e["record"]["sessions"] == 5],
        timeout_s=15,
        what="the new session count in TXT",
    )
    # At most one update per 6 s: the change may wait for the registration's slot to pass.
    assert updated[0]["at"] - changed_at < 60 / MAX_UPDATES_PER_MINUTE + 2


def test_txt_updates_never_exceed_ten_a_minute_under_a_load_changing_every_100ms(
    make_lab: LabFactory,
) -> None:
    lab = make_lab(["s1", "client"])
    proc = start_server(lab, "s1", load(), sample_interval_s=0.1)
    wait_ready(lab, [proc])
    browser = start_browser(lab)
    wait_until(lambda: any(e["change"] == "added" for e in events(browser)), 10, "s1 in the browser")

    stop = threading.Event()

    def churn() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            set_load(lab, "s1", load(load1=(i % 20) * 0.4, sessions=i % 7))
            time.sleep(0.1)

    churner = threading.Thread(target=churn)
    churner.start()
    try:
        time.sleep(30)
    finally:
        stop.set()
        churner.join()
    lab.stop(proc, signal.SIGTERM)
    updates = [e["at"] for e in events(browser) if e["change"] == "updated"]
    counted = int(proc.log_text().rsplit("txt_updates=", 1)[1].split(",")[0].split()[0])
    assert counted >= 2, "the churning load never reached TXT at all"
    assert counted <= MAX_UPDATES_PER_MINUTE // 2 + 1  # 30 s: at most one update per 6 s
    for first in updates:
        assert sum(first <= t < first + 60 for t in updates) <= MAX_UPDATES_PER_MINUTE


def test_name_conflict_makes_the_server_take_a_new_name(make_lab: LabFactory) -> None:
    lab = make_lab(["s1", "squat", "client"])
    taken = names.instance_name(socket.gethostname(), lab.mac("s1"))
    squatter = lab.spawn(
        "squat",
        [sys.executable, str(Path(__file__).with_name("squatter.py")), lab.address("squat"), taken],
        log_name="squatter",
    )
    lab.wait_for_log(squatter, "registered", 15)

    proc = start_server(lab, "s1", load())
    wait_ready(lab, [proc])
    assert "was taken on the network" in proc.log_text()
    measured = [s for s in hosts_json(lab)["servers"] if s["measured"]]
    assert [s["address"] for s in measured] == [lab.address("s1")]
    assert measured[0]["instance"] == f"{taken}-2"


def test_hosts_with_no_server_prints_nothing_and_exits_3(make_lab: LabFactory) -> None:
    lab = make_lab(["client"])
    proc = lab.run("client", mesh_argv("hosts", "--interface", "eth0"), check=False)
    assert (proc.returncode, proc.stdout) == (3, "")


def test_status_exit_codes_serve_a_monitoring_check(make_lab: LabFactory) -> None:
    lab = make_lab(["s1", "s2", "client"])
    procs = {h: start_server(lab, h, load()) for h in ("s1", "s2")}
    wait_ready(lab, list(procs.values()))
    status = mesh_argv("status", "--interface", "eth0")
    assert lab.run("client", status, check=False).returncode == 0
    set_load(lab, "s2", load(swapping=True))
    wait_until(
        lambda: lab.run("client", status, check=False).returncode == 4, 5, "exit 4 for a swapping server"
    )
    for proc in procs.values():
        lab.stop(proc, signal.SIGKILL)
    assert lab.run("client", status, check=False).returncode == 3


def test_a_second_serve_on_one_host_says_in_one_line_that_the_port_is_taken(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab(["s1"])
    first = start_server(lab, "s1", load())
    wait_ready(lab, [first])
    second = start_server(
        lab,
        "s1",
        load(),
        args=["--control-socket", str(tmp_path / "second.sock"), "--state-dir", str(tmp_path / "second")],
    )
    assert second.popen.wait(timeout=30) == 1
    last = second.log_text().strip().splitlines()[-1]
    assert (
        last.startswith("ltsp-mesh serve: cannot listen on")
        and "in use" in last
        and "Traceback" not in second.log_text()
    )
    assert first.popen.poll() is None  # the first one serves on


# -- a renumbered server (issue 11, item 4) ------------------------------------------------------

NEW_ADDRESS = f"{SUBNET}.200"
BROKER_CLIENT = str(Path(__file__).with_name("broker_client.py"))
BROKER_PACE = BrokerPace()


def _renumber(lab: Lab, host: str, new: str) -> float:
    """Move `host`'s eth0 to `new` as a DHCP client does: the old address goes, the new one
    comes. Returns when it happened (time.time())."""
    changed_at = time.time()
    lab.run(host, ["ip", "addr", "del", f"{lab.address(host)}/{PREFIX_LEN}", "dev", "eth0"])
    lab.run(host, ["ip", "addr", "add", f"{new}/{PREFIX_LEN}", "dev", "eth0"])
    return changed_at


def test_a_renumbered_server_is_listed_at_its_new_address_within_5_s(make_lab: LabFactory) -> None:
    lab = make_lab(["s1", "s2", "client"])
    procs = [start_server(lab, h, load()) for h in ("s1", "s2")]
    wait_ready(lab, procs)
    assert sorted(hosts_line(lab)) == sorted([lab.address("s1"), lab.address("s2")])

    changed_at = _renumber(lab, "s1", NEW_ADDRESS)
    wait_until(
        lambda: sorted(hosts_line(lab)) == sorted([NEW_ADDRESS, lab.address("s2")]),
        timeout_s=10,
        what="s1 listed at its new address",
    )
    assert time.time() - changed_at < 5
    assert "addresses changed: eth0 10.77.0.10/24 -> eth0 10.77.0.200/24" in procs[0].log_text()


def _broker_line(lab: Lab, broker_address: str) -> str:
    """What a thin client's get_hosts gets from the broker at `broker_address` ("" on failure).

    Paced under the broker's limit for one address: the tests poll it as fast as they can, and
    a 429 would make them measure the limit instead of the mesh.
    """
    BROKER_PACE.wait_for(broker_address)
    argv = [sys.executable, BROKER_CLIENT, "get", broker_address, "378", "/ltsp-mesh/v1/hosts"]
    answers = json.loads(lab.run("client", argv, check=False).stdout or "[]")
    return str(answers[0]["body"]) if answers and answers[0]["status"] == 200 else ""


def test_another_broker_hands_a_renumbered_server_out_at_its_new_address_within_5_s(
    make_lab: LabFactory,
) -> None:
    lab = make_lab(["s1", "s2", "client"])
    procs = [start_server(lab, h, load()) for h in ("s1", "s2")]
    wait_ready(lab, procs)
    wait_until(lambda: lab.address("s1") in _broker_line(lab, lab.address("s2")), 10, "s1 at s2's broker")

    changed_at = _renumber(lab, "s1", NEW_ADDRESS)
    listed = wait_until(
        lambda: (line := _broker_line(lab, lab.address("s2"))) and NEW_ADDRESS in line.split() and line,
        timeout_s=10,
        what="s1 handed out at its new address",
    )
    assert time.time() - changed_at < 5
    assert lab.address("s1") not in listed.split()


def test_a_renumbered_servers_own_broker_answers_at_its_new_address(make_lab: LabFactory) -> None:
    lab = make_lab(["s1", "client"])
    proc = start_server(lab, "s1", load())
    wait_ready(lab, [proc])
    _renumber(lab, "s1", NEW_ADDRESS)
    lab.wait_for_log(proc, "announcing and answering on the new ones", 10)
    assert wait_until(lambda: _broker_line(lab, NEW_ADDRESS), 10, "the broker at the new address") == (
        f"{NEW_ADDRESS}\n"
    )


def test_a_server_between_two_leases_waits_and_is_listed_again_once_it_has_an_address(
    make_lab: LabFactory,
) -> None:
    lab = make_lab(["s1", "client"])
    proc = start_server(lab, "s1", load())
    wait_ready(lab, [proc])
    lab.run("s1", ["ip", "addr", "del", f"{lab.address('s1')}/{PREFIX_LEN}", "dev", "eth0"])
    lab.wait_for_log(proc, "no IPv4 address on eth0: not announced until one comes", 10)
    lab.run("s1", ["ip", "addr", "add", f"{NEW_ADDRESS}/{PREFIX_LEN}", "dev", "eth0"])
    wait_until(lambda: hosts_line(lab) == [NEW_ADDRESS], 10, "s1 listed once it has an address again")
    assert proc.popen.poll() is None


# -- a second serve (issue 11, item 5) -----------------------------------------------------------


def test_a_second_serve_on_the_same_control_socket_fails_in_one_line_and_drain_still_reaches_the_first(
    make_lab: LabFactory,
) -> None:
    lab = make_lab(["s1"])
    first = start_server(lab, "s1", load())
    wait_ready(lab, [first])
    second = start_server(lab, "s1", load())  # the very same command line
    assert second.popen.wait(timeout=30) == 1
    text = second.log_text()
    last = text.strip().splitlines()[-1]
    assert last == (
        f"ltsp-mesh serve: the control socket {control_path(lab, 's1')} is in use by another ltsp-mesh "
        f"serve (pid {first.pid}): stop it (systemctl stop ltsp-mesh) or give this one another "
        "--control-socket"
    )
    assert "Traceback" not in text
    status = mesh(lab, "s1", "drain", "status", "--control-socket", str(control_path(lab, "s1")))
    assert (status.returncode, status.stdout.strip().endswith("taking logins")) == (0, True), status.stderr
    assert first.popen.poll() is None


def test_a_stopped_serve_leaves_neither_its_socket_nor_its_lock_behind(make_lab: LabFactory) -> None:
    lab = make_lab(["s1"])
    proc = start_server(lab, "s1", load())
    wait_ready(lab, [proc])
    socket_path = control_path(lab, "s1")
    assert socket_path.is_socket()
    assert lab.stop(proc, signal.SIGTERM) == 0
    assert sorted(p.name for p in socket_path.parent.glob(socket_path.name + "*")) == []


# -- SIGHUP (issue 11, item 8) -------------------------------------------------------------------


def _capacity(lab: Lab, host: str) -> int:
    by_address = {s["address"]: s for s in hosts_json(lab)["servers"]}
    return int(by_address[lab.address(host)]["record"]["capacity"])


def _serving_capacity_4(make_lab: LabFactory, tmp_path: Path) -> tuple[Lab, Path, LabProcess]:
    """s1 running with a mesh.conf of CAPACITY = 4, a client beside it; the lab, conf and daemon."""
    lab = make_lab(["s1", "client"])
    conf = tmp_path / "mesh.conf"
    conf.write_text("[default]\n    CAPACITY = 4\n")
    proc = start_server(lab, "s1", load(), args=["--config", str(conf)])
    wait_ready(lab, [proc])
    return lab, conf, proc


def test_sighup_reads_mesh_conf_again_and_the_daemon_answers_with_the_new_capacity(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab, conf, proc = _serving_capacity_4(make_lab, tmp_path)
    assert _capacity(lab, "s1") == 4

    conf.write_text("[default]\n    CAPACITY = 9\n    SSH_PORT = 2222\n")
    os.kill(proc.pid, signal.SIGHUP)
    lab.wait_for_log(proc, "SIGHUP: mesh.conf read again; now using CAPACITY 4 -> 9", 10)
    assert _capacity(lab, "s1") == 9
    assert "SSH_PORT 22 -> 2222 takes effect at the next start" in proc.log_text()
    assert lab.stop(proc, signal.SIGTERM) == 0  # still the daemon it was, and it stops cleanly


def test_sighup_with_a_broken_mesh_conf_keeps_serving_and_says_why(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab, conf, proc = _serving_capacity_4(make_lab, tmp_path)

    conf.write_text("[default]\n    CAPACITY = lots\n")
    os.kill(proc.pid, signal.SIGHUP)
    lab.wait_for_log(proc, "SIGHUP: kept the running configuration", 10)
    assert "CAPACITY='lots'" in proc.log_text()
    assert _capacity(lab, "s1") == 4
    assert proc.popen.poll() is None


def _watch_move(lab: Lab, host: str, old: str, new: str) -> tuple[list[tuple[float, str]], float | None]:
    """Move `host` from `old` to `new` and ask s2's broker for 10 s: the lines printing `old`
    2 s or more after the move (seconds after it, line), and when `new` was first printed."""
    lab.run(host, ["ip", "addr", "del", f"{old}/{PREFIX_LEN}", "dev", "eth0"])
    lab.run(host, ["ip", "addr", "add", f"{new}/{PREFIX_LEN}", "dev", "eth0"])
    moved_at = time.time()
    stale: list[tuple[float, str]] = []
    followed: float | None = None
    while (at := time.time() - moved_at) < 10:
        line = _broker_line(lab, lab.address("s2"))
        if at >= 2.0 and old in line.split():
            stale.append((round(at, 2), line))
        if followed is None and new in line.split():
            followed = at
    return stale, followed


def test_another_broker_never_hands_out_a_renumbered_servers_old_address_after_2_s(
    make_lab: LabFactory,
) -> None:
    # The soak's rule (lab/bench/soak_audit.py): an address counts as down GRACE_S after the
    # move, and the server must be followed to its new one within FOLLOW_S. The soak moves a
    # server away and back, so that both addresses have been in every broker's cache, under
    # known-hosts trust with s1's key listed for both (as ltsp-update-sshkeys would list it).
    lab = make_lab(["s1", "s2", "s3", "client"])
    trust(lab, "s1", "s2", "s3")
    key = Path(str(ensure_host_key(lab, "s1")) + ".pub").read_text().strip()
    with known_hosts_path(lab).open("a") as handle:
        handle.write(f"{NEW_ADDRESS} {key}\n")
    procs = [start_server(lab, h, load()) for h in ("s1", "s2", "s3")]
    wait_ready(lab, procs)
    first = lab.address("s1")
    wait_until(lambda: first in _broker_line(lab, lab.address("s2")).split(), 10, "s1 at s2's broker")

    away = _watch_move(lab, "s1", first, NEW_ADDRESS)
    back = _watch_move(lab, "s1", NEW_ADDRESS, first)
    assert (away[0], back[0]) == ([], [])
    assert away[1] is not None and away[1] < 5
    assert back[1] is not None and back[1] < 5
