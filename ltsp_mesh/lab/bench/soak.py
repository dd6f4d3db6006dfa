"""The soak: thin clients hook without pause while servers die, move and are flooded.

30 real `serve` daemons under known-hosts trust (`--quick`: 8, for about a minute) and 10 thin
clients (`--quick`: 3), each running the real get_hosts hook chrooted in a Python-free root
(busybox, or dash with netcat-openbsd: lab/chroot.py) over and over, asking its own boot
server first, for 10 minutes. Meanwhile the harness, on a schedule of its own:

- kills a server (SIGKILL and SIGTERM in turn; only the odd-numbered servers) and starts it
  again DOWN_S later;
- moves a server to another address and back (`ip addr` in its namespace, as a DHCP change
  does; only the servers numbered 2, 6, 10, ...);
- floods one of the servers it never kills with valid, padded UDP 377 stats requests from
  spoofed, unused on-link sources (lab/spoof.py), in bursts, one server after another;
- sends plain claims from spoofed sources to every server, without pause.

Each hook run is checked against the harness's own timeline (bench/soak_audit.py: what "down"
means and the grace the broker's design allows). Printed: hook runs; runs without a line;
dead servers printed in a broker's answer; fallbacks (and the dead servers the last good list
they printed held); renumbered servers listed at their new address within 5 s; daemons that
exited on their own; every daemon's RSS and open fds at the start and the end of the faults.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ltsp_mesh.errors import LabError
from ltsp_mesh.lab import chroot as lab_chroot
from ltsp_mesh.lab.bench.core_suite import Figure, compile_package, rss_mb, server_load
from ltsp_mesh.lab.bench.soak_audit import FOLLOW_S, GRACE_S, Audit, HookRun, Timeline, audit
from ltsp_mesh.lab.mesh import ensure_host_key, known_hosts_path, start_server, trust, wait_ready
from ltsp_mesh.lab.netns import PREFIX_LEN, SUBNET, Lab, LabProcess, ensure_neighbour_capacity
from ltsp_mesh.lab.spoof import Sent

# The lab numbers its hosts from .10 (at most 50 of them here); a renumbered server moves to
# .60 + its number; the spoofed sources are the octets nobody ever owns (155 of them; the attack
# issue 11 measured came from about 230).
MAX_HOSTS: Final = 50
SPARE_BASE: Final = 60
SPOOFED: Final = (100, 254)
FLAVOURS: Final = ("busybox", "openbsd")
SETTLE_S: Final = 2.0  # every announcement out, every browser settled, before the first hook
HOOK_TIMEOUT_S: Final = 10.0  # far past LDM_LB_TIMEOUT_MS: a run this long hung
SAMPLE_EVERY_S: Final = 5.0
TICK_S: Final = 0.1
# Flat: what a daemon may grow by over the soak. Its RSS settles within the warm-up (the broker's
# view, the caches of 30 peers); the bounds leave room for allocator noise and one in-flight
# burst, while a leak of a few KiB per request (~20 requests/s for 10 minutes) or a reply queue
# growing with a flood (about 1 MiB per second of it, issue 11; the full soak floods each
# never-killed server for about 20 s in all) goes past them.
RSS_GROWTH_MIB: Final = 8.0
FD_GROWTH: Final = 8  # TCP connections in flight at the moment of a sample


@dataclass(frozen=True)
class Plan:
    """How big and how long a soak is, and how often each fault comes."""

    servers: int
    clients: int
    duration_s: float  # the faults run this long, after the warm-up
    warmup_s: float  # hooking without faults; then the first samples
    kill_every_s: float
    down_s: float
    renumber_every_s: float
    burst_every_s: float
    burst_s: float
    burst_rate: float  # spoofed stats requests a second during a burst
    claim_rate: float  # spoofed claims a second, over every server, the whole time
    pace_s: float  # one thin client's hook runs start this far apart (LDM: once per login screen)


FULL: Final = Plan(
    servers=30,
    clients=10,
    duration_s=600.0,
    warmup_s=20.0,
    kill_every_s=20.0,
    down_s=10.0,
    renumber_every_s=30.0,
    burst_every_s=20.0,
    burst_s=10.0,
    burst_rate=3000.0,
    claim_rate=10.0,
    pace_s=0.5,
)
QUICK: Final = Plan(
    servers=8,
    clients=3,
    duration_s=40.0,
    warmup_s=6.0,
    kill_every_s=8.0,
    down_s=5.0,
    renumber_every_s=10.0,
    burst_every_s=12.0,
    burst_s=3.0,
    burst_rate=3000.0,
    claim_rate=10.0,
    pace_s=0.3,
)


def servers(plan: Plan) -> list[str]:
    """The server hosts: s1 ... sN."""
    return [f"s{i}" for i in range(1, plan.servers + 1)]


def clients(plan: Plan) -> list[str]:
    """The thin-client hosts: c1 ... cM."""
    return [f"c{i}" for i in range(1, plan.clients + 1)]


def hosts(plan: Plan) -> list[str]:
    """Every lab host of the soak: servers, thin clients, and the flooder."""
    return [*servers(plan), *clients(plan), "flood"]


def _number(host: str) -> int:
    return int(host[1:])


def victim(host: str) -> bool:
    """Whether the soak kills and restarts `host` (the odd-numbered servers)."""
    return _number(host) % 2 == 1


def mover(host: str) -> bool:
    """Whether the soak moves `host` to another address and back (servers 2, 6, 10, ...)."""
    return _number(host) % 4 == 2


def spare_address(host: str) -> str:
    """Where a moving server goes."""
    return f"{SUBNET}.{SPARE_BASE + _number(host)}"


@dataclass
class Memory:
    """One daemon's RSS (MiB) and open fds at the start of the faults, at most, and at the end."""

    pid: int
    rss_start: float
    fds_start: int
    rss_max: float = 0.0
    fds_max: int = 0
    rss_end: float = math.nan
    fds_end: int = -1

    @property
    def rss_growth(self) -> float:
        """RSS at the end over the start, in MiB."""
        return self.rss_end - self.rss_start

    @property
    def fd_growth(self) -> int:
        """Open fds at the end over the start."""
        return self.fds_end - self.fds_start


