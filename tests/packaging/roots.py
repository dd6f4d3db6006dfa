"""Debian roots for the install tests: debootstrap minbase roots per release, cached, used through overlays.

A root takes about a minute to debootstrap and its build tools another, so both are cached in
CACHE (keyed by release and UTC date, made under a lock, so concurrent runs on one machine
share them and a new day gets the archive's new packages) and never written to: every use
mounts an overlay with a scratch upper directory on top, removed afterwards. The .debs apt
downloads are cached too, per release. A fresh machine builds everything from scratch.

Commands run in a root through `unshare --mount` + chroot, with /proc, /sys and /dev mounted
inside that private mount namespace: the mounts end with the command, also when it fails or is
killed, and nothing leaks into the machine's mount table. Only apt and debootstrap reach the
network, fetching from the Debian archive apt's own sources name on this machine.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

CACHE: Final = Path(os.environ.get("LTSP_MESH_TEST_CACHE", "/var/cache/ltsp-mesh-tests"))
# Roots older than this are removed when a new one is made for the same release.
KEEP_DAYS: Final = 2
APT_SOURCES: Final = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
DEBOOTSTRAP_TIMEOUT_S: Final = 900
APT_TIMEOUT_S: Final = 900
# A clean environment inside the roots: nothing of this machine's venv or locale leaks in.
ROOT_ENV: Final = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
}
# Mounts /proc, /sys (of the caller's network namespace) and /dev in a private mount
# namespace, then runs the command chrooted: "$1" is the root, the rest is the command.
_IN_ROOT: Final = (
    'set -e; r=$1; shift; mount -t proc proc "$r/proc"; mount -t sysfs sysfs "$r/sys"; '
    'mount --rbind /dev "$r/dev"; exec chroot "$r" "$@"'
)


class RootError(Exception):
    """A root could not be made or a command in it failed."""


@dataclass
class Timings:
    """How long each step took, in seconds, written to reports/ for the figures."""

    path: Path
    steps: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block under `name` and save the figures."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.record(name, time.monotonic() - started)

    def record(self, name: str, seconds: float) -> None:
        """Save `seconds` under `name`."""
        self.steps[name] = round(seconds, 1)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.steps, indent=2) + "\n")


def _run(
    argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(env or ROOT_ENV),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RootError(f"{' '.join(argv[:6])} ... ran past {timeout} s") from exc


def _checked(done: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    if done.returncode != 0:
        raise RootError(f"{what} exited {done.returncode}:\n{(done.stdout + done.stderr)[-3000:]}")
    return done


# --- the archive ----------------------------------------------------------------------------


def _source_entries() -> Iterator[tuple[list[str], list[str]]]:
    """(URIs, suites) of every `deb` entry in apt's sources, one-line and deb822 alike."""
    files: list[Path] = []
    for source in APT_SOURCES:
        if source.is_dir():
            files += sorted(p for p in source.iterdir() if p.suffix in (".list", ".sources"))
        elif source.is_file():
            files.append(source)
    for path in files:
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line or line[:1].isspace():
                        continue
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.strip()
                if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
                    yield fields.get("uris", "").split(), fields.get("suites", "").split()
        else:
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    yield [words[1]], [words[2]]


def host_codename() -> str:
    """This machine's Debian codename (bookworm, trixie, ...)."""
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.partition("=")[2].strip().strip('"')
    raise RootError("/etc/os-release names no VERSION_CODENAME: this is not a Debian release")


def archive_mirror() -> str:
    """The Debian archive apt uses on this machine: the source of its own release's main suite."""
    codename = host_codename()
    for uris, suites in _source_entries():
        if codename in suites and uris:
            return uris[0]
    raise RootError(f"apt's sources name no archive for {codename} (looked in /etc/apt/sources.list*)")


