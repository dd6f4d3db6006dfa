"""Thin-client roots for the get_hosts hook: what an old LDM image gives it, and nothing more.

A real thin client has no Python and none of this machine's tools (DESIGN.md), so testing the
hook with the machine's own /bin/sh would prove little. Each root built here holds just what an
LTSP5 image may offer the hook:

- `busybox`: Debian's busybox-static alone (/bin/busybox and its applet links): sh, nc, sleep,
  mkdir, logger are all applets; no libc, no other file.
- `openbsd`: dash as /bin/sh and netcat-openbsd as nc, plus coreutils' sleep and mkdir and
  bsdutils' logger, each with the shared libraries ldd names for it.
- `traditional`: the same with netcat-traditional.

Each root has the hook at both LDM paths, /proc (for /proc/uptime), the sysfs of one lab host's
network namespace (so /sys/class/net shows that host's interfaces and MAC), /dev/null, and
/var/run. /dev/log is left for a test to bind as an AF_UNIX datagram socket (ClientRoot.
listen_log): what the hook logs arrives there. Every mount is undone on the way out, whatever
happened (client_roots is a context manager).

run_hook runs the installed hook as LDM would, chrooted inside a lab host's namespace, with an
explicit environment, and times it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ltsp_mesh.errors import LabError
from ltsp_mesh.lab.netns import Lab
from ltsp_mesh.shell import hook_install

FLAVOURS: Final = ("busybox", "openbsd", "traditional")
# The hook's path in the image, as LDM 2.2-era images run it; it is also at the older path.
HOOK_IN_ROOT: Final = "/" + hook_install.HOOK_PATHS[0]
# The Debian packages each flavour is built from (for the message when one is missing).
DEBIAN_PACKAGES: Final = {
    "busybox": "busybox-static",
    "openbsd": "dash netcat-openbsd coreutils bsdutils",
    "traditional": "dash netcat-traditional coreutils bsdutils",
}
# What the hook runs besides the shell and nc, where present (see chroot_hooks/get_hosts).
_HELPERS: Final = ("sleep", "mkdir", "logger")
_NC: Final = {"openbsd": "nc.openbsd", "traditional": "nc.traditional"}
# LDM's PATH on a thin client; the hook sets its own anyway.
LDM_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_LDD_LINE = re.compile(r"(?:\S+ => )?(/\S+) \(0x[0-9a-f]+\)")


def missing_tools(flavours: Sequence[str] = FLAVOURS) -> list[str]:
    """The commands this machine lacks to build `flavours` (empty when it has them all)."""
    needed = ["chroot", "nsenter", "mount", "umount"]
    for flavour in flavours:
        if flavour == "busybox":
            needed.append("busybox")
        else:
            needed += ["dash", _NC[flavour], "ldd", *_HELPERS]
    return sorted({tool for tool in needed if shutil.which(tool) is None})


@dataclass(frozen=True)
class ClientRoot:
    """One built thin-client root."""

    flavour: str
    path: Path

    @property
    def dev_log(self) -> Path:
        """Where the hook's logger sends its messages (/dev/log inside the root)."""
        return self.path / "dev" / "log"

    @property
    def cache_dir(self) -> Path:
        """The hook's cache dir inside the root (its default, /var/run/ltsp-mesh)."""
        return self.path / "var" / "run" / "ltsp-mesh"

    @property
    def last_good_list(self) -> Path:
        """The last good list the hook keeps."""
        return self.cache_dir / "hosts"

    def listen_log(self) -> socket.socket:
        """A datagram socket bound at the root's /dev/log: every message logger sends arrives here.

        The caller closes it; the socket file stays until the next listen_log or the root's removal.
        """
        self.dev_log.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(str(self.dev_log))
            os.chmod(self.dev_log, 0o666)
        except OSError:
            sock.close()
            raise
        return sock


@dataclass
class _Mounts:
    """The mounts made so far, undone in reverse order."""

    done: list[Path] = field(default_factory=list)

    def mount(self, argv: Sequence[str], target: Path) -> None:
        proc = subprocess.run([*argv, str(target)], capture_output=True, text=True, timeout=30, check=False)
        if proc.returncode != 0:
            raise LabError(f"{' '.join(argv)} {target} failed: {proc.stderr.strip()}")
        self.done.append(target)

    def undo(self) -> list[str]:
        problems = []
        while self.done:
            target = self.done.pop()
            proc = subprocess.run(
                ["umount", str(target)], capture_output=True, text=True, timeout=30, check=False
            )
            if proc.returncode != 0:
                # Busy (a process still in the root): detach it now, it goes when they do.
                lazy = subprocess.run(
                    ["umount", "-l", str(target)], capture_output=True, text=True, timeout=30, check=False
                )
                if lazy.returncode != 0:
                    problems.append(f"{target}: {proc.stderr.strip()} / {lazy.stderr.strip()}")
        return problems


def _copy_file(source: Path, root: Path, inside: str) -> None:
    """Copy `source` (links followed) to `inside` (absolute, within the root)."""
    target = root / inside.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        shutil.copy2(source.resolve(), target)


