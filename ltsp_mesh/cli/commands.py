"""Every subcommand: its module and its one-line help (the listing needs no module import)."""

from __future__ import annotations

from typing import Final

# name -> (module in ltsp_mesh.cli, one-line help)
COMMANDS: Final[dict[str, tuple[str, str]]] = {
    "serve": ("serve", "announce this server and answer load queries (the daemon)"),
    "drain": ("drain", "stop or resume new logins on this server (sessions stay); needs root"),
    "hosts": ("hosts", "print the live servers, best first, on one line (what LDM's get_hosts prints)"),
    "status": ("status", "show every discovered server with its figures and status (--watch: live)"),
    "browse": ("browse", "watch servers come, change and go (a running mDNS browser)"),
    "feed": ("feed", "keep a POSIX message queue filled with the ranked server list, for a greeter"),
    "chooser": ("chooser", "choose a server in a terminal, from the queue `ltsp-mesh feed` fills"),
    "known-hosts": ("known_hosts", "collect the mesh's SSH host keys for the client images (needs root)"),
    "install-hooks": ("install_hooks", "install LDM's get_hosts hook into a thin-client image"),
    "demo": ("demo", "run servers and thin clients in a network-namespace lab (needs root)"),
    "bench": ("bench", "run a benchmark in a namespace lab and compare it with its targets (needs root)"),
    "sim": ("sim", "simulate login storms: every algorithm and the anchors, side by side; plan capacity"),
}
