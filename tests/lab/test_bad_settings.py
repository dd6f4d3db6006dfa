"""A bad LDM_LB_* value is a logged warning and its default, never "no balancing" (issue 11, item 6).

Real `serve` brokers, and the real hook in the three Python-free roots (ltsp_mesh/lab/chroot.py:
busybox, dash + netcat-openbsd, dash + netcat-traditional) with SERVER set as LTSP sets it; and
`ltsp-mesh hosts`, the Python client, on the same client. Before, a broker answered a bad value
with a 400, and the hook printed $SERVER alone; the Python client exited 1.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ltsp_mesh.lab import chroot as lab_chroot
from ltsp_mesh.lab.chroot import ClientRoot
from ltsp_mesh.lab.mesh import start_server, trust, wait_ready
from ltsp_mesh.lab.netns import Lab, LabProcess, mesh_argv
from tests.conftest import LabFactory, require_tools
from tests.lab.helpers import BrokerPace, ldm_split, load

pytestmark = pytest.mark.lab
HOOK = Path(__file__).resolve().parents[2] / "chroot_hooks" / "get_hosts"
SERVERS = ("s1", "s2", "s3")
LOADS = {"s1": load(sessions=1), "s2": load(sessions=2), "s3": load(sessions=0, swapping=True)}
# Each bad value, a few of each variable: those of issue 11 first. The broker judges the
# ranking settings; the hook its own (LDM_LB_TIMEOUT_MS, LDM_LB_BROKER_PORT, LDM_LB_HOSTS) and
# values it cannot send (characters outside A-Z a-z 0-9 . _ : -).
BAD_VALUES = [
    ("LDM_LB_HOSTS", "-1"),
    ("LDM_LB_ALGORITHM", "leastloaded"),
    ("LDM_LB_TIMEOUT_MS", "100000"),
    ("LDM_LB_MAX_LOAD", "0"),
    ("LDM_LB_ALGORITHM", "fastest"),
    ("LDM_LB_ALGORITHM", "Least Loaded"),
    ("LDM_LB_ALGORITHM", "random;reboot"),
    ("LDM_LB_MAX_LOAD", "-1"),
    ("LDM_LB_MAX_LOAD", "abc"),
    ("LDM_LB_MAX_LOAD", "1001"),
    ("LDM_LB_MAX_LOAD", "1,5"),
    ("LDM_LB_MAX_RESPONSE_MS", "0"),
    ("LDM_LB_MAX_RESPONSE_MS", "99999999"),
    ("LDM_LB_MAX_RESPONSE_MS", "fast"),
    ("LDM_LB_IGNORE_SWAPPING", "maybe"),
    ("LDM_LB_IGNORE_SWAPPING", "2"),
    ("LDM_LB_HOSTS", "1001"),
    ("LDM_LB_HOSTS", "all"),
    ("LDM_LB_TIMEOUT_MS", "0"),
    ("LDM_LB_TIMEOUT_MS", "1e3"),
    ("LDM_LB_TIMEOUT_MS", "1" * 20),
    ("LDM_LB_BROKER_PORT", "0"),
    ("LDM_LB_BROKER_PORT", "99999"),
]
IDS = [f"{key[7:]}={value}" for key, value in BAD_VALUES]


class Site:
    """Three servers that know each other's keys, and a client with the three roots built once."""

    def __init__(self, lab: Lab, roots: dict[str, ClientRoot], servers: dict[str, LabProcess]) -> None:
        self.lab, self.roots, self.servers = lab, roots, servers
        self.runs = 0
        self.pace = BrokerPace()

    def hook(self, flavour: str, boot_server: str | None = None, **env: str) -> list[str]:
        """Run the installed hook as LDM does; return what LDM makes of its line.

        These tests are about what a bad value does, not about time: the deadline is generous
        (unless the test sets it) and the other servers are brokers to ask next, so a machine
        busy with other tests does not turn a slow first answer into a fallback. The boot
        server (SERVER) goes round the three unless given, and each is paced under its limit
        for one address: this module runs up to 30 hooks a second from one client, and a broker
        answers one address 10 times a second (then 429, and the hook asks the next broker).
        """
        first = boot_server or SERVERS[self.runs % len(SERVERS)]
        self.runs += 1
        self.pace.wait_for(first)
        env = {
            "SERVER": self.lab.address(first),
            "LDM_LB_BROKERS": " ".join(self.lab.address(h) for h in SERVERS if h != first),
            "LDM_LB_TIMEOUT_MS": "3000",
            **env,
        }
        run = lab_chroot.run_hook(self.lab, "client", self.roots[flavour], env)
        assert run.returncode == 0, run
        return ldm_split(run.stdout)

    def every_server(self) -> list[str]:
        return sorted(self.lab.address(h) for h in SERVERS)


