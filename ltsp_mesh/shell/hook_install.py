"""Installing the LDM get_hosts hook into a thin-client image (a chroot directory).

The hook is a POSIX sh script that asks a mesh server with nc (DESIGN.md: the thin client runs
no Python), so installing it is copying one file to two paths; what is left to check is that
the image has the two things the hook runs with.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Final

from ltsp_mesh.errors import ConfigError

# LDM 2.2-era images run the first, older LTSP5 images the second (DESIGN.md).
HOOK_PATHS: Final = ("usr/share/ltsp/get_hosts", "usr/lib/ltsp/get_hosts")
BACKUP_SUFFIX: Final = ".before-ltsp-mesh"
# What the hook runs with in the image: LDM runs it with /bin/sh, and it talks to the brokers
# with nc, a command of netcat-openbsd or netcat-traditional, or busybox's applet.
SHELL_PATH: Final = "bin/sh"
NC_PATHS: Final = ("bin/nc", "usr/bin/nc", "bin/busybox")
# The kernel's own limit on links followed in one lookup: more is a loop.
_MAX_LINKS: Final = 40


@dataclass(frozen=True, slots=True)
class Installed:
    """What happened at one hook path."""

    path: Path
    action: str  # "installed", "unchanged", "replaced"
    backup: Path | None = None


def hook_source() -> bytes:
    """The hook script shipped with this package."""
    return resources.files("ltsp_mesh").joinpath("hooks/get_hosts").read_bytes()


def install(chroot: Path) -> list[Installed]:
    """Install the hook at both LDM paths in `chroot`; keep a different existing hook as a backup."""
    if not chroot.is_dir():
        raise ConfigError(f"{chroot} is not a directory (pass the image's root, e.g. /opt/ltsp/i386)")
    if not (chroot / "bin").exists() and not (chroot / "usr" / "bin").exists():
        raise ConfigError(f"{chroot} does not look like a client image: it has no bin/ or usr/bin/")
    script = hook_source()
    done = []
    for relative in HOOK_PATHS:
        path = chroot / relative
        backup = None
        if path.is_symlink() or path.exists():
            # The same hook, to be left alone: ltsp-mesh-hook's files, or the links to its own
            # copy that ltsp-mesh before 0.2.0 put there.
            if path.is_file() and path.read_bytes() == script:
                if not path.is_symlink():
                    os.chmod(path, 0o755)
                done.append(Installed(path, "unchanged"))
                continue
            backup = path.with_name(path.name + BACKUP_SUFFIX)
            if backup.exists() or backup.is_symlink():
                raise ConfigError(
                    f"{path} differs from ltsp-mesh's hook and {backup} already exists; "
                    "move one of them away first"
                )
            path.rename(backup)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(script)
        os.chmod(tmp, 0o755)
        tmp.replace(path)
        done.append(Installed(path, "replaced" if backup else "installed", backup))
    return done


def resolve_in_image(chroot: Path, relative: str) -> Path | None:
    """Where `relative` leads inside the image `chroot`, following links as the image would.

    An image's links are absolute within the image (bin/nc -> /etc/alternatives/nc ->
    /bin/nc.openbsd, or merged /usr's bin -> usr/bin): followed on this machine, they would
    find the server's own files instead. None when the path is not in the image, or loops.
    """
    pending = [part for part in PurePosixPath(relative).parts if part not in ("/", ".")]
    current = chroot
    links = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if current != chroot:  # the image's root is its own parent, as for any process in it
                current = current.parent
            continue
        candidate = current / part
        if candidate.is_symlink():
            links += 1
            if links > _MAX_LINKS:
                return None
            target = PurePosixPath(os.readlink(candidate))
            if target.is_absolute():
                current = chroot
            pending[:0] = [p for p in target.parts if p not in ("/", ".")]
            continue
        if not candidate.exists():
            return None
        current = candidate
    return current


def _runs_in_image(chroot: Path, relative: str) -> bool:
    path = resolve_in_image(chroot, relative)
    return path is not None and path.is_file() and os.access(path, os.X_OK)


def image_problems(chroot: Path) -> list[str]:
    """What the image lacks for the hook to work, each with its fix; empty when nothing.

    Without /bin/sh LDM cannot run the hook at all; without nc the hook can ask no broker and
    always prints its fallback, which silently turns balancing off. Neither is an error for
    install-hooks: the admin may well install them after the hook.
    """
    name = chroot.name
    problems = []
    if not _runs_in_image(chroot, SHELL_PATH):
        problems.append(
            f"{chroot} has no /bin/sh, so LDM cannot run the hook there; "
            f"install a shell in the image: ltsp-chroot -a {name} apt-get install dash"
        )
    if not any(_runs_in_image(chroot, relative) for relative in NC_PATHS):
        places = ", ".join(f"/{relative}" for relative in NC_PATHS)
        problems.append(
            f"{chroot} has no nc (none of {places}): the hook asks the mesh servers with nc, and "
            "without it always falls back to LDM_LB_FALLBACK / $SERVER, so no login is balanced; "
            f"install it in the image: ltsp-chroot -a {name} apt-get install netcat-openbsd"
        )
    return problems


def rebuild_hint(chroot: Path) -> str:
    """How to get the changed image to the clients."""
    name = chroot.name
    if shutil.which("ltsp-update-image"):
        return f"rebuild the image so clients get it: ltsp-update-image {name}"
    return f"rebuild the image so clients get it (LTSP5: ltsp-update-image {name}; NBD images need it, NFS ones not)"