@dataclass
class Result:
    """What one soak did and saw."""

    plan: Plan
    audit: Audit
    timeline: Timeline
    faults_started: float  # monotonic: the warm-up ended, the first samples were taken
    faults_s: float
    kills: int = 0
    renumberings: int = 0
    crashes: list[str] = field(default_factory=list)  # "host: last log lines"
    floods: list[Sent] = field(default_factory=list)  # each flooder's own counts
    memory: dict[str, Memory] = field(default_factory=dict)  # daemons that ran the whole time

    @property
    def worst_rss_growth(self) -> float:
        """The largest RSS growth of a daemon that ran the whole soak, in MiB."""
        return max((m.rss_growth for m in self.memory.values()), default=0.0)

    @property
    def worst_fd_growth(self) -> int:
        """The largest growth in open fds of a daemon that ran the whole soak."""
        return max((m.fd_growth for m in self.memory.values()), default=0)

    def sent(self, kind: str) -> int:
        """Spoofed datagrams of `kind` (stats or claims) the flooders sent."""
        return sum(f.sent for f in self.floods if f.kind == kind)


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _trust_spares(lab: Lab, movers: Sequence[str]) -> None:
    """List each moving server's key for its spare address too: where a DHCP server may put it,
    ltsp-update-sshkeys would have listed it (known_hosts names a key once per address)."""
    lines = [
        f"{spare_address(h)} {Path(str(ensure_host_key(lab, h)) + '.pub').read_text().strip()}\n"
        for h in movers
    ]
    with known_hosts_path(lab).open("a") as handle:
        handle.writelines(lines)


def _one_line(stdout: str) -> tuple[str, ...]:
    """The hosts of the one line LDM reads; () when the output is not exactly one such line."""
    lines = stdout.split("\n")
    if len(lines) != 2 or lines[1] != "" or not lines[0].strip():
        return ()
    return tuple(lines[0].split())


def _drain_log(sock: socket.socket) -> str:
    messages = []
    while True:
        try:
            messages.append(sock.recv(65536).decode(errors="replace"))
        except BlockingIOError:
            return " | ".join(messages)


