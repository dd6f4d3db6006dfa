"""The demo's scenes: the README's demo and the two guides in docs/, replayed in a lab.

Each scene builds its own namespace lab, runs the real commands the guide tells an admin to
run (serve, install-hooks, the hook script, status, drain), says what happens, and checks it:
a scene that does not turn out as its guide says raises LabError, so the guides are tested.
The hook runs as LDM runs it, with this machine's sh and nc in a client's namespace, asking
its boot server's broker.
"""

from __future__ import annotations

import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from ltsp_mesh.core.broker.view import FRESH_S
from ltsp_mesh.core.record import Load
from ltsp_mesh.errors import LabError
from ltsp_mesh.lab.mesh import control_path, mesh, start_server, wait_ready
from ltsp_mesh.lab.netns import Lab, LabProcess, mesh_argv
from ltsp_mesh.shell import hook_install

Say = Callable[[str], None]
GIB_KIB = 1024 * 1024


def desktop(
    cpus: int, load1: float = 0.0, sessions: int = 0, mem_gib: int = 8, used_gib: float = 2.0
) -> Load:
    """A machine's figures for the lab's load files."""
    return Load(
        cpus=cpus,
        load1=load1,
        load5=load1,
        load15=load1,
        mem_total_kib=mem_gib * GIB_KIB,
        mem_available_kib=int((mem_gib - used_gib) * GIB_KIB),
        swap_total_kib=GIB_KIB,
        swap_used_kib=0,
        swapping=False,
        sessions=sessions,
    )


def _show(lab: Lab, say: Say, host: str, title: str, *args: str) -> str:
    say(f"\n$ ltsp-mesh {' '.join(args)}      # on {host}: {title}")
    proc = mesh(lab, host, *args)
    say(proc.stdout.rstrip() or "(nothing printed)")
    return proc.stdout.strip()


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise LabError(f"the scene did not turn out as its guide says: {what}")


class _Image:
    """A scratch thin-client image with the hook installed by the real install-hooks command."""

    def __init__(self, lab: Lab, workdir: Path, say: Say, boot_server: str) -> None:
        self.boot_server = boot_server
        self.root = workdir / "image"
        (self.root / "usr" / "bin").mkdir(parents=True)
        say(f"\n$ ltsp-mesh install-hooks --chroot {self.root}")
        for item in hook_install.install(self.root):
            say(f"{item.action}: {item.path}")
        self.hook = self.root / hook_install.HOOK_PATHS[0]
        self.lab, self.workdir = lab, workdir

    def boot(self, client: str, **variables: str) -> list[str]:
        """Run the image's hook on `client` as LDM does at boot; return LDM's host list."""
        env = {
            "LTSP_MESH_CACHE_DIR": str(self.workdir / f"cache-{client}"),
            "SERVER": self.lab.address(self.boot_server),
            **variables,
        }
        proc = self.lab.run(client, ["/bin/sh", str(self.hook)], env=env)
        line = proc.stdout.rstrip("\n")
        _check(proc.stdout.count("\n") == 1 and bool(line), f"{client}'s hook printed one line of hosts")
        return line.split(" ")


def core(say: Say) -> None:
    """The README's demo: three servers, a thin client's hook asking a broker, a server killed."""
    servers = {
        "app1": desktop(8, 3.2, 5, 16, 7),
        "app2": desktop(4, 3.6, 4, 8, 6),
        "app3": desktop(2, 0.1, 0, 4, 1),
    }
    with (
        tempfile.TemporaryDirectory(prefix="ltsp-mesh-demo-") as tmp,
        _lab(say, [*servers, "client"], tmp) as lab,
    ):
        for host, load in servers.items():
            say(
                f"  {host} ({lab.address(host)}): {load.cpus} CPUs, load {load.load1}, {load.sessions} sessions"
            )
        procs = _serve(lab, say, servers)
        _show(lab, say, "client", "every server, its figures and status", "status", "--interface", "eth0")
        image = _Image(lab, Path(tmp), say, boot_server="app1")
        line = image.boot("client")
        say(
            f"\n$ {image.hook}      # on client, as LDM runs it (SERVER={lab.address('app1')}, its boot server)"
        )
        say(" ".join(line) + "      # sh and nc only: app1's broker ranked the mesh for it")
        _check(sorted(line) == sorted(lab.address(h) for h in servers), "the hook lists the three servers")
        victim = next(h for h in servers if lab.address(h) == line[0])
        say(f"\n$ kill -9 {procs[victim].pid}      # {victim}, the first choice, dies without a goodbye")
        lab.stop(procs[victim], signal.SIGKILL)
        time.sleep(FRESH_S + 0.2)  # a broker's figures are at most about a second old
        after = image.boot("client")
        how = (
            "app1's daemon is gone: the hook asked the next broker on its last good list"
            if victim == "app1"
            else "it no longer answers the brokers"
        )
        say(f"\n$ {image.hook}      # a second later\n{' '.join(after)}      # {victim} is gone ({how})")
        _check(lab.address(victim) not in after and len(after) == 2, f"{victim} is no longer listed")


