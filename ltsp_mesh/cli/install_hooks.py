"""`ltsp-mesh install-hooks --chroot DIR`: put the get_hosts hook into a client image."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ltsp_mesh.cli.render import Result
from ltsp_mesh.shell import hooks

NAME = "install-hooks"


def add_parser(subparsers: Any, help_text: str) -> None:
    """Register `install-hooks`."""
    parser = subparsers.add_parser(
        NAME,
        help=help_text,
        description="Install the get_hosts hook at usr/share/ltsp/get_hosts and usr/lib/ltsp/get_hosts "
        "inside the image DIR. Running it again changes nothing; an existing different hook is kept "
        f"as get_hosts{hooks.BACKUP_SUFFIX}. The image also needs ltsp-mesh itself installed.",
    )
    parser.add_argument("--chroot", type=Path, required=True, metavar="DIR", help="the image's root directory")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> Result:
    """Install and report what changed."""
    done = hooks.install(args.chroot)
    lines = []
    for item in done:
        line = f"{item.action}: {item.path}"
        if item.backup:
            line += f" (the previous hook is kept as {item.backup})"
        lines.append(line)
    warnings = []
    if not hooks.image_has_ltsp_mesh(args.chroot):
        warnings.append(f"{args.chroot} has no ltsp-mesh command: install the ltsp-mesh package in the image, "
                        "or the hook falls back to LDM_LB_FALLBACK / $SERVER")  # fmt: skip
    if any(item.action != "unchanged" for item in done):
        lines.append(hooks.rebuild_hint(args.chroot))
    data = [{"path": str(i.path), "action": i.action, "backup": str(i.backup) if i.backup else None} for i in done]
    return Result(command=NAME, data=data, text="\n".join(lines), warnings=warnings)