class _Harness:
    """The running soak: daemons, hooking clients, flooders and the fault timeline."""

    def __init__(self, lab: Lab, plan: Plan, rng: random.Random) -> None:
        self.lab, self.plan, self.rng = lab, plan, rng
        self.servers = servers(plan)
        self.timeline = Timeline(
            {h: lab.address(h) for h in self.servers}, [spare_address(h) for h in self.servers if mover(h)]
        )
        self.daemons: dict[str, LabProcess] = {}
        self.runs: list[HookRun] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.floods: list[LabProcess] = []
        self.result_floods: list[Sent] = []
        self.kills = self.renumberings = 0
        self.crashes: list[str] = []
        self.restarts: list[tuple[float, str]] = []  # (when, host): servers to start again
        self.memory: dict[str, Memory] = {}

    # -- servers ---------------------------------------------------------------------------
    def start(self, host: str) -> None:
        self.daemons[host] = start_server(
            self.lab, host, server_load(_number(host) - 1), sample_interval_s=2.0
        )

    def kill(self, host: str, sig: int) -> None:
        # Down once the process is gone: after SIGTERM a daemon sends its goodbyes, and it may
        # answer until it exits.
        self.lab.stop(self.daemons[host], sig)
        self.timeline.stopped(host, time.monotonic())
        self.memory.pop(host, None)  # its figures say nothing about a soak it did not see
        self.kills += 1

    def restart(self, host: str) -> None:
        self.timeline.started(host, time.monotonic())
        self.start(host)

    def renumber(self, host: str) -> None:
        old = self.timeline.address(host)
        new = spare_address(host) if old == self.lab.address(host) else self.lab.address(host)
        self.timeline.renumbered(host, new, time.monotonic())
        self.lab.run(host, ["ip", "addr", "del", f"{old}/{PREFIX_LEN}", "dev", "eth0"])
        self.lab.run(host, ["ip", "addr", "add", f"{new}/{PREFIX_LEN}", "dev", "eth0"])
        self.renumberings += 1

    def check_daemons(self, now: float) -> None:
        """A daemon that exited on its own is a finding: note it, and start it again DOWN_S later
        (as systemd would, after its RestartSec) so the soak goes on."""
        for host in self.servers:
            if self.timeline.running(host) and self.daemons[host].popen.poll() is not None:
                self.timeline.stopped(host, now)
                self.memory.pop(host, None)
                tail = self.daemons[host].log_text().strip().splitlines()[-3:]
                self.crashes.append(f"{host}: {' / '.join(tail)}")
                self.lab.stop(self.daemons[host])
                self.restarts.append((now + self.plan.down_s, host))
        for due, host in [r for r in self.restarts if r[0] <= now]:
            self.restarts.remove((due, host))
            self.restart(host)

    def sample(self, first: bool) -> None:
        for host in self.servers:
            proc = self.daemons[host]
            if proc.popen.poll() is not None:
                continue
            try:
                rss, fds = rss_mb(proc.pid), _fds(proc.pid)
            except OSError:
                continue  # exited between the poll and the read
            if first:
                self.memory[host] = Memory(proc.pid, rss, fds, rss, fds)
            elif host in self.memory and self.memory[host].pid == proc.pid:
                memory = self.memory[host]
                memory.rss_max, memory.fds_max = max(memory.rss_max, rss), max(memory.fds_max, fds)
                memory.rss_end, memory.fds_end = rss, fds

    # -- flooding --------------------------------------------------------------------------
    def flood(self, kind: str, targets: Sequence[str], rate: float, seconds: float) -> LabProcess:
        argv = [sys.executable, "-m", "ltsp_mesh.lab.spoof", kind, ",".join(targets), str(rate), str(seconds)]
        proc = self.lab.spawn("flood", [*argv, *map(str, SPOOFED)], log_name=f"flood-{len(self.floods)}")
        self.floods.append(proc)
        return proc

    def collect_floods(self) -> None:
        for proc in self.floods:
            self.lab.stop(proc, signal.SIGTERM)
            for line in proc.log_text().splitlines():
                if line.startswith("{"):
                    self.result_floods.append(Sent(**json.loads(line)))

    # -- thin clients ----------------------------------------------------------------------
    def hooking(self, client: str, root: lab_chroot.ClientRoot, boot_server: str) -> None:
        """Run the hook on `client` until the soak stops, one run every pace_s at most."""
        env = {"SERVER": boot_server}
        with root.listen_log() as log:
            log.setblocking(False)
            while not self.stopping.is_set():
                started = time.monotonic()
                try:
                    stdout, note = lab_chroot.run_hook(self.lab, client, root, env, HOOK_TIMEOUT_S).stdout, ""
                except LabError as exc:
                    stdout, note = "", str(exc)
                ended = time.monotonic()
                said = _drain_log(log)
                printed = _one_line(stdout)
                run = HookRun(
                    client=client,
                    started=started,
                    ended=ended,
                    printed=printed,
                    fell_back="no valid answer from a broker" in said,
                    failed_over=" is printed" in said,
                    # What the hook logged, why it failed, and what it printed when that was no line.
                    note=" | ".join(filter(None, (said, note, "" if printed else repr(stdout[:200])))),
                )
                with self.lock:
                    self.runs.append(run)
                self.stopping.wait(max(0.0, started + self.plan.pace_s - time.monotonic()))

    # -- the schedule ----------------------------------------------------------------------
    def faults(self) -> float:
        """Run the faults for the plan's duration; return when they ended (monotonic)."""
        plan = self.plan
        victims = [h for h in self.servers if victim(h)]
        movers = [h for h in self.servers if mover(h)]
        flooded = [h for h in self.servers if not victim(h)]
        start = time.monotonic()
        end = start + plan.duration_s
        claims = self.flood("claims", [self.lab.address(h) for h in self.servers], plan.claim_rate, 0)
        next_kill, next_move, next_burst = start, start + plan.renumber_every_s / 2, start + 1.0
        next_sample = start + SAMPLE_EVERY_S
        kills = bursts = 0
        while (now := time.monotonic()) < end:
            self.check_daemons(now)
            if now >= next_kill and victims:
                up = [h for h in victims if self.timeline.running(h)]
                if up and now + plan.down_s < end:
                    host = self.rng.choice(up)
                    self.kill(host, signal.SIGKILL if kills % 2 == 0 else signal.SIGTERM)
                    self.restarts.append((time.monotonic() + plan.down_s, host))
                    kills += 1
                next_kill += plan.kill_every_s
            if now >= next_move and movers:
                self.renumber(movers[self.renumberings % len(movers)])
                next_move += plan.renumber_every_s
            if now >= next_burst and flooded:
                target = self.timeline.address(flooded[bursts % len(flooded)])
                self.flood("stats", [target], plan.burst_rate, min(plan.burst_s, max(0.0, end - now)))
                bursts += 1
                next_burst += plan.burst_every_s
            if now >= next_sample:
                self.sample(first=False)
                next_sample += SAMPLE_EVERY_S
            time.sleep(TICK_S)
        self.sample(first=False)
        self.lab.stop(claims, signal.SIGTERM)
        return end


