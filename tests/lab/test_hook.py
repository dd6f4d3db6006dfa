"""`ltsp-mesh hosts --hook`, the Python client's hook mode, run in a client namespace against real servers.

The thin client's own get_hosts script (sh + nc, asking a broker) is tested in test_hook_sh.py.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from ltsp_mesh.core.codec import loadfile
from ltsp_mesh.lab.mesh import control_path, load_path, set_load, start_server, wait_ready
from ltsp_mesh.lab.netns import Lab, mesh_argv
from tests.conftest import LabFactory
from tests.lab.helpers import SQUATTER, ldm_split, load, pending_of, run_hook, wait_until

pytestmark = pytest.mark.lab
SERVERS = ("s1", "s2", "s3")
ALGORITHMS = ("least-loaded", "random", "filtered", "mac-hash", "chooser")
LOADS = {"s1": load(sessions=1), "s2": load(sessions=2), "s3": load(sessions=0, swapping=True)}


@pytest.fixture(scope="module")
def lab(module_lab_factory: LabFactory) -> Lab:
    """Three servers (s3 swapping), a spare host for a web server, and two clients."""
    lab = module_lab_factory([*SERVERS, "lb", "client", "client2"])
    wait_ready(lab, [start_server(lab, h, LOADS[h], args=["--claim-ttl", "4"]) for h in SERVERS])
    return lab


def _env(lab: Lab, tmp_path: Path, **variables: str) -> dict[str, str]:
    # 400 ms, interpreter start-up included, is a thin client's budget; these tests are about
    # what hosts --hook prints, so a CI machine late in a run gets more (the deadline test sets
    # its own).
    return {"LTSP_MESH_CACHE_DIR": str(tmp_path / "cache"), "LDM_LB_TIMEOUT_MS": "1500", **variables}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_hook_prints_one_line_of_live_servers(lab: Lab, tmp_path: Path, algorithm: str) -> None:
    output, _ = run_hook(lab, _env(lab, tmp_path, LDM_LB_ALGORITHM=algorithm))
    hosts = ldm_split(output)
    expected = {lab.address(h) for h in SERVERS}
    if algorithm == "filtered":
        expected.discard(lab.address("s3"))  # swapping, and LDM_LB_IGNORE_SWAPPING defaults to True
    assert set(hosts) == expected and len(hosts) == len(expected)


def test_mac_hash_gives_a_client_the_same_list_every_time(lab: Lab, tmp_path: Path) -> None:
    env = _env(lab, tmp_path, LDM_LB_ALGORITHM="mac-hash")
    assert len({run_hook(lab, env)[0] for _ in range(4)}) == 1


def test_ldm_lb_hosts_limits_the_count(lab: Lab, tmp_path: Path) -> None:
    assert len(ldm_split(run_hook(lab, _env(lab, tmp_path, LDM_LB_HOSTS="2"))[0])) == 2


def test_a_draining_server_is_never_printed(lab: Lab, tmp_path: Path) -> None:
    lab.run("s2", mesh_argv("drain", "on", "--control-socket", str(control_path(lab, "s2"))))
    try:
        for algorithm in ALGORITHMS:
            hosts = ldm_split(run_hook(lab, _env(lab, tmp_path, LDM_LB_ALGORITHM=algorithm))[0])
            assert lab.address("s2") not in hosts
    finally:
        lab.run("s2", mesh_argv("drain", "off", "--control-socket", str(control_path(lab, "s2"))))


def test_the_hook_claims_the_server_it_lists_first(lab: Lab, tmp_path: Path) -> None:
    first = ldm_split(run_hook(lab, _env(lab, tmp_path, LDM_LB_ALGORITHM="mac-hash"))[0])[0]
    server = next(h for h in SERVERS if lab.address(h) == first)
    assert pending_of(lab, server, client="client2") == 1


def test_repeated_claims_from_one_client_count_once(lab: Lab, tmp_path: Path) -> None:
    env = _env(lab, tmp_path, LDM_LB_ALGORITHM="mac-hash")
    first = ldm_split(run_hook(lab, env)[0])[0]
    for _ in range(4):
        run_hook(lab, env)
    server = next(h for h in SERVERS if lab.address(h) == first)
    assert pending_of(lab, server, client="client2") == 1


def test_a_claim_expires_after_its_ttl(lab: Lab, tmp_path: Path) -> None:
    first = ldm_split(run_hook(lab, _env(lab, tmp_path, LDM_LB_ALGORITHM="mac-hash"))[0])[0]
    server = next(h for h in SERVERS if lab.address(h) == first)
    wait_until(lambda: pending_of(lab, server, client="client2") == 0, 10, "the 4 s claim to expire")


def test_a_claim_is_settled_when_the_clients_session_appears(lab: Lab, tmp_path: Path) -> None:
    first = ldm_split(run_hook(lab, _env(lab, tmp_path, LDM_LB_ALGORITHM="mac-hash"))[0])[0]
    server = next(h for h in SERVERS if lab.address(h) == first)
    load_path(lab, server).write_text(loadfile.encode(LOADS[server], session_hosts=(lab.address("client"),)))
    try:
        # Settling is faster than the 4 s expiry: it happens at the daemon's next 1 s sample.
        wait_until(lambda: pending_of(lab, server, client="client2") == 0, 2.5, "the claim to settle")
    finally:
        set_load(lab, server, LOADS[server])


def test_the_load_balancer_pick_goes_first_when_it_is_live(lab: Lab, tmp_path: Path) -> None:
    site = tmp_path / "www"
    site.mkdir()
    (site / "lb").write_text(lab.address("s3") + "\n")
    web = lab.spawn(
        "lb",
        [sys.executable, "-m", "http.server", "--bind", lab.address("lb"), "8008", "--directory", str(site)],
        log_name="www",
    )
    try:
        wait_until(lambda: "Serving HTTP" in web.log_text(), 10, "the web server")
        url = f"http://{lab.address('lb')}:8008/lb"
        for _ in range(3):
            assert ldm_split(run_hook(lab, _env(lab, tmp_path, LDM_LB_LOADBALANCER_URL=url))[0])[
                0
            ] == lab.address("s3")
    finally:
        lab.stop(web)


def test_when_nothing_answers_the_hook_prints_the_last_good_list(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab(["s1", "client"])
    server = start_server(lab, "s1", load())
    wait_ready(lab, [server])
    env = _env(lab, tmp_path, SERVER="10.77.0.250")
    assert ldm_split(run_hook(lab, env)[0]) == [lab.address("s1")]
    lab.stop(server, signal.SIGKILL)
    assert ldm_split(run_hook(lab, env)[0]) == [lab.address("s1")]


def test_with_no_cache_the_hook_prints_the_fallback_then_server(make_lab: LabFactory, tmp_path: Path) -> None:
    lab = make_lab(["client"])
    assert ldm_split(run_hook(lab, _env(lab, tmp_path, SERVER="10.77.0.250"))[0]) == ["10.77.0.250"]
    env = _env(lab, tmp_path, SERVER="10.77.0.250", LDM_LB_FALLBACK="10.77.0.251  10.77.0.252")
    assert ldm_split(run_hook(lab, env)[0]) == ["10.77.0.251", "10.77.0.252"]


def test_a_corrupt_cache_is_ignored_and_replaced(make_lab: LabFactory, tmp_path: Path) -> None:
    lab = make_lab(["s1", "client"])
    server = start_server(lab, "s1", load())
    wait_ready(lab, [server])
    env = _env(lab, tmp_path, SERVER="10.77.0.250")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "hosts.cache").write_bytes(b"\x93torn")
    assert ldm_split(run_hook(lab, env)[0]) == [lab.address("s1")]
    lab.stop(server, signal.SIGKILL)
    assert ldm_split(run_hook(lab, env)[0]) == [lab.address("s1")]


def test_with_silent_servers_the_fallback_comes_within_the_deadline(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab(["ghost1", "ghost2", "client"])
    for ghost in ("ghost1", "ghost2"):
        proc = lab.spawn(
            ghost, [sys.executable, SQUATTER, lab.address(ghost), ghost, "--ltsp-txt"], log_name=ghost
        )
        lab.wait_for_log(proc, "registered", 15)
    env = _env(lab, tmp_path, SERVER="10.77.0.250", LDM_LB_TIMEOUT_MS="400")
    for _ in range(3):
        output, elapsed_s = run_hook(lab, env)
        assert ldm_split(output) == ["10.77.0.250"]
        # The bound: the deadline plus 100 ms, interpreter start-up included.
        assert elapsed_s < 0.400 + 0.100, f"hook took {elapsed_s * 1000:.0f} ms"


def test_hosts_reads_the_clients_own_lts_conf_section(lab: Lab, tmp_path: Path) -> None:
    conf = tmp_path / "lts.conf"
    conf.write_text(
        f"[default]\n  LDM_LB_HOSTS = 3\n[{lab.mac('client')}]\n  LIKE = oneserver\n"
        "[oneserver]\n  LDM_LB_HOSTS = 1\n  LDM_LB_ALGORITHM = mac-hash\n"
    )
    proc = lab.run("client", mesh_argv("hosts", "--interface", "eth0", "--lts-conf", str(conf)))
    assert len(proc.stdout.split()) == 1
    other = lab.run("client2", mesh_argv("hosts", "--interface", "eth0", "--lts-conf", str(conf)))
    assert len(other.stdout.split()) == 3  # client2 has no section of its own: [default] applies


def test_status_shows_silent_servers_as_down_and_exits_4(make_lab: LabFactory) -> None:
    lab = make_lab(["ghost1", "s1", "client"])
    ghost = lab.spawn(
        "ghost1", [sys.executable, SQUATTER, lab.address("ghost1"), "ghost1", "--ltsp-txt"], log_name="g"
    )
    lab.wait_for_log(ghost, "registered", 15)
    wait_ready(lab, [start_server(lab, "s1", load())])
    proc = lab.run("client", mesh_argv("status", "--interface", "eth0", "--json"), check=False)
    assert proc.returncode == 4
    statuses = {s["address"]: s["status"] for s in json.loads(proc.stdout)["data"]["servers"]}
    assert statuses == {lab.address("ghost1"): "Down", lab.address("s1"): "Idle"}
