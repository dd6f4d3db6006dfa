"""Installing the LDM get_hosts hook into a thin-client image (a chroot directory)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final

from ltsp_mesh.errors import ConfigError

# LDM 2.2-era images run the first, older LTSP5 images the second (DESIGN.md).
HOOK_PATHS: Final = ("usr/share/ltsp/get_hosts", "usr/lib/ltsp/get_hosts")
BACKUP_SUFFIX: Final = ".before-ltsp-mesh"


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
            # The Debian package installs these as relative links to its own copy: the same
            # hook, to be left alone.
            if path.is_file() and path.read_bytes() == script:
                if not path.is_symlink():
                    os.chmod(path, 0o755)
                done.append(Installed(path, "unchanged"))
                continue
            backup = path.with_name(path.name + BACKUP_SUFFIX)
            if backup.exists() or backup.is_symlink():
                raise ConfigError(f"{path} differs from ltsp-mesh's hook and {backup} already exists; "
                                  "move one of them away first")  # fmt: skip
            path.rename(backup)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(script)
        os.chmod(tmp, 0o755)
        tmp.replace(path)
        done.append(Installed(path, "replaced" if backup else "installed", backup))
    return done


def image_has_ltsp_mesh(chroot: Path) -> bool:
    """Whether the image has the `ltsp-mesh` command the hook runs."""
    return any((chroot / d / "ltsp-mesh").exists() for d in ("usr/bin", "usr/local/bin", "bin"))


def rebuild_hint(chroot: Path) -> str:
    """How to get the changed image to the clients."""
    name = chroot.name
    if shutil.which("ltsp-update-image"):
        return f"rebuild the image so clients get it: ltsp-update-image {name}"
    return f"rebuild the image so clients get it (LTSP5: ltsp-update-image {name}; NBD images need it, NFS ones not)"