@contextlib.contextmanager
def _roots(lab: Lab, directory: Path, names: Sequence[str]) -> Iterator[dict[str, lab_chroot.ClientRoot]]:
    """One thin-client root per client, the flavours in turn; every mount undone on exit."""
    with contextlib.ExitStack() as stack:
        roots = {}
        for i, name in enumerate(names):
            flavour = FLAVOURS[i % len(FLAVOURS)]
            built = stack.enter_context(lab_chroot.client_roots(directory / name, lab, name, (flavour,)))
            roots[name] = built[flavour]
        yield roots


def soak(lab: Lab, plan: Plan, directory: Path, seed: int = 1) -> Result:
    """Run the soak in `lab` (built with `hosts(plan)`), roots under `directory`; return what it saw.

    Every process it starts is the lab's, stopped with the lab; every mount is undone here.
    """
    if lab.hosts != hosts(plan) or len(lab.hosts) > MAX_HOSTS or plan.servers > SPOOFED[0] - SPARE_BASE - 1:
        raise ValueError(f"the soak's lab has the hosts {hosts(plan)}, at most {MAX_HOSTS}")
    ensure_neighbour_capacity(len(lab.hosts) + SPOOFED[1] - SPOOFED[0] + 1)
    harness = _Harness(lab, plan, random.Random(seed))
    trust(lab, *harness.servers)
    _trust_spares(lab, [h for h in harness.servers if mover(h)])
    for host in harness.servers:
        harness.start(host)
    wait_ready(lab, list(harness.daemons.values()), timeout_s=30 + 3 * plan.servers)
    time.sleep(SETTLE_S)
    boot = {c: lab.address(harness.servers[i % plan.servers]) for i, c in enumerate(clients(plan))}
    with _roots(lab, directory, clients(plan)) as roots:
        threads = [
            threading.Thread(
                target=harness.hooking, args=(c, roots[c], boot[c]), name=f"hook-{c}", daemon=True
            )
            for c in clients(plan)
        ]
        for thread in threads:
            thread.start()
        try:
            time.sleep(plan.warmup_s)  # the warm-up is a duration of the plan, not a condition
            harness.sample(first=True)
            started = time.monotonic()
            ended = harness.faults()
        finally:
            harness.stopping.set()
            for thread in threads:
                thread.join(HOOK_TIMEOUT_S + 5)
            harness.collect_floods()
    memory = {h: m for h, m in harness.memory.items() if m.fds_end >= 0}
    return Result(
        plan=plan,
        audit=audit(harness.runs, harness.timeline, ended),
        timeline=harness.timeline,
        faults_started=started,
        faults_s=ended - started,
        kills=harness.kills,
        renumberings=harness.renumberings,
        crashes=harness.crashes,
        floods=harness.result_floods,
        memory=memory,
    )