def margot(say: Say) -> None:
    """docs/margot.md: three desktops, seventeen clients, no configuration."""
    pcs = {"pc1": desktop(2, mem_gib=4), "pc2": desktop(4), "pc3": desktop(8, mem_gib=16)}
    clients = [f"c{i}" for i in range(1, 18)]
    with (
        tempfile.TemporaryDirectory(prefix="ltsp-mesh-demo-") as tmp,
        _lab(say, [*pcs, *clients], tmp) as lab,
    ):
        say(
            "\nStep 1: install ltsp-mesh on the three desktops. No configuration file: every setting is a default."
        )
        for host, load in pcs.items():
            say(f"  {host} ({lab.address(host)}): {load.cpus} CPUs")
        procs = _serve(lab, say, pcs)
        say("\nStep 2: put the hook into the thin-client image (pc1 is the boot server: SERVER=pc1).")
        image = _Image(lab, Path(tmp), say, boot_server="pc1")
        say("\nStep 3: the seventeen thin clients boot; LDM logs each in to the first host its hook prints.")
        first: Counter[str] = Counter()
        for client in clients:
            hosts = image.boot(client)
            _check(set(hosts) <= {lab.address(h) for h in pcs}, f"{client} was given only live desktops")
            first[hosts[0]] += 1
        for host, load in pcs.items():
            say(f"  {host} ({load.cpus} CPUs): {first[lab.address(host)]} logins")
        _check(sum(first.values()) == len(clients), "every client got a desktop")
        _show(
            lab,
            say,
            "c1",
            "each claim counts as a pending login until the session appears",
            "status",
            "--interface",
            "eth0",
        )
        say("\nStep 4: pc2 is switched off at lunch (no goodbye: the plug is pulled).")
        lab.stop(procs["pc2"], signal.SIGKILL)
        time.sleep(FRESH_S + 0.2)
        hosts = image.boot("c1")
        say(f"  c1 reboots and is given: {' '.join(hosts)}")
        _check(
            lab.address("pc2") not in hosts and len(hosts) == 2,
            "the switched-off desktop is never handed out",
        )


def rudolfo(say: Say) -> None:
    """docs/rudolfo.md: adding servers by booting them, maintenance, a crash, sticky clients."""
    farm = {f"s{i}": desktop(16, 1.0 + i, 10 * i, 64, 20) for i in range(1, 5)}
    clients = [f"c{i}" for i in range(1, 9)]
    with (
        tempfile.TemporaryDirectory(prefix="ltsp-mesh-demo-") as tmp,
        _lab(say, [*farm, "s5", *clients], tmp) as lab,
    ):
        say("\nThe site: four servers running ltsp-mesh, and thin clients with the hook in their image.")
        procs = _serve(lab, say, farm)
        image = _Image(lab, Path(tmp), say, boot_server="s1")
        _show(lab, say, "c1", "the mesh as it is", "status", "--interface", "eth0")

        say("\nStep 1: add a server by booting it. Nothing to edit anywhere.")
        booted = time.monotonic()
        procs["s5"] = start_server(lab, "s5", desktop(16), args=["--hostname", "s5"])
        wait_ready(lab, [procs["s5"]])
        time.sleep(FRESH_S + 0.2)  # the brokers' next look at the mesh
        hosts = image.boot("c1")
        say(f"  {time.monotonic() - booted:.1f} s after boot, the next client is given: {' '.join(hosts)}")
        _check(lab.address("s5") in hosts, "the new server is handed out as soon as it has booted")

        say("\nStep 2: maintenance: drain s1. Its sessions stay; no new login goes there.")
        drained = lab.run(
            "s1",
            mesh_argv(
                "drain", "on", "--reason", "kernel update", "--control-socket", str(control_path(lab, "s1"))
            ),
        )
        say(f"$ ltsp-mesh drain on --reason 'kernel update'      # on s1\n{drained.stdout.strip()}")
        time.sleep(FRESH_S + 0.2)
        for client in clients[:4]:
            _check(lab.address("s1") not in image.boot(client), f"{client} is never given the draining s1")
        say("  four clients booted: none was given s1")

        say("\nStep 3: sticky clients (LDM_LB_ALGORITHM=mac-hash), then s3 crashes.")
        before = {c: image.boot(c, LDM_LB_ALGORITHM="mac-hash")[0] for c in clients}
        lab.stop(procs["s3"], signal.SIGKILL)
        time.sleep(FRESH_S + 0.2)
        after = {c: image.boot(c, LDM_LB_ALGORITHM="mac-hash")[0] for c in clients}
        moved = [c for c in clients if before[c] != after[c]]
        say(
            f"  clients that were on s3: {sorted(c for c in clients if before[c] == lab.address('s3'))}; "
            f"clients that moved: {moved}"
        )
        _check(all(before[c] == lab.address("s3") for c in moved), "only the crashed server's clients move")
        _check(lab.address("s3") not in after.values(), "the crashed server is never handed out")
        _show(lab, say, "c1", "after the crash", "status", "--interface", "eth0")


SCENES: dict[str, Callable[[Say], None]] = {"core": core, "margot": margot, "rudolfo": rudolfo}


def _lab(say: Say, hosts: list[str], tmp: str) -> Lab:
    lab = Lab(hosts=hosts, workdir=Path(tmp))
    say(f"Building lab {lab.prefix}: bridge {lab.bridge} and {len(hosts)} hosts on {lab.network}")
    return lab


def _serve(lab: Lab, say: Say, servers: dict[str, Load]) -> dict[str, LabProcess]:
    procs = {host: start_server(lab, host, load, args=["--hostname", host]) for host, load in servers.items()}
    say(f"Starting `ltsp-mesh serve` on {', '.join(servers)} (mDNS probing takes about 2 s) ...")
    wait_ready(lab, list(procs.values()), timeout_s=60)
    return procs