# --- the cache ------------------------------------------------------------------------------


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    """Hold the cache's lock `name` (flock): one run makes or changes a cached root at a time."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _today() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%d")


def _drop_old(release: str, keep: Path) -> None:
    oldest = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=KEEP_DAYS)).strftime("%Y%m%d")
    for path in CACHE.glob(f"{release}-*"):
        day = path.name.removeprefix(f"{release}-")
        if path != keep and path.is_dir() and day.isdigit() and day < oldest:
            shutil.rmtree(path, ignore_errors=True)


def base_root(release: str, timings: Timings) -> Path:
    """The minbase root of `release` for today, made with debootstrap unless cached."""
    home = CACHE / f"{release}-{_today()}"
    base = home / "base"
    with locked(release):
        if (home / "base.done").exists():
            return base
        _drop_old(release, home)
        shutil.rmtree(base, ignore_errors=True)
        base.parent.mkdir(parents=True, exist_ok=True)
        with timings.step(f"debootstrap {release}"):
            _checked(
                _run(
                    ["debootstrap", "--variant=minbase", release, str(base), archive_mirror()],
                    timeout=DEBOOTSTRAP_TIMEOUT_S,
                    env={**ROOT_ENV, "PATH": os.environ.get("PATH", ROOT_ENV["PATH"])},
                ),
                f"debootstrap {release}",
            )
        # apt inside the root resolves names with this machine's resolver.
        shutil.copy("/etc/resolv.conf", base / "etc/resolv.conf")
        (home / "base.done").touch()
    return base


def layer(release: str, name: str, install: Sequence[str], timings: Timings) -> list[Path]:
    """The base root of `release` with `install` (apt arguments) added, as overlay lower dirs.

    The layer is an overlay upper directory kept in the cache: top first, as lowerdir= wants.
    """
    base = base_root(release, timings)
    home = base.parent
    upper = home / name
    with locked(release):
        if not (home / f"{name}.done").exists():
            shutil.rmtree(upper, ignore_errors=True)
            scratch = home / f"{name}.work"
            shutil.rmtree(scratch, ignore_errors=True)
            with timings.step(f"{release} layer {name}"), overlay([base], scratch, upper=upper) as root:
                apt(root, release, "install", "-y", "--no-install-recommends", *install)
            shutil.rmtree(scratch, ignore_errors=True)
            (home / f"{name}.done").touch()
    return [upper, base]


# --- overlays and commands ------------------------------------------------------------------


@contextlib.contextmanager
def overlay(lower: Sequence[Path], scratch: Path, upper: Path | None = None) -> Iterator[Path]:
    """`lower` (top first) with a writable layer on top, mounted under `scratch`; unmounted after."""
    upper = upper or scratch / "upper"
    work, merged = scratch / "work", scratch / "root"
    for path in (upper, work, merged):
        path.mkdir(parents=True, exist_ok=True)
    options = f"lowerdir={':'.join(map(str, lower))},upperdir={upper},workdir={work}"
    _checked(
        _run(["mount", "-t", "overlay", "overlay", "-o", options, str(merged)], timeout=60), "mount overlay"
    )
    try:
        yield merged
    finally:
        if _run(["umount", str(merged)], timeout=60).returncode != 0:
            # Still busy (a process of a failed test): detach it now, it goes when they do.
            _run(["umount", "--lazy", str(merged)], timeout=60)
        shutil.rmtree(work, ignore_errors=True)


def in_root_argv(root: Path, argv: Sequence[str]) -> list[str]:
    """The argv that runs `argv` chrooted in `root`, with its own /proc, /sys and /dev mounted
    in a private mount namespace (gone with the command), in a clean environment."""
    env = [f"{key}={value}" for key, value in ROOT_ENV.items()]
    return ["unshare", "--mount", "sh", "-c", _IN_ROOT, "sh", str(root), "env", "-i", *env, *argv]


def chroot(root: Path, argv: Sequence[str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `argv` in `root` to completion; the caller judges the exit status."""
    return _run(in_root_argv(root, argv), timeout=timeout)


def apt(root: Path, release: str, *args: str) -> subprocess.CompletedProcess[str]:
    """apt-get in `root`, its downloads kept in the cache for the next run; RootError if it fails."""
    archives = CACHE / "apt-archives" / release
    (archives / "partial").mkdir(parents=True, exist_ok=True)
    target = root / "var/cache/apt/archives"
    target.mkdir(parents=True, exist_ok=True)
    # One apt at a time per release cache (apt would refuse the second), bound into the root
    # for this command only, inside the command's own mount namespace.
    script = f'mount --bind "{archives}" "{target}"; exec "$@"'
    # --force-unsafe-io: no fsync per file; a root lives for one test run or sits in the cache.
    apt_get = ["apt-get", "-q", "-o", "DPkg::Options::=--force-unsafe-io", *args]
    argv = ["unshare", "--mount", "sh", "-c", script, "sh", *in_root_argv(root, apt_get)]
    with locked(f"apt-{release}"):
        return _checked(
            _run(argv, timeout=APT_TIMEOUT_S, env={**ROOT_ENV, "PATH": os.environ["PATH"]}),
            f"apt-get {' '.join(args)} in {release}",
        )