def _example(pairs: Sequence[tuple[HookRun, str]], timeline: Timeline) -> str:
    """The dead addresses printed, how often, and the first case: when it went down, what the hook said."""
    if not pairs:
        return ""
    counts = Counter(address for _, address in pairs)
    run, address = pairs[0]
    since = timeline.down_since(address, run.started)
    return (
        f"; {', '.join(f'{a} x{n}' for a, n in counts.most_common())}; first: {run.client} at "
        f"{run.started - since:.1f} s after {address} went down, with {run.note or 'no log message'}"
    )


def figures(result: Result) -> list[Figure]:
    """The soak's counts beside their targets."""
    plan, found = result.plan, result.audit
    minutes = result.faults_s / 60
    memory = result.memory.values()
    first_bad = f"first: {found.silent[0].client}: {found.silent[0].note[-300:]}" if found.silent else ""
    return [
        Figure(
            "hook runs",
            found.runs,
            "runs",
            plan.clients * (plan.warmup_s + plan.duration_s) / (4 * plan.pace_s),
            ">=",
            f"{plan.clients} thin clients (busybox, dash + netcat-openbsd roots), one run every "
            f"{plan.pace_s:g} s at most, against {plan.servers} daemons for {minutes:.1f} min of faults: "
            f"{result.kills} kills and restarts, {result.renumberings} address changes, "
            f"{result.sent('stats')} spoofed stats requests in bursts of {plan.burst_s:g} s at "
            f"{plan.burst_rate:g}/s, {result.sent('claims')} spoofed claims",
        ),
        Figure("hook runs without a line", found.without_a_line, "runs", 0, "<=", first_bad),
        Figure(
            "dead servers printed in a broker's answer",
            len(found.dead_in_answers) + len(found.strangers),
            "hosts",
            0,
            "<=",
            f"down = killed, or moved away, at least {GRACE_S:g} s before the run until the restart; "
            f"{len(found.strangers)} addresses no server had"
            + _example(found.dead_in_answers + found.strangers, result.timeline),
        ),
        Figure(
            "hook runs that fell back (no broker answered)",
            found.fell_back,
            "runs",
            found.runs / 100,
            "<=",
            f"of {found.runs}, {sum(1 for r in found.fallbacks if r.started < result.faults_started)} of them "
            f"in the warm-up; {len(found.dead_in_fallbacks)} dead servers printed from a last good list; "
            f"{found.failed_over} runs answered by a later broker"
            + (
                f"; first: {found.fallbacks[0].client}: {found.fallbacks[0].note[-300:]}"
                if found.fallbacks
                else ""
            ),
        ),
        Figure(
            f"renumbered servers listed at the new address within {FOLLOW_S:g} s",
            100 * found.followed / found.renumberings if found.renumberings else 100.0,
            "%",
            100.0,
            ">=",
            f"{found.followed} of {found.renumberings} address changes",
        ),
        Figure(
            "daemons that exited on their own",
            len(result.crashes),
            "daemons",
            0,
            "<=",
            result.crashes[0][-300:] if result.crashes else "",
        ),
        Figure(
            "daemon RSS growth over the soak, worst daemon",
            result.worst_rss_growth,
            "MiB",
            RSS_GROWTH_MIB,
            "<=",
            f"{len(result.memory)} daemons never killed; at the start "
            f"{min((m.rss_start for m in memory), default=0):.0f}-{max((m.rss_start for m in memory), default=0):.0f} MiB, "
            f"at the end {min((m.rss_end for m in memory), default=0):.0f}-{max((m.rss_end for m in memory), default=0):.0f} MiB, "
            f"highest seen {max((m.rss_max for m in memory), default=0):.0f} MiB",
        ),
        Figure(
            "daemon open fds growth over the soak, worst daemon",
            result.worst_fd_growth,
            "fds",
            FD_GROWTH,
            "<=",
            f"at the start {min((m.fds_start for m in memory), default=0)}-{max((m.fds_start for m in memory), default=0)}, "
            f"at the end {min((m.fds_end for m in memory), default=0)}-{max((m.fds_end for m in memory), default=0)}, "
            f"highest seen {max((m.fds_max for m in memory), default=0)}",
        ),
    ]


def run(quick: bool = False) -> list[Figure]:
    """Build the lab, soak it, remove it; return the figures."""
    compile_package()
    plan = QUICK if quick else FULL
    with (
        tempfile.TemporaryDirectory(prefix="ltsp-mesh-bench-") as tmp,
        Lab(hosts=hosts(plan), workdir=Path(tmp)) as lab,
    ):
        return figures(soak(lab, plan, Path(tmp) / "roots"))