@pytest.fixture(scope="module")
def site(module_lab_factory: LabFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    missing = lab_chroot.missing_tools()
    if missing:
        require_tools(
            *missing,
            debian="busybox-static dash netcat-openbsd netcat-traditional coreutils bsdutils util-linux libc-bin",
        )
    lab = module_lab_factory([*SERVERS, "client"])
    trust(lab, *SERVERS)
    servers = {h: start_server(lab, h, LOADS[h]) for h in SERVERS}
    wait_ready(lab, list(servers.values()))
    with lab_chroot.client_roots(
        tmp_path_factory.mktemp("roots"), lab, "client", hook=HOOK.read_bytes()
    ) as roots:
        yield Site(lab, roots, servers)


@pytest.fixture(params=lab_chroot.FLAVOURS)
def flavour(request: pytest.FixtureRequest, site: Site) -> str:
    """Each root in turn, freshly booted (no last good list)."""
    shutil.rmtree(site.roots[request.param].cache_dir, ignore_errors=True)
    return str(request.param)


def _logged(sock: socket.socket) -> list[str]:
    found = []
    while True:
        try:
            found.append(sock.recv(65536).decode(errors="replace"))
        except BlockingIOError:
            return found


@pytest.fixture
def syslog(site: Site, flavour: str) -> Iterator[socket.socket]:
    """What the hook's logger sends, at the root's /dev/log."""
    sock = site.roots[flavour].listen_log()
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


# -- the hook -----------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value"), BAD_VALUES, ids=IDS)
def test_the_hook_with_a_bad_value_prints_every_live_server(
    site: Site, flavour: str, key: str, value: str
) -> None:
    assert sorted(site.hook(flavour, **{key: value})) == site.every_server()


@pytest.mark.parametrize(("key", "value"), BAD_VALUES, ids=IDS)
def test_the_hook_with_a_bad_value_logs_it_and_the_default(
    site: Site, flavour: str, syslog: socket.socket, key: str, value: str
) -> None:
    site.hook(flavour, **{key: value})
    (message,) = _logged(syslog)
    assert key in message and "the default" in message, message
    assert message.startswith("<28>")  # daemon.warning, where the admin's syslog keeps it


def test_a_bad_value_does_not_leave_the_client_on_its_last_good_list(site: Site) -> None:
    # The old way: every broker refused the request and the hook printed this stale list.
    root = site.roots["busybox"]
    root.cache_dir.mkdir(parents=True, exist_ok=True)
    root.last_good_list.write_text(f"{site.lab.address('s2')}\n")
    assert sorted(site.hook("busybox", "s1", LDM_LB_ALGORITHM="leastloaded")) == site.every_server()


# -- the broker's own journal ---------------------------------------------------------------


def _journal_lines(site: Site, text: str) -> int:
    return sum(text in line for line in site.servers["s1"].log_text().splitlines())


def test_the_broker_logs_a_clients_bad_value_once_saying_what_to_do(site: Site) -> None:
    said = f"thin client {site.lab.address('client')}: LDM_LB_MAX_RESPONSE_MS='-250' is not a number"
    for _ in range(3):
        site.hook("busybox", "s1", LDM_LB_MAX_RESPONSE_MS="-250")
    assert _journal_lines(site, said) == 1
    (line,) = [x for x in site.servers["s1"].log_text().splitlines() if said in x]
    assert line.endswith(
        "; using the default 250; fix LDM_LB_MAX_RESPONSE_MS in lts.conf for this client, then it is balanced as configured"
    )
    assert "WARNING" in line


def test_the_broker_logs_another_bad_value_of_the_same_client_too(site: Site) -> None:
    for value in ("-251", "-252", "-251"):
        site.hook("busybox", "s1", LDM_LB_MAX_RESPONSE_MS=value)
    counts = [_journal_lines(site, f"LDM_LB_MAX_RESPONSE_MS='{v}'") for v in ("-251", "-252")]
    assert counts == [1, 1]


# -- the Python client ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("LDM_LB_HOSTS", "-1"),
        ("LDM_LB_ALGORITHM", "leastloaded"),
        ("LDM_LB_TIMEOUT_MS", "100000"),
        ("LDM_LB_MAX_LOAD", "0"),
    ],
)
def test_hosts_with_a_bad_value_lists_every_live_server_and_warns_on_stderr(
    site: Site, key: str, value: str
) -> None:
    proc = site.lab.run(
        "client", mesh_argv("hosts", "--interface", "eth0", "--timeout-ms", "1500"), env={key: value}
    )
    assert proc.returncode == 0 and sorted(ldm_split(proc.stdout)) == site.every_server()
    assert f"environment variable {key}: {key}='{value}'" in proc.stderr and "the default" in proc.stderr


def test_hosts_hook_with_a_bad_value_warns_in_syslog(site: Site, tmp_path: Path) -> None:
    log = tmp_path / "log"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(log))
        sock.setblocking(False)
        env = {
            "LDM_LB_HOSTS": "-1",
            "LDM_LB_TIMEOUT_MS": "1500",  # interpreter start-up included: a busy test machine's margin
            "LTSP_MESH_CACHE_DIR": str(tmp_path / "cache"),
            "LTSP_MESH_SYSLOG_SOCKET": str(log),
        }
        proc = site.lab.run("client", mesh_argv("hosts", "--hook", "--interface", "eth0"), env=env)
        assert sorted(ldm_split(proc.stdout)) == site.every_server()
        messages = _logged(sock)
    assert any(
        m.startswith("<28>ltsp-mesh: ") and "LDM_LB_HOSTS='-1'" in m and "using the default 0" in m
        for m in messages
    ), messages