# --- a booted root --------------------------------------------------------------------------


def _leader(nspawn_pid: int) -> int | None:
    """The container's PID 1 as this machine sees it: the descendant of systemd-nspawn whose
    innermost pid is 1."""
    pending = [nspawn_pid]
    while pending:
        pid = pending.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        nspid = re.search(r"^NSpid:\s+(.*)$", status, flags=re.MULTILINE)
        if pid != nspawn_pid and nspid and nspid.group(1).split()[-1] == "1":
            return pid
        pending += [int(child) for child in children]
    return None


@dataclass
class Booted:
    """A root booted with its own systemd (systemd-nspawn) in a lab host's network namespace."""

    popen: subprocess.Popen[bytes]
    leader: int
    started: float = field(default_factory=time.monotonic)

    @property
    def boot_s(self) -> float:
        """Seconds from starting systemd-nspawn until now."""
        return time.monotonic() - self.started

    def run(
        self, argv: Sequence[str], *, timeout: float = 60, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` in the container (all its namespaces and root) to completion."""
        assignments = [f"{k}={v}" for k, v in {**ROOT_ENV, **(env or {})}.items()]
        return _run(
            ["nsenter", "--target", str(self.leader), "--all", "env", "-i", *assignments, *argv],
            timeout=timeout,
            env={**ROOT_ENV, "PATH": os.environ["PATH"]},
        )

    def journal(self, unit: str) -> str:
        """What `unit` logged in this boot."""
        return self.run(["journalctl", "-b", "-o", "cat", "--no-pager", "-u", unit]).stdout


@contextlib.contextmanager
def booted(
    root: Path, netns: str, log: Path, *, arguments: Sequence[str] = (), boot_timeout_s: float = 120
) -> Iterator[Booted]:
    """Boot `root` with systemd-nspawn in network namespace `netns`; shut it down after.

    `arguments` go to the container's systemd, which takes them as its kernel command line.
    """
    argv = [
        "systemd-nspawn",
        "--quiet",
        "--register=no",
        "--keep-unit",
        "--console=passive",
        # --resolv-conf=off: the root's own resolv.conf (the lab's DNS server), not this machine's.
        "--resolv-conf=off",
        f"--directory={root}",
        f"--network-namespace-path=/run/netns/{netns}",
        "--boot",
        *arguments,
    ]
    started = time.monotonic()
    with log.open("wb") as out:
        popen = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    leader: int | None = None
    try:
        end = time.monotonic() + boot_timeout_s
        while leader is None:
            if popen.poll() is not None or time.monotonic() > end:
                raise RootError(
                    f"systemd-nspawn did not start {root}:\n{log.read_text(errors='replace')[-2000:]}"
                )
            leader = _leader(popen.pid)
            time.sleep(0.05)
        container = Booted(popen, leader, started)
        # Until the container's systemd listens, systemctl says "offline"; then "starting" until
        # the boot is done.
        state = ""
        while state not in ("running", "degraded"):
            if popen.poll() is not None or time.monotonic() > end:
                failed = container.run(["systemctl", "--failed", "--no-legend"]).stdout
                raise RootError(f"{root} did not finish booting ({state}); failed units: {failed}")
            time.sleep(0.2)
            state = container.run(["systemctl", "is-system-running"]).stdout.strip()
        yield container
    finally:
        if popen.poll() is None:
            # SIGTERM: nspawn asks the container's systemd to power off cleanly.
            os.kill(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                # Killing the container's PID 1 ends every process in it, then nspawn.
                try:
                    os.kill(leader or popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                os.killpg(popen.pid, signal.SIGKILL)
                popen.wait(timeout=30)
