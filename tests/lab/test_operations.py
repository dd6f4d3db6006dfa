"""Running it for real: drain through the control socket, systemd notifications."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import pytest

from ltsp_mesh.cli import main
from ltsp_mesh.lab.mesh import control_path, start_server, wait_ready
from ltsp_mesh.lab.netns import Lab, mesh_argv
from tests.conftest import LabFactory
from tests.lab.helpers import events, hosts_json, hosts_line, load, start_browser, wait_until

pytestmark = pytest.mark.lab


def _drain(lab: Lab, host: str, action: str, *extra: str) -> str:
    proc = lab.run(host, mesh_argv("drain", action, "--control-socket", str(control_path(lab, host)), *extra))
    return proc.stdout.strip()


def _two_servers(make_lab: LabFactory) -> Lab:
    lab = make_lab(["s1", "s2", "client"])
    wait_ready(lab, [start_server(lab, h, load()) for h in ("s1", "s2")])
    return lab


def test_drained_server_is_no_longer_handed_out(make_lab: LabFactory) -> None:
    lab = _two_servers(make_lab)
    assert "draining: kernel update" in _drain(lab, "s1", "on", "--reason", "kernel update")
    assert hosts_line(lab) == [lab.address("s2")]


def test_drained_server_still_answers_and_reports_drain(make_lab: LabFactory) -> None:
    lab = _two_servers(make_lab)
    _drain(lab, "s1", "on")
    proc = lab.run("client", mesh_argv("status", "--interface", "eth0", "--json"))
    states = {s["address"]: s["status"] for s in json.loads(proc.stdout)["data"]["servers"]}
    assert states == {lab.address("s1"): "Draining", lab.address("s2"): "Idle"}


def test_drain_off_takes_logins_again(make_lab: LabFactory) -> None:
    lab = _two_servers(make_lab)
    _drain(lab, "s1", "on")
    assert "taking logins" in _drain(lab, "s1", "off")
    assert sorted(hosts_line(lab)) == sorted([lab.address("s1"), lab.address("s2")])


def test_drain_reaches_txt_for_running_browsers(make_lab: LabFactory) -> None:
    lab = _two_servers(make_lab)
    browser = start_browser(lab)
    wait_until(lambda: sum(e["change"] == "added" for e in events(browser)) >= 2, 10, "both servers")
    _drain(lab, "s1", "on")
    wait_until(
        lambda: [
            e
            for e in events(browser)
            if e["record"] and e["record"]["state"] == "drain" and lab.address("s1") in e["addresses"]
        ],
        timeout_s=15,
        what="st=drain in s1's TXT",
    )


def test_drain_survives_a_daemon_restart(make_lab: LabFactory) -> None:
    lab = make_lab(["s1", "s2", "client"])
    first = start_server(lab, "s1", load())
    wait_ready(lab, [first, start_server(lab, "s2", load())])
    _drain(lab, "s1", "on", "--reason", "moving racks")
    assert lab.stop(first, signal.SIGTERM) == 0

    wait_ready(lab, [start_server(lab, "s1", load())])
    assert "draining: moving racks" in _drain(lab, "s1", "status")
    data = hosts_json(lab)
    assert data["hosts"] == [lab.address("s2")]


def test_drain_without_a_running_daemon_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drain", "on", "--control-socket", str(tmp_path / "none.sock")]) == 1
    assert "is `ltsp-mesh serve` running?" in capsys.readouterr().err


def test_daemon_notifies_systemd_ready_watchdog_and_stopping(make_lab: LabFactory, tmp_path: Path) -> None:
    lab = make_lab(["s1"])
    notify_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sink:
        sink.bind(str(notify_path))
        sink.settimeout(0.2)
        received: list[str] = []

        def drain_sink() -> list[str]:
            try:
                while True:
                    received.extend(sink.recv(4096).decode().splitlines())
            except TimeoutError:
                return received

        proc = start_server(
            lab, "s1", load(), env={"NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "400000"}
        )
        wait_ready(lab, [proc])
        wait_until(lambda: "READY=1" in drain_sink(), 5, "READY=1")
        wait_until(lambda: drain_sink().count("WATCHDOG=1") >= 3, 5, "watchdog pings every 0.2 s")
        lab.stop(proc, signal.SIGTERM)
        wait_until(lambda: "STOPPING=1" in drain_sink(), 5, "STOPPING=1")
    assert received.index("READY=1") < received.index("STOPPING=1")
