"""ltsp-mesh on lab hosts: start `serve` daemons with load files, run client commands.

Shared by the demo, the benchmarks and the lab tests, so all three exercise the real commands
the same way.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from ltsp_mesh.core.codec import loadfile
from ltsp_mesh.core.record import Load
from ltsp_mesh.errors import LabError
from ltsp_mesh.lab.netns import Lab, LabProcess, mesh_argv

READY_TEXT = "ready: id"


def _workdir(lab: Lab) -> Path:
    if lab.workdir is None:
        raise ValueError("the lab needs a workdir for the daemons' files")
    return lab.workdir


def load_path(lab: Lab, host: str) -> Path:
    """Where `host`'s load file lives."""
    return _workdir(lab) / f"{host}.load.json"


def state_dir(lab: Lab, host: str) -> Path:
    """`host`'s STATE_DIR (the lab's hosts share one file system)."""
    return _workdir(lab) / f"{host}.state"


def set_load(lab: Lab, host: str, load: Load, session_hosts: tuple[str, ...] = ()) -> None:
    """Replace `host`'s load figures atomically (the daemon reads them at its next sample);
    `session_hosts` are the clients its sessions come from (they settle those clients' claims)."""
    path = load_path(lab, host)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(loadfile.encode(load, session_hosts))
    os.replace(tmp, path)


def start_server(
    lab: Lab,
    host: str,
    load: Load,
    *,
    args: Sequence[str] = (),
    sample_interval_s: float = 1.0,
    env: Mapping[str, str] | None = None,
) -> LabProcess:
    """Start `ltsp-mesh serve` on `host` with `load` in its load file; does not wait for it."""
    set_load(lab, host, load)
    key = ensure_host_key(lab, host)
    argv = mesh_argv(
        "-vv" if os.environ.get("LTSP_MESH_LAB_DEBUG") else "-v",
        "serve",
        "--interface",
        "eth0",
        "--load-file",
        str(load_path(lab, host)),
        "--sample-interval",
        str(sample_interval_s),
        "--state-dir",
        str(state_dir(lab, host)),
        "--control-socket",
        str(control_path(lab, host)),
        "--host-key",
        str(key),
        # The lab's own known hosts, never the machine's /etc/ssh/ssh_known_hosts.
        "--known-hosts",
        str(known_hosts_path(lab)),
        "--config",
        str(_empty_config(lab)),
        *args,
    )
    return lab.spawn(host, argv, env=env, log_name=f"serve-{host}")


def host_key_path(lab: Lab, host: str) -> Path:
    """`host`'s SSH host key (private; the public key is beside it with .pub)."""
    return _workdir(lab) / f"{host}.ssh_host_ed25519_key"


def ensure_host_key(lab: Lab, host: str) -> Path:
    """Give `host` an Ed25519 host key of its own (made by ssh-keygen), as a real server has."""
    path = host_key_path(lab, host)
    if not path.exists():
        made = subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{host}", "-f", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if made.returncode != 0:
            raise LabError(f"ssh-keygen could not make a host key for {host}: {made.stderr.strip()}")
    return path


def known_hosts_path(lab: Lab) -> Path:
    """The lab's known_hosts: what its clients (LDM_LB_KNOWN_HOSTS) and its daemons check."""
    return Path(lab.env.get("LDM_LB_KNOWN_HOSTS") or _workdir(lab) / "ssh_known_hosts")


def trust(lab: Lab, *hosts: str) -> None:
    """List `hosts`' keys under their lab addresses in the lab's known_hosts (what clients check;
    daemons started after this check servers and relaying brokers against it too)."""
    path = known_hosts_path(lab)
    lines = [
        f"{lab.address(h)} {Path(str(ensure_host_key(lab, h)) + '.pub').read_text().strip()}\n" for h in hosts
    ]
    with path.open("a") as handle:
        handle.writelines(lines)


def control_path(lab: Lab, host: str) -> Path:
    """The control socket of `host`'s daemon."""
    return _workdir(lab) / f"{host}.control.sock"


def _empty_config(lab: Lab) -> Path:
    # The lab's daemons must not read the machine's own /etc/ltsp/mesh.conf.
    path = _workdir(lab) / "mesh.conf"
    if not path.exists():
        path.write_text("[default]\n")
    return path


def wait_ready(lab: Lab, procs: Sequence[LabProcess], timeout_s: float = 30.0) -> None:
    """Wait until every daemon has registered its service."""
    for proc in procs:
        lab.wait_for_log(proc, READY_TEXT, timeout_s)


def mesh(
    lab: Lab, host: str, *args: str, timeout_s: float = 30.0, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run an `ltsp-mesh` command on `host` and return it completed."""
    return lab.run(host, mesh_argv(*args), timeout_s=timeout_s, check=check)