def _shared_libraries(binary: Path) -> list[str]:
    """The shared libraries `binary` loads, as the paths ldd names (none for a static binary)."""
    proc = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        return []  # "not a dynamic executable"
    return [match.group(1) for line in proc.stdout.splitlines() if (match := _LDD_LINE.search(line.strip()))]


def _install_binary(root: Path, name: str, inside: str) -> None:
    """Copy the command `name` to `inside` in the root, with every shared library it needs."""
    found = shutil.which(name)
    if found is None:
        raise LabError(f"cannot build a client root: no {name} on this machine")
    _copy_file(Path(found), root, inside)
    for library in _shared_libraries(Path(found)):
        _copy_file(Path(library), root, library)


def _skeleton(root: Path, hook: bytes) -> None:
    for directory in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "var/run", "etc"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    (root / "dev" / "null").touch()  # the mount point of /dev/null's bind mount
    for relative in hook_install.HOOK_PATHS:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(hook)
        os.chmod(path, 0o755)


def build_busybox_root(root: Path, hook: bytes) -> ClientRoot:
    """A root with Debian's busybox-static alone: /bin/busybox and a link for each applet."""
    _skeleton(root, hook)
    _install_binary(root, "busybox", "/bin/busybox")
    listed = subprocess.run(
        [str(root / "bin" / "busybox"), "--list-full"], capture_output=True, text=True, timeout=30, check=True
    )
    for applet in listed.stdout.split():
        link = root / applet
        if applet == "bin/busybox" or link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/bin/busybox")
    return ClientRoot("busybox", root)


def build_dash_root(root: Path, hook: bytes, flavour: str) -> ClientRoot:
    """A root with dash as /bin/sh, `flavour`'s nc (openbsd or traditional) and the hook's helpers."""
    if flavour not in _NC:
        raise ValueError(f"no dash root of flavour {flavour!r}")
    _skeleton(root, hook)
    _install_binary(root, "dash", "/bin/dash")
    (root / "bin" / "sh").symlink_to("dash")
    nc = _NC[flavour]
    _install_binary(root, nc, f"/bin/{nc}")
    (root / "bin" / "nc").symlink_to(nc)  # what Debian's alternatives make of it
    for helper in _HELPERS:
        _install_binary(root, helper, f"/usr/bin/{helper}" if helper == "logger" else f"/bin/{helper}")
    return ClientRoot(flavour, root)


def _mount_system(mounts: _Mounts, root: ClientRoot, netns: str) -> None:
    mounts.mount(["mount", "-t", "proc", "proc"], root.path / "proc")
    # sysfs shows the interfaces of the namespace it is mounted from: mount it from the lab
    # host's (nsenter enters only that network namespace, so the mount is made here).
    mounts.mount(["nsenter", f"--net=/run/netns/{netns}", "mount", "-t", "sysfs", "sysfs"], root.path / "sys")
    mounts.mount(["mount", "--bind", "/dev/null"], root.path / "dev" / "null")


@contextlib.contextmanager
def client_roots(
    directory: Path,
    lab: Lab,
    host: str,
    flavours: Sequence[str] = FLAVOURS,
    hook: bytes | None = None,
) -> Iterator[dict[str, ClientRoot]]:
    """Build a root of each of `flavours` under `directory`, seeing `host`'s interfaces.

    `hook` defaults to the packaged get_hosts. Yields the roots by flavour; every mount is
    undone on exit, also when building or the caller failed.
    """
    unknown = [f for f in flavours if f not in FLAVOURS]
    if unknown:
        raise ValueError(f"unknown client root flavours: {unknown}")
    script = hook if hook is not None else hook_install.hook_source()
    mounts = _Mounts()
    roots: dict[str, ClientRoot] = {}
    try:
        for flavour in flavours:
            path = directory / flavour
            if path.exists():
                raise LabError(f"{path} already exists: a client root is built in a fresh directory")
            path.mkdir(parents=True)
            if flavour == "busybox":
                root = build_busybox_root(path, script)
            else:
                root = build_dash_root(path, script, flavour)
            _mount_system(mounts, root, lab.netns(host))
            roots[flavour] = root
        yield roots
    except BaseException:
        mounts.undo()  # as far as it goes: the error that got here is the one to see
        raise
    problems = mounts.undo()
    if problems:
        raise LabError("could not unmount: " + "; ".join(problems))


@dataclass(frozen=True)
class HookRun:
    """One run of the hook: what LDM would have read, and how long it took."""

    stdout: str
    stderr: str
    returncode: int
    wall_s: float


def run_hook(
    lab: Lab,
    host: str,
    root: ClientRoot,
    env: Mapping[str, str],
    timeout_s: float = 10.0,
    path: str = HOOK_IN_ROOT,
) -> HookRun:
    """Run the root's hook (at `path` inside it) as LDM does: chrooted, on `host`, with `env`.

    `env` is the hook's whole environment (PATH defaults to LDM's): nothing of this process's
    leaks in. The wall time includes `ip netns exec` and `chroot` (a few ms).
    """
    argv = lab.exec_argv(host, [shutil.which("chroot") or "chroot", str(root.path), path])
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            argv,
            env={"PATH": LDM_PATH, **env},
            capture_output=True,
            text=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"the hook in {root.path} ran past {timeout_s} s") from exc
    return HookRun(proc.stdout, proc.stderr, proc.returncode, time.perf_counter() - started)
