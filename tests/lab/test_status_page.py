"""The status page, /metrics and the decisions, served by real daemons and read by Debian's
chromium in a lab namespace: three servers with different loads, one draining (lab/status_page.py)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib import image
from prometheus_client.parser import text_string_to_metric_families

from ltsp_mesh.core.view.page import STATUS_COLOURS
from ltsp_mesh.lab import browser as browser_module
from ltsp_mesh.lab import status_page as scene_module
from ltsp_mesh.lab.browser import Browser
from ltsp_mesh.lab.netns import mesh_argv
from ltsp_mesh.lab.status_page import EXPECTED_AFTER, EXPECTED_BEFORE, Scene
from tests.conftest import LabFactory, require_tools
from tests.lab.helpers import wait_until

pytestmark = pytest.mark.lab
CLIENT = str(Path(__file__).with_name("broker_client.py"))
# The page reloads every 5 s and the daemons sample every second: a change shows within about 7 s.
UPDATE_S = 30.0


@pytest.fixture(scope="module")
def scene(module_lab_factory: LabFactory) -> Scene:
    return scene_module.start(module_lab_factory(scene_module.hosts()))


@pytest.fixture
def browser(scene: Scene) -> Iterator[Browser]:
    require_tools("chromium", debian="chromium")
    assert browser_module.available() is None
    with Browser(scene.lab, scene_module.VIEWER, width=1400, height=760) as opened:
        yield opened


def get(scene: Scene, path: str, host: str = scene_module.CLIENT, server: str = "app1") -> dict[str, Any]:
    proc = scene.lab.run(
        host,
        [sys.executable, CLIENT, "get", scene.lab.address(server), str(scene_module.BROKER_PORT), path, "1"],
    )
    (answer,) = json.loads(proc.stdout)
    return dict(answer)


def colours_in(png: Path) -> set[tuple[int, int, int]]:
    pixels = (image.imread(png)[:, :, :3] * 255).round().astype(np.uint8)
    return {tuple(int(c) for c in p) for p in np.unique(pixels.reshape(-1, 3), axis=0)}  # type: ignore[misc]


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def shows(browser: Browser, expected: dict[str, str], recommended: str) -> bool:
    text = browser.text()
    found = scene_module.recommended(text)
    return scene_module.statuses(text) == expected and found is not None and found.startswith(recommended)


def test_a_browser_shows_every_server_with_its_status_and_the_recommendation(
    scene: Scene, browser: Browser, tmp_path: Path
) -> None:
    browser.open(scene.url())
    wait_until(
        lambda: shows(browser, EXPECTED_BEFORE, "app1"), UPDATE_S, "the page to show the three servers"
    )
    shot = tmp_path / "page.png"
    browser.screenshot(shot)
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    colours = colours_in(shot)
    for status in EXPECTED_BEFORE.values():  # each status's badge is drawn
        assert rgb(STATUS_COLOURS[status][0]) in colours, status


def test_the_page_updates_by_itself_after_a_load_change(
    scene: Scene, browser: Browser, tmp_path: Path
) -> None:
    browser.open(scene.url())
    wait_until(lambda: shows(browser, EXPECTED_BEFORE, "app1"), UPDATE_S, "the page before the change")
    try:
        scene.set_loads(scene_module.AFTER)
        # No navigation from here on: only the page's own refresh can show the change.
        wait_until(lambda: shows(browser, EXPECTED_AFTER, "app2"), UPDATE_S, "the page to follow the change")
        browser.screenshot(tmp_path / "after.png")
        assert rgb(STATUS_COLOURS["Busy"][0]) in colours_in(tmp_path / "after.png")
    finally:
        scene.set_loads(scene_module.BEFORE)


def _by_server(families: dict[str, Any], name: str) -> dict[str, float]:
    return {s.labels["server"]: s.value for s in families[name].samples}


def _mismatch(scene: Scene) -> str | None:
    """Where /metrics and `status --json` disagree, or None."""
    answer = get(scene, "/metrics")
    assert answer["status"] == 200
    families = {f.name: f for f in text_string_to_metric_families(answer["body"])}
    proc = scene.lab.run(
        scene_module.CLIENT, mesh_argv("status", "--interface", "eth0", "--json"), check=False
    )
    servers = json.loads(proc.stdout)["data"]["servers"]
    seen = {
        "sessions": _by_server(families, "ltsp_mesh_server_sessions"),
        "pending": _by_server(families, "ltsp_mesh_server_pending_logins"),
        "capacity": _by_server(families, "ltsp_mesh_server_capacity"),
        "load": _by_server(families, "ltsp_mesh_server_load_per_cpu"),
    }
    status = {s.labels["server"]: s.labels["status"] for s in families["ltsp_mesh_server_status"].samples}
    expected_status = {s["name"]: s["status"] for s in servers}
    if status != expected_status:
        return f"statuses {status} != {expected_status}"
    for server in servers:
        for field, values in seen.items():
            if values.get(server["name"]) != server[field]:
                return (
                    f"{server['name']} {field}: metrics {values.get(server['name'])}, status {server[field]}"
                )
    app1 = next(s for s in servers if s["name"].startswith("app1 "))
    own = {
        "sessions": families["ltsp_mesh_sessions"].samples[0].value,
        "capacity": families["ltsp_mesh_capacity"].samples[0].value,
        "load": families["ltsp_mesh_load_per_cpu"].samples[0].value,
    }
    if own != {k: app1[k] for k in own}:
        return f"app1's own figures {own} != {app1}"
    mesh = {s.labels["status"]: s.value for s in families["ltsp_mesh_mesh_servers"].samples if s.value}
    if mesh != {v: float(list(expected_status.values()).count(v)) for v in set(expected_status.values())}:
        return f"mesh servers {mesh} != {expected_status}"
    return None


def test_metrics_parse_and_match_status_json(scene: Scene) -> None:
    last: list[str | None] = []

    def agree() -> bool:
        last.append(_mismatch(scene))
        return last[-1] is None

    wait_until(agree, 20, f"/metrics to agree with status --json (last: {last[-1:] or '-'})", interval_s=1)


def _statuses(scene: Scene) -> dict[str, str]:
    status = json.loads(get(scene, "/status.json", host=scene_module.VIEWER)["body"])
    return {s["name"].split()[0]: s["status"] for s in status["servers"]}


def test_the_page_says_why_a_thin_client_got_its_servers(scene: Scene) -> None:
    mac = scene.lab.mac(scene_module.CLIENT)
    wait_until(lambda: _statuses(scene) == EXPECTED_BEFORE, UPDATE_S, "the loads of the scene")
    answer = get(scene, f"/ltsp-mesh/v1/hosts?mac={mac}&LDM_LB_ALGORITHM=filtered")
    got = answer["body"].split()
    document = json.loads(get(scene, f"/decisions.json?client={mac}", host=scene_module.VIEWER)["body"])
    decision = document["decisions"][0]
    assert [h["address"] for h in decision["listed"]] == got
    assert decision["algorithm"] == "filtered" and decision["client"] == scene.lab.address(
        scene_module.CLIENT
    )
    why = {s["name"].split()[0]: s["why"] for s in decision["skipped"]}
    assert why == {"app2": "load 2.60/CPU over LDM_LB_MAX_LOAD=2", "app3": "draining"}
    page = get(scene, f"/?client={scene.lab.address(scene_module.CLIENT)}", host=scene_module.VIEWER)["body"]
    assert "app3" in page and "draining" in page and "load 2.60/CPU over LDM_LB_MAX_LOAD=2" in page


@pytest.mark.parametrize(
    ("path", "status"),
    [("/drain", 404), ("/?client=nobody", 400), ("/metrics?format=json", 400), ("/%ff", 404)],
)
def test_a_bad_request_to_the_page_gets_a_4xx(scene: Scene, path: str, status: int) -> None:
    answer = get(scene, path, host=scene_module.VIEWER)
    assert answer["status"] == status and answer["body"].count("\n") == 1
    assert "Traceback" not in scene.daemons["app1"].log_text()


def test_a_post_to_the_page_changes_nothing(scene: Scene) -> None:
    proc = scene.lab.run(
        scene_module.VIEWER,
        [
            sys.executable,
            "-c",
            "import socket,sys; s=socket.create_connection((sys.argv[1], 378), timeout=5);"
            "s.sendall(b'POST /?drain=on HTTP/1.0\\r\\nContent-Length: 0\\r\\n\\r\\n');"
            "print(s.recv(200).split(b' ')[1].decode())",
            scene.lab.address("app1"),
        ],
    )
    assert proc.stdout.strip() == "405"
    assert _statuses(scene) == EXPECTED_BEFORE
