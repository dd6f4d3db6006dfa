"""Helpers for lab tests: waiting with deadlines, reading a browser's events, probing."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ltsp_mesh.core.ratelimit import RateLimiter
from ltsp_mesh.core.record import Load
from ltsp_mesh.lab.netns import Lab, LabProcess, mesh_argv
from ltsp_mesh.shell.broker.endpoint import REQUESTS_BURST, REQUESTS_PER_SOURCE_PER_S

T = TypeVar("T")
PROBE = str(Path(__file__).with_name("probe.py"))
GIB_KIB = 1024 * 1024


def wait_until(check: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.1) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout_s`."""
    end = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


class BrokerPace:
    """Keeps one lab client's hooks under each broker's per-address request limit.

    A test that runs hooks back to back from one client asks faster than any thin client (one
    request per login screen): past REQUESTS_PER_SOURCE_PER_S a broker answers 429, the hook asks
    the next one, and a test about something else fails by the rate. Each broker is paced at
    80 % of its limit, with the broker's own token bucket.
    """

    def __init__(self) -> None:
        self._buckets = RateLimiter(
            per_source_per_s=0.8 * REQUESTS_PER_SOURCE_PER_S, per_source_burst=0.8 * REQUESTS_BURST
        )

    def wait_for(self, broker: str) -> None:
        """Return when a request to `broker` now stays under its limit."""
        while not self._buckets.allow(broker, time.monotonic()):
            time.sleep(1.0 / REQUESTS_PER_SOURCE_PER_S)


def load(cpus: int = 4, load1: float = 0.0, sessions: int = 0, swapping: bool = False) -> Load:
    """A load reading with plain memory figures."""
    return Load(
        cpus=cpus,
        load1=load1,
        load5=load1,
        load15=load1,
        mem_total_kib=8 * GIB_KIB,
        mem_available_kib=6 * GIB_KIB,
        swap_total_kib=GIB_KIB,
        swap_used_kib=0,
        swapping=swapping,
        sessions=sessions,
    )


def start_browser(lab: Lab, host: str = "client") -> LabProcess:
    """A running `ltsp-mesh browse --json` on `host`."""
    return lab.spawn(host, mesh_argv("browse", "--interface", "eth0", "--json"), log_name=f"browse-{host}")


def events(browser: LabProcess) -> list[dict[str, Any]]:
    """The events the browser printed so far."""
    found = []
    for line in browser.log_text().splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                pass  # a line still being written
    return found


def hosts_json(lab: Lab, host: str = "client") -> dict[str, Any]:
    """`ltsp-mesh hosts --json` on `host`: the data of its envelope."""
    proc = lab.run(host, mesh_argv("hosts", "--interface", "eth0", "--json"), check=False)
    data: dict[str, Any] = json.loads(proc.stdout)["data"]
    return data


def hosts_line(lab: Lab, host: str = "client") -> list[str]:
    """What `ltsp-mesh hosts` prints on `host`, split as LDM splits it (single spaces)."""
    proc = lab.run(host, mesh_argv("hosts", "--interface", "eth0"), check=False)
    assert proc.stdout.count("\n") <= 1, f"hosts printed more than one line: {proc.stdout!r}"
    line = proc.stdout.rstrip("\n")
    return line.split(" ") if line else []


def udp_probe(
    lab: Lab, host: str, address: str, payloads: list[bytes], port: int = 377, timeout_s: float = 0.5
) -> list[dict[str, Any]]:
    """Send `payloads` from `host` to address:port; each result has "sent" and "reply" (hex or None)."""
    proc = lab.run(
        host,
        [sys.executable, PROBE, "udp", address, str(port), str(timeout_s), *[p.hex() for p in payloads]],
        timeout_s=60,
    )
    result: list[dict[str, Any]] = json.loads(proc.stdout)
    return result


def tcp_probe(lab: Lab, host: str, address: str, port: int = 377, timeout_s: float = 3.0) -> dict[str, Any]:
    """Connect from `host` and read until the server closes: {"data": hex, "closed": bool}."""
    proc = lab.run(host, [sys.executable, PROBE, "tcp", address, str(port), str(timeout_s)])
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


SQUATTER = str(Path(__file__).with_name("squatter.py"))


def run_hook(lab: Lab, env: dict[str, str], host: str = "client") -> tuple[str, float]:
    """Run `ltsp-mesh hosts --hook` on `host`; return its stdout and wall time (s).

    The Python client's hook mode, for servers, fat clients and other launchers: the thin
    client's get_hosts script is sh + nc asking a broker, tested in tests/lab/test_hook_sh.py.
    """
    started = time.perf_counter()
    proc = lab.run(host, mesh_argv("hosts", "--hook"), env=env, timeout_s=30)
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, elapsed


def ldm_split(output: str) -> list[str]:
    """What LDM makes of the hook's output: one line, split on single spaces."""
    assert output.endswith("\n") and output.count("\n") == 1, f"not one line: {output!r}"
    line = output[:-1]
    return line.split(" ") if line else []


def pending_of(lab: Lab, server: str, client: str = "client") -> int:
    """The `pend` figure `server` reports now (asked from `client`)."""
    by_address = {s["address"]: s for s in hosts_json(lab, client)["servers"]}
    return int(by_address[lab.address(server)]["record"]["pending"])
