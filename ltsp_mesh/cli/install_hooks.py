"""`ltsp-mesh install-hooks --chroot DIR`: put the get_hosts hook into a client image."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ltsp_mesh.cli.render import Result
from ltsp_mesh.shell import hook_install

NAME = "install-hooks"


def add_parser(subparsers: Any, help_text: str) -> None:
    """Register `install-hooks`."""
    parser = subparsers.add_parser(
        NAME,
        help=help_text,
        description="Install the get_hosts hook at usr/share/ltsp/get_hosts and usr/lib/ltsp/get_hosts "
        "inside the image DIR. Running it again changes nothing; an existing different hook is kept "
        f"as get_hosts{hook_install.BACKUP_SUFFIX}. The hook is a POSIX sh script that needs only /bin/sh "
        "and nc in the image (no Python, no ltsp-mesh): a warning says when the image lacks either, "
        "and how to add it. In a Debian or Ubuntu image, `ltsp-chroot apt-get install ltsp-mesh-hook` "
        "installs the same hook.",
    )
    parser.add_argument(
        "--chroot", type=Path, required=True, metavar="DIR", help="the image's root directory"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> Result:
    """Install and report what changed."""
    done = hook_install.install(args.chroot)
    lines = []
    for item in done:
        line = f"{item.action}: {item.path}"
        if item.backup:
            line += f" (the previous hook is kept as {item.backup})"
        lines.append(line)
    # After installing: a hook in place is what the admin asked for, and what the image still
    # lacks may be installed next, so these are warnings, not errors.
    warnings = hook_install.image_problems(args.chroot)
    if any(item.action != "unchanged" for item in done):
        lines.append(hook_install.rebuild_hint(args.chroot))
    data = [
        {"path": str(i.path), "action": i.action, "backup": str(i.backup) if i.backup else None} for i in done
    ]
    return Result(command=NAME, data=data, text="\n".join(lines), warnings=warnings)
