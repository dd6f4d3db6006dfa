"""The status page's scene: three servers with different loads, one draining, and a browser.

Shared by tests/lab/test_status_page.py and the docs' screenshot, so that the picture in
docs/ is the page the test checks:

    python -m ltsp_mesh.lab.status_page docs/status-page.png [--minutes N]   (as root)

builds the lab, lets thin clients log in for N minutes (so the charts have a morning to show),
changes the loads, and saves what chromium shows of app1's page.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ltsp_mesh.core.record import Load
from ltsp_mesh.lab.browser import Browser
from ltsp_mesh.lab.mesh import control_path, set_load, start_server, trust, wait_ready
from ltsp_mesh.lab.netns import Lab, LabProcess, mesh_argv

SERVERS: Final = ("app1", "app2", "app3")
VIEWER: Final = "viewer"
CLIENT: Final = "client"
BROKER_PORT: Final = 378
GIB_KIB: Final = 1024 * 1024


def load(cpus: int, load_per_cpu: float, sessions: int, mem_used: float = 0.4) -> Load:
    """A reading with `load_per_cpu` and `sessions`, memory `mem_used` in use."""
    total = 4 * cpus * GIB_KIB
    return Load(
        cpus=cpus,
        load1=load_per_cpu * cpus,
        load5=load_per_cpu * cpus,
        load15=load_per_cpu * cpus,
        mem_total_kib=total,
        mem_available_kib=int(total * (1 - mem_used)),
        swap_total_kib=GIB_KIB,
        swap_used_kib=0,
        swapping=False,
        sessions=sessions,
    )


# Before: app1 takes logins comfortably, app2 is over LDM_LB_MAX_LOAD (Busy), app3 is drained
# for maintenance. After the change: the rush moved to app1, app2 calmed down.
BEFORE: Final = {"app1": load(8, 0.3, 3), "app2": load(8, 2.6, 9, 0.7), "app3": load(4, 0.1, 0)}
AFTER: Final = {"app1": load(8, 2.8, 10, 0.8), "app2": load(8, 0.4, 4, 0.5), "app3": load(4, 0.1, 0)}
EXPECTED_BEFORE: Final = {"app1": "Idle", "app2": "Busy", "app3": "Draining"}
EXPECTED_AFTER: Final = {"app1": "Busy", "app2": "Idle", "app3": "Draining"}


@dataclass
class Scene:
    """The running lab: its daemons, by host."""

    lab: Lab
    daemons: dict[str, LabProcess]

    def url(self, server: str = "app1", path: str = "/") -> str:
        """The page of `server`'s broker."""
        return f"http://{self.lab.address(server)}:{BROKER_PORT}{path}"

    def set_loads(self, loads: dict[str, Load]) -> None:
        """Give every server new figures (read at its next sample, within a second)."""
        for host, figures in loads.items():
            set_load(self.lab, host, figures)


def hosts() -> list[str]:
    """The lab's hosts: the servers, a browser's host and a thin client's."""
    return [*SERVERS, VIEWER, CLIENT]


def start(lab: Lab) -> Scene:
    """Start the servers with BEFORE's loads (known to each other: known-hosts trust), app3 drained."""
    trust(lab, *SERVERS)
    daemons = {
        h: start_server(lab, h, BEFORE[h], args=["--hostname", h, "--claim-ttl", "600"]) for h in SERVERS
    }
    wait_ready(lab, list(daemons.values()))
    lab.run(
        "app3",
        mesh_argv(
            "drain", "on", "--reason", "maintenance", "--control-socket", str(control_path(lab, "app3"))
        ),
    )
    return Scene(lab, daemons)


def statuses(text: str) -> dict[str, str]:
    """Each server's status as the page's text shows it (its table row: name, address, status)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        words = line.split()
        for server in SERVERS:
            if server in words:
                after = words[words.index(server) + 1 :]
                status = next(
                    (w for w in after if w in {"Idle", "Busy", "Swapped", "Draining", "Down"}), None
                )
                if status and server not in found:
                    found[server] = status
    return found


def recommended(text: str) -> str | None:
    """The server the page recommends now."""
    for line in text.splitlines():
        if "recommended now:" in line:
            rest = line.split("recommended now:", 1)[1].split()
            return rest[0] if rest else None
    return None


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll `check` until true; raise naming `what` after `timeout_s`."""
    end = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.2)


def ask_broker(lab: Lab, times: int, server: str = "app1") -> None:
    """`times` thin-client requests from the client host to `server`'s broker."""
    lab.run(
        CLIENT,
        [
            sys.executable,
            "-m",
            "ltsp_mesh.lab.bench.broker_load",
            lab.address(server),
            str(BROKER_PORT),
            str(times),
            "5",
            lab.address(CLIENT),
        ],
        timeout_s=60,
    )


def shoot(out: Path, minutes: float) -> None:
    """Build the scene, play a short morning, and save app1's page as `out`."""
    with (
        tempfile.TemporaryDirectory(prefix="ltsp-mesh-shot-") as tmp,
        Lab(hosts=hosts(), workdir=Path(tmp)) as lab,
    ):
        scene = start(lab)
        steps = max(1, int(minutes * 4))
        for step in range(steps):  # sessions grow on app1 and app2 as classes log in
            share = (step + 1) / steps
            scene.set_loads(
                {
                    "app1": load(8, 0.3 + 0.4 * share, round(1 + 2 * share)),
                    "app2": load(8, 1.2 + 1.4 * share, round(3 + 6 * share), 0.7),
                    "app3": BEFORE["app3"],
                }
            )
            ask_broker(lab, 2)
            time.sleep(15)
        scene.set_loads(AFTER)
        time.sleep(3.0)  # every daemon samples its new load (each second) before the last logins
        ask_broker(lab, 3)
        with Browser(lab, VIEWER, width=1400, height=760) as browser:
            browser.open(scene.url())
            wait_for(lambda: statuses(browser.text()) == EXPECTED_AFTER, 30, "the page to show the new loads")
            browser.screenshot(out)


def main(argv: list[str] | None = None) -> int:
    """`python -m ltsp_mesh.lab.status_page OUT.png [--minutes N]`."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--minutes", type=float, default=3.0, help="how long thin clients log in first")
    args = parser.parse_args(argv)
    shoot(args.out, args.minutes)
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
