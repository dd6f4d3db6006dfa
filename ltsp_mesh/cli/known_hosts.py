"""`ltsp-mesh known-hosts`: collect the mesh's host keys into /etc/ltsp/ssh_known_hosts.mesh."""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ltsp_mesh.cli import bounds
from ltsp_mesh.cli.bounds import bounded
from ltsp_mesh.cli.exit_codes import FAILED, OK
from ltsp_mesh.cli.render import Result, table
from ltsp_mesh.errors import ConfigError

if TYPE_CHECKING:
    from ltsp_mesh.core.trust.signed_reply import SignedReply
    from ltsp_mesh.core.trust.ssh_keys import PublicKey

NAME = "known-hosts"
DEFAULT_OUTPUT = "/etc/ltsp/ssh_known_hosts.mesh"
DEFAULT_CA_FILE = "/etc/ssh/ssh_known_hosts"


def add_parser(subparsers: Any, help_text: str) -> None:
    """Register `known-hosts` and its options."""
    parser = subparsers.add_parser(
        NAME,
        help=help_text,
        description="On a server: discover the mesh, ask every server for its SSH host key (each proves it "
        "holds the key by signing its answer with it, and the key must match the fingerprint it "
        f"announces), and add the keys to {DEFAULT_OUTPUT} under each server's mDNS host name and "
        "address, then run ltsp-update-sshkeys (when present), which merges /etc/ltsp/ssh_known_hosts.* "
        "into every client image. New keys are shown with their fingerprints and written only with "
        "--accept-new, unless a CA listed in --ca-file certified them; a key that changed for a server "
        "already listed is refused, loudly, and nothing is written (exit 1).",
    )
    parser.add_argument("--accept-new", action="store_true", help="write keys seen for the first time")
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(DEFAULT_OUTPUT),
        metavar="FILE",
        help="the file to add keys to (default %(default)s)",
    )
    parser.add_argument(
        "--ca-file",
        type=Path,
        default=Path(DEFAULT_CA_FILE),
        metavar="FILE",
        help="known_hosts whose @cert-authority lines vouch for new keys (default %(default)s)",
    )
    parser.add_argument("--no-update-images", action="store_true", help="do not run ltsp-update-sshkeys")
    parser.add_argument(
        "--interface",
        action="append",
        default=[],
        metavar="NAME",
        help="look on this interface only (repeat for more); default: all multicast-capable ones",
    )
    parser.add_argument(
        "--timeout-ms",
        metavar="MS",
        type=bounded(int, bounds.TIMEOUT_MS),
        default=1500,
        help=f"discovery and queries (default %(default)s; {bounds.TIMEOUT_MS.describe()})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> Result:
    """Collect, compare, write, update the images."""
    # Imported here, not at the top: `hosts` runs at every login screen and pays for every
    # module the command line imports at start-up.
    from ltsp_mesh.core.trust import known_hosts, mesh_keys, ssh_keys, verdicts
    from ltsp_mesh.core.trust.mesh_keys import Change
    from ltsp_mesh.errors import DecodeError
    from ltsp_mesh.shell import atomic, netif, trust_store
    from ltsp_mesh.shell.client.survey import survey

    interfaces = netif.select(args.interface)
    if not interfaces:
        raise ConfigError("no up, multicast-capable IPv4 interface to look on; name one with --interface")
    found = asyncio.run(
        survey(
            interfaces,
            browse_s=min(0.5, args.timeout_ms / 2000),
            timeout_s=args.timeout_ms / 1000,
            rng=random.Random(),
            want_key=True,
        )
    )
    cas = trust_store.read_known_hosts(str(args.ca_file))
    seen, problems = [], []
    for answer in sorted(found.answered, key=lambda a: a.address):
        signed = answer.signed
        if signed is None or not signed.public_key:
            problems.append(f"{answer.address}: sends no host key (unsigned server: no readable host key?)")
            continue
        try:
            key = ssh_keys.decode_public_blob(signed.public_key)
        except DecodeError as exc:
            problems.append(f"{answer.address}: {exc}")
            continue
        if not key.is_ed25519 or not _signed_by(signed, key) or key.fingerprint != answer.record.host_key_fp:
            problems.append(
                f"{answer.address}: its reply is not signed by the key it sent, or not the key it announces"
            )
            continue
        peer = verdicts.Peer(address=answer.address, ssh_port=answer.discovered.ssh_port)
        verdict = verdicts.check_reply(
            signed, nonce=signed.reply.nonce, peer=peer, known_hosts=cas, now=time.time()
        )
        names = (answer.discovered.host.rstrip("."), answer.address)
        seen.append(mesh_keys.Seen(names=names, key=key, vouched=verdict.via is verdicts.Via.CERTIFICATE))
    existing_text = _read(args.output)
    decisions = mesh_keys.plan(known_hosts.parse(existing_text), seen)
    rows = [[", ".join(d.seen.names), d.seen.key.fingerprint, d.change.value] for d in decisions]
    lines = [
        table(("SERVER", "FINGERPRINT", "KEY"), rows) if rows else "no server sent a host key",
        *problems,
    ]
    changed = [d for d in decisions if d.change is Change.CHANGED]
    added = mesh_keys.lines_to_add(decisions, args.accept_new)
    data: dict[str, Any] = {
        "file": str(args.output),
        "servers": [
            {"names": list(d.seen.names), "fingerprint": d.seen.key.fingerprint, "key": d.change.value}
            for d in decisions
        ],
        "problems": problems,
        "written": added.count("\n"),
    }
    if changed:
        for d in changed:
            lines.append(
                f"WARNING: THE HOST KEY OF {', '.join(d.seen.names)} HAS CHANGED: it now offers "
                f"{d.seen.key.fingerprint}, {args.output} lists {', '.join(k.fingerprint for k in d.listed)}. "
                "Someone could be impersonating it, or it was reinstalled. Nothing was written; if the "
                f"change is expected, delete its line from {args.output} and run this again."
            )
        return Result(
            command=NAME,
            data=data,
            text="\n".join(lines),
            exit_code=FAILED,
            error=f"{len(changed)} host key(s) changed; nothing written",
        )
    pending = [d for d in decisions if d.change is Change.NEW and not args.accept_new]
    if pending:
        lines.append(
            f"{len(pending)} new key(s) not written: compare each fingerprint with `ssh-keygen -lf "
            "/etc/ssh/ssh_host_ed25519_key.pub` on that server, then run again with --accept-new."
        )
    if added:
        atomic.write(args.output, (existing_text + added).encode())
        lines.append(f"wrote {added.count(chr(10))} key(s) to {args.output}")
        if not args.no_update_images:
            lines.append(_update_images())
    return Result(command=NAME, data=data, text="\n".join(lines), exit_code=OK)


def _signed_by(signed: SignedReply, key: PublicKey) -> bool:
    from ltsp_mesh.core.trust import signed_reply

    try:
        return signed_reply.verify_signature(signed, key.ed25519())
    except ValueError:  # a blob that is no curve point
        return False


def _read(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return text if not text or text.endswith("\n") else text + "\n"


def _update_images() -> str:
    tool = shutil.which("ltsp-update-sshkeys")
    if tool is None:
        return "ltsp-update-sshkeys is not installed: merge the file into the client images your way"
    done = subprocess.run([tool], capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        return f"ltsp-update-sshkeys failed ({done.returncode}): {done.stderr.strip()[-300:]}"
    return "ran ltsp-update-sshkeys: rebuild NBD images (ltsp-update-image) for clients to get the keys"
