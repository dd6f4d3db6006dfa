"""A network-namespace lab: one bridge and N hosts, for the demo, the tests and the benchmarks.

Each host is a network namespace with `lo` up and an `eth0` (one end of a veth pair whose other
end sits on the lab's bridge). Multicast crosses the bridge as on a real switch. Every name the
lab creates starts with its own prefix (`lm` + 4 hex digits), and it deletes exactly those
names again. The bridge has no address, so nothing in the lab can reach the machine's real
networks, and nothing outside can reach the lab.

A lab records its owner's pid under /run/ltsp-mesh-lab/, so a lab left behind by a killed run
can be swept later without touching anybody else's namespaces.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

from ltsp_mesh.errors import LabError

OWNERS_DIR: Final = Path("/run/ltsp-mesh-lab")
NETNS_ETC: Final = Path("/etc/netns")
SUBNET: Final = "10.77.0"
PREFIX_LEN: Final = 24
PREFIX_PATTERN = re.compile(r"lm[0-9a-f]{4}")
STOP_TIMEOUT_S: Final = 5.0


def capability_problem() -> str | None:
    """Why a lab cannot be built on this machine, or None when it can."""
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, veth, bridge)"
    if shutil.which("ip") is None:
        return "the lab needs the `ip` command (Debian package iproute2)"
    if not Path("/proc/self/ns/net").exists():
        return "this kernel has no network namespaces"
    return None


NEIGHBOUR_SYSCTL: Final = Path("/proc/sys/net/ipv4/neigh/default")


def ensure_neighbour_capacity(hosts: int) -> None:
    """Let the kernel's ARP table hold a lab of `hosts` hosts that all talk to each other.

    Linux keeps one ARP table for every namespace, bounded by gc_thresh3 (1024 by default)
    and settable only in the root namespace. A real LAN has a table per machine; a lab of 180
    hosts on one kernel needs one entry per pair that talked, and beyond the bound new
    neighbours fail ("neighbor table overflow!") and packets silently vanish. Raised when a
    lab needs more, never lowered (another lab may be running).
    """
    needed = {"gc_thresh3": 2 * hosts * hosts, "gc_thresh2": hosts * hosts}
    for name, value in needed.items():
        path = NEIGHBOUR_SYSCTL / name
        try:
            if int(path.read_text()) < value:
                path.write_text(f"{value}\n")
        except (OSError, ValueError) as exc:
            raise LabError(f"cannot raise {path} to {value} for a lab of {hosts} hosts: {exc}") from exc


def _ip(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], input=stdin, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise LabError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


@dataclass
class LabProcess:
    """A process the lab started on one of its hosts."""

    host: str
    argv: list[str]
    popen: subprocess.Popen[bytes]
    log_path: Path | None

    @property
    def pid(self) -> int:
        """The process id (ip netns exec execs the command, so this is the command's pid)."""
        return self.popen.pid

    def log_text(self) -> str:
        """What the process wrote to its log so far."""
        return self.log_path.read_text(errors="replace") if self.log_path else ""


@dataclass
class Lab:
    """A bridge and hosts; use as a context manager, or call create() and destroy()."""

    hosts: Sequence[str]
    prefix: str = field(default_factory=lambda: "lm" + secrets.token_hex(2))
    workdir: Path | None = None
    processes: list[LabProcess] = field(default_factory=list)
    # Environment every command run in the lab gets (under what a call passes itself).
    env: dict[str, str] = field(default_factory=dict)
    _created: bool = False

    def __post_init__(self) -> None:
        if not PREFIX_PATTERN.fullmatch(self.prefix):
            raise ValueError(f"lab prefix {self.prefix!r} is not lm + 4 hex digits")
        if len(set(self.hosts)) != len(self.hosts) or not 1 <= len(self.hosts) <= 200:
            raise ValueError("lab hosts must be 1 to 200 distinct names")
        for host in self.hosts:
            if not re.fullmatch(r"[a-z][a-z0-9]{0,7}", host):
                raise ValueError(f"lab host name {host!r} must be a-z0-9, at most 8 characters")

    # -- names ---------------------------------------------------------------------------
    @property
    def bridge(self) -> str:
        """The bridge interface in the root namespace."""
        return f"{self.prefix}-br"

    def netns(self, host: str) -> str:
        """The network namespace of `host`."""
        self._index(host)
        return f"{self.prefix}-{host}"

    def _index(self, host: str) -> int:
        try:
            return list(self.hosts).index(host) + 1
        except ValueError:
            raise ValueError(f"{host!r} is not a host of this lab ({', '.join(self.hosts)})") from None

    def address(self, host: str) -> str:
        """The IPv4 address of `host` on the lab network."""
        return f"{SUBNET}.{9 + self._index(host)}"

    def mac(self, host: str) -> str:
        """The MAC of `host`'s eth0: locally administered, derived from the prefix."""
        run = self.prefix[2:]
        return f"02:6c:6d:{run[:2]}:{run[2:]}:{self._index(host):02x}"

    @property
    def network(self) -> str:
        """The lab network in CIDR notation."""
        return f"{SUBNET}.0/{PREFIX_LEN}"

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> Lab:
        self.create()
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def create(self) -> None:
        """Build the bridge and every host; on any failure, remove what was built and raise."""
        problem = capability_problem()
        if problem:
            raise LabError(problem)
        sweep_stale()
        ensure_neighbour_capacity(len(self.hosts))
        OWNERS_DIR.mkdir(parents=True, exist_ok=True)
        (OWNERS_DIR / self.prefix).write_text(f"{os.getpid()}\n")
        self._created = True
        if self.workdir is not None:
            # The lab's clients share the machine's file system: keep what they read and write
            # (the trusted host keys, the host cache) in the lab's own directory.
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.env.setdefault("LDM_LB_KNOWN_HOSTS", str(self.workdir / "ssh_known_hosts"))
            self.env.setdefault("LTSP_MESH_CACHE_DIR", str(self.workdir / "cache"))
        try:
            root = [
                f"link add {self.bridge} type bridge mcast_snooping 0 nf_call_iptables 0",
                f"link set {self.bridge} up",
            ]
            for host in self.hosts:
                i = self._index(host)
                outer, inner = f"{self.prefix}-{i}", f"{self.prefix}-{i}p"
                root += [
                    f"netns add {self.netns(host)}",
                    f"link add {outer} type veth peer name {inner}",
                    f"link set {inner} netns {self.netns(host)}",
                    f"link set {outer} master {self.bridge} up",
                ]
            _ip("-batch", "-", stdin="\n".join(root) + "\n")
            for host in self.hosts:
                inner = f"{self.prefix}-{self._index(host)}p"
                inside = [
                    f"link set {inner} name eth0 address {self.mac(host)}",
                    "link set eth0 addrgenmode none",  # no IPv6 link-local chatter
                    f"addr add {self.address(host)}/{PREFIX_LEN} dev eth0",
                    "link set eth0 up",
                    "link set lo up",
                ]
                _ip("-n", self.netns(host), "-batch", "-", stdin="\n".join(inside) + "\n")
        except BaseException:
            self.destroy()
            raise

    def destroy(self) -> None:
        """Stop every process, delete every namespace and the bridge; raise if any is left."""
        if not self._created:
            return
        for proc in list(self.processes):
            self.stop(proc)
        for host in self.hosts:
            _kill_namespace_pids(self.netns(host))
        remove_by_prefix(self.prefix)
        self._created = False
        leftovers = names_with_prefix(self.prefix)
        if leftovers:
            raise LabError(f"lab {self.prefix} could not remove: {', '.join(leftovers)}")

    # -- running things ------------------------------------------------------------------
    def exec_argv(self, host: str, argv: Sequence[str]) -> list[str]:
        """The argv that runs `argv` inside `host`'s namespace."""
        return ["ip", "netns", "exec", self.netns(host), *argv]

    def run(
        self,
        host: str,
        argv: Sequence[str],
        *,
        timeout_s: float = 30.0,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` on `host` to completion; raise LabError if it fails and `check` is set."""
        try:
            proc = subprocess.run(
                self.exec_argv(host, argv),
                capture_output=True,
                text=True,
                timeout=timeout_s,
                env=_environment({**self.env, **(env or {})}),
            )
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"on {host}: {' '.join(argv)} ran past {timeout_s} s") from exc
        if check and proc.returncode != 0:
            raise LabError(
                f"on {host}: {' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()[-800:]}"
            )
        return proc

    def spawn(
        self,
        host: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log_name: str | None = None,
    ) -> LabProcess:
        """Start `argv` on `host` in the background; its output goes to a log in the workdir."""
        log_path: Path | None = None
        out: IO[bytes] | int = subprocess.DEVNULL
        if self.workdir is not None:
            self.workdir.mkdir(parents=True, exist_ok=True)
            log_path = self.workdir / f"{log_name or host}.log"
            out = log_path.open("wb")
        try:
            popen = subprocess.Popen(
                self.exec_argv(host, argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=_environment({**self.env, **(env or {})}),
                start_new_session=True,
            )
        finally:
            if not isinstance(out, int):
                out.close()
        proc = LabProcess(host=host, argv=list(argv), popen=popen, log_path=log_path)
        self.processes.append(proc)
        return proc

    def stop(self, proc: LabProcess, sig: int = signal.SIGTERM, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """Signal `proc` by pid, wait for it (SIGKILL after `timeout_s`); return its exit status."""
        if proc.popen.poll() is None:
            try:
                os.kill(proc.pid, sig)
                proc.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.popen.wait(timeout=timeout_s)
            except ProcessLookupError:
                pass
        if proc in self.processes:
            self.processes.remove(proc)
        return proc.popen.wait()

    def wait_for_log(self, proc: LabProcess, text: str, timeout_s: float) -> None:
        """Wait until `proc`'s log contains `text`; raise LabError on exit or timeout."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if text in proc.log_text():
                return
            if proc.popen.poll() is not None:
                raise LabError(
                    f"{' '.join(proc.argv)} on {proc.host} exited early:\n{proc.log_text()[-2000:]}"
                )
            time.sleep(0.05)
        raise LabError(
            f"{text!r} did not appear in {proc.host}'s log within {timeout_s} s:\n{proc.log_text()[-2000:]}"
        )


def mesh_argv(*args: str) -> list[str]:
    """The argv of an `ltsp-mesh` command run with this very interpreter."""
    return [sys.executable, "-m", "ltsp_mesh", *args]


def _environment(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def _kill_namespace_pids(netns: str) -> None:
    listed = _ip("netns", "pids", netns, check=False)
    for pid in listed.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def names_with_prefix(prefix: str) -> list[str]:
    """Namespaces and links on this machine whose names start with `prefix`-."""
    spaces = [line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line.strip()]
    links = [
        line.split(":")[1].strip().split("@")[0] for line in _ip("-o", "link", "show").stdout.splitlines()
    ]
    return [n for n in spaces + links if n.startswith(prefix + "-")]


def remove_by_prefix(prefix: str) -> None:
    """Delete every namespace and link named `prefix`-*, and the owner record."""
    if not PREFIX_PATTERN.fullmatch(prefix):
        raise ValueError(f"refusing to remove names with prefix {prefix!r}")
    for name in names_with_prefix(prefix):
        _kill_namespace_pids(name)
        _ip("netns", "del", name, check=False)
        _ip("link", "del", name, check=False)
    # A namespace's own /etc files (`ip netns exec` bind-mounts /etc/netns/NAME/*, e.g. a
    # resolv.conf pointing at the lab's DNS server; see lab/routed.py).
    for etc in NETNS_ETC.glob(f"{prefix}-*") if NETNS_ETC.is_dir() else ():
        shutil.rmtree(etc, ignore_errors=True)
    (OWNERS_DIR / prefix).unlink(missing_ok=True)


def sweep_stale() -> list[str]:
    """Remove labs whose owner process is gone; return their prefixes."""
    swept = []
    if OWNERS_DIR.is_dir():
        for record in OWNERS_DIR.iterdir():
            if not PREFIX_PATTERN.fullmatch(record.name):
                continue
            try:
                owner = int(record.read_text().strip())
                os.kill(owner, 0)
                continue  # owner alive: not ours to touch
            except (ValueError, ProcessLookupError):
                pass
            except PermissionError:
                continue
            remove_by_prefix(record.name)
            swept.append(record.name)
    return swept
