"""Servers that stop, die, change their load and collide on names, seen by real clients."""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from ltsp_mesh.core.discovery import names
from ltsp_mesh.core.server.publish import MAX_UPDATES_PER_MINUTE
from ltsp_mesh.lab.mesh import set_load, start_server, wait_ready
from ltsp_mesh.lab.netns import mesh_argv
from tests.conftest import LabFactory
from tests.lab.helpers import events, hosts_json, hosts_line, load, start_browser, wait_until

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
