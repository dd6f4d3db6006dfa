"""The get_hosts hook itself (sh + nc), run as LDM runs it in old thin-client roots.

Each test runs in three roots (ltsp_mesh/lab/chroot.py): busybox-static alone, dash with
netcat-openbsd, dash with netcat-traditional, chrooted on a lab client, against fake brokers
(tests/lab/fake_broker.py) on other lab hosts. The real broker has end-to-end tests of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ltsp_mesh.lab import chroot as lab_chroot
from ltsp_mesh.lab.chroot import ClientRoot
from ltsp_mesh.lab.netns import Lab, LabProcess
from tests.conftest import LabFactory, require_tools
from tests.lab import fake_broker

pytestmark = pytest.mark.lab
HOOK = Path(__file__).resolve().parents[2] / "chroot_hooks" / "get_hosts"
FAKE_BROKER = str(Path(__file__).with_name("fake_broker.py"))
BODY = "10.77.0.12 10.77.0.10"
FALLBACK = "10.77.0.99"
DOWN = "10.77.0.250"  # no host has it: packets to it vanish, as to a switched-off server
TIMEOUT_S = 0.400  # LDM_LB_TIMEOUT_MS's default
SLACK_S = 0.100  # what the hook may take past its deadline, ip netns exec and chroot included
ROGUE_MODES = (
    "garbage",
    "huge",
    "drip",
    "dollar",
    "semicolon",
    "backtick",
    "newline",
    "unterminated",
    "reason400",
    "silent",
)


def _require_tools() -> None:
    missing = lab_chroot.missing_tools()
    if missing:
        require_tools(
            *missing,
            debian="busybox-static dash netcat-openbsd netcat-traditional coreutils bsdutils "
            "util-linux libc-bin",
        )


@pytest.fixture(scope="module")
def lab(module_lab_factory: LabFactory) -> Lab:
    """A client and three hosts for fake brokers."""
    _require_tools()
    return module_lab_factory(["client", "b1", "b2", "b3"])


@pytest.fixture(scope="module")
def roots(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ClientRoot]]:
    """One root of each flavour, built once for the module, seeing the client's interfaces."""
    directory = tmp_path_factory.mktemp("roots")
    with lab_chroot.client_roots(directory, lab, "client", hook=HOOK.read_bytes()) as built:
        yield built


@pytest.fixture(params=lab_chroot.FLAVOURS)
def root(request: pytest.FixtureRequest, roots: dict[str, ClientRoot]) -> ClientRoot:
    """Each root in turn, as a thin client that has just booted (an empty /var/run)."""
    built = roots[request.param]
    shutil.rmtree(built.cache_dir, ignore_errors=True)
    return built


@dataclass
class Syslog:
    """What arrives at a root's /dev/log."""

    sock: socket.socket

    def messages(self) -> list[str]:
        """Every message that arrived since the last call."""
        found = []
        while True:
            try:
                found.append(self.sock.recv(65536).decode(errors="replace"))
            except BlockingIOError:
                return found


@pytest.fixture
def syslog(root: ClientRoot) -> Iterator[Syslog]:
    sock = root.listen_log()
    sock.setblocking(False)
    try:
        yield Syslog(sock)
    finally:
        sock.close()


@dataclass
class FakeBroker:
    """A fake broker running on a lab host."""

    proc: LabProcess
    address: str
    record: Path

    def requests(self) -> list[str]:
        """The requests it got, in order."""
        if not self.record.exists():
            return []
        return [json.loads(line)["request"] for line in self.record.read_text().splitlines()]


StartBroker = Callable[..., FakeBroker]


@pytest.fixture
def broker(lab: Lab, tmp_path: Path) -> Iterator[StartBroker]:
    """start(host, mode, body=BODY): a fake broker on `host`'s port 378; stopped after the test."""
    started: list[FakeBroker] = []

    def start(host: str, mode: str = "good", body: str = BODY) -> FakeBroker:
        record = tmp_path / f"{host}-{len(started)}.requests"
        proc = lab.spawn(
            host,
            [
                sys.executable,
                FAKE_BROKER,
                lab.address(host),
                "378",
                mode,
                "--body",
                body,
                "--record",
                str(record),
            ],
            log_name=f"fake-{host}-{len(started)}",
        )
        fake = FakeBroker(proc, lab.address(host), record)
        started.append(fake)
        lab.wait_for_log(proc, "ready", 15)
        return fake

    yield start
    for fake in started:
        lab.stop(fake.proc)


def run(lab: Lab, root: ClientRoot, **env: str) -> tuple[list[str], float]:
    """Run the hook as LDM would; check it printed one line and exited 0; return the hosts and wall time."""
    result = lab_chroot.run_hook(lab, "client", root, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("\n") and result.stdout.count("\n") == 1, f"not one line: {result.stdout!r}"
    line = result.stdout[:-1]
    return (line.split(" ") if line else []), result.wall_s


def remember(root: ClientRoot, text: str) -> None:
    """Put a last good list in place, as a previous run would have."""
    root.cache_dir.mkdir(parents=True, exist_ok=True)
    root.last_good_list.write_text(text)


# -- a broker that answers ----------------------------------------------------------------


def test_prints_the_brokers_line(lab: Lab, root: ClientRoot, broker: StartBroker) -> None:
    server = broker("b1")
    assert run(lab, root, SERVER=server.address)[0] == BODY.split(" ")


def test_the_older_ldm_path_runs_the_same_hook(lab: Lab, root: ClientRoot, broker: StartBroker) -> None:
    server = broker("b1")
    result = lab_chroot.run_hook(
        lab, "client", root, {"SERVER": server.address}, path="/usr/lib/ltsp/get_hosts"
    )
    assert (result.returncode, result.stdout) == (0, BODY + "\n")


def test_an_http_1_1_answer_is_taken_too(lab: Lab, root: ClientRoot, broker: StartBroker) -> None:
    server = broker("b1", "http11")
    assert run(lab, root, SERVER=server.address)[0] == BODY.split(" ")


def test_the_request_carries_the_settings_and_the_mac(
    lab: Lab, root: ClientRoot, broker: StartBroker
) -> None:
    server = broker("b1")
    run(
        lab,
        root,
        SERVER=server.address,
        LDM_LB_ALGORITHM="mac-hash",
        LDM_LB_MAX_LOAD="1.5",
        LDM_LB_MAX_RESPONSE_MS="300",
        LDM_LB_IGNORE_SWAPPING="N",
        LDM_LB_HOSTS="2",
        LDM_LB_TRUST="any",
    )
    query = (
        f"mac={lab.mac('client')}&LDM_LB_ALGORITHM=mac-hash&LDM_LB_MAX_LOAD=1.5&LDM_LB_MAX_RESPONSE_MS=300"
        "&LDM_LB_IGNORE_SWAPPING=N&LDM_LB_HOSTS=2"
    )
    request = (
        f"GET /ltsp-mesh/v1/hosts?{query} HTTP/1.0\r\nHost: {server.address}\r\n"
        "User-Agent: ltsp-mesh-get_hosts/1\r\n\r\n"
    )
    assert server.requests() == [request]


def test_empty_and_none_settings_are_not_sent(lab: Lab, root: ClientRoot, broker: StartBroker) -> None:
    server = broker("b1")
    run(lab, root, SERVER=server.address, LDM_LB_ALGORITHM="", LDM_LB_MAX_LOAD="NONE")
    assert server.requests()[0].startswith(f"GET /ltsp-mesh/v1/hosts?mac={lab.mac('client')} HTTP/1.0\r\n")


@pytest.mark.parametrize("value", ["mac-hash&x=1", "mac hash", "$(reboot)", "least-loaded;"])
def test_a_value_that_cannot_be_sent_is_left_out_and_the_broker_still_asked(
    lab: Lab, root: ClientRoot, broker: StartBroker, value: str
) -> None:
    server = broker("b1")
    hosts, _ = run(lab, root, SERVER=server.address, LDM_LB_ALGORITHM=value, LDM_LB_HOSTS="2")
    assert hosts == BODY.split(" ")
    assert server.requests()[0].startswith(f"GET /ltsp-mesh/v1/hosts?mac={lab.mac('client')}&LDM_LB_HOSTS=2 ")


def test_a_value_that_cannot_be_sent_is_logged(
    lab: Lab, root: ClientRoot, broker: StartBroker, syslog: Syslog
) -> None:
    server = broker("b1")
    run(lab, root, SERVER=server.address, LDM_LB_ALGORITHM="mac-hash&x=1")
    (message,) = syslog.messages()
    assert (
        "LDM_LB_ALGORITHM=mac-hash&x=1 has characters other than A-Z a-z 0-9 . _ : -, so it is not sent"
        in message
    )
    assert f"the answer of broker {server.address} is printed" in message


@pytest.mark.parametrize("value", ["-1", "1001", "all", "1.5", "2 "])
def test_a_bad_ldm_lb_hosts_prints_every_host_and_is_not_sent(
    lab: Lab, root: ClientRoot, broker: StartBroker, value: str
) -> None:
    server = broker("b1", body="10.77.0.12 10.77.0.10 10.77.0.11")
    hosts, _ = run(lab, root, SERVER=server.address, LDM_LB_HOSTS=value)
    assert hosts == ["10.77.0.12", "10.77.0.10", "10.77.0.11"]
    assert "LDM_LB_HOSTS" not in server.requests()[0]


def test_a_bad_ldm_lb_hosts_is_logged_with_the_default(
    lab: Lab, root: ClientRoot, broker: StartBroker, syslog: Syslog
) -> None:
    server = broker("b1")
    run(lab, root, SERVER=server.address, LDM_LB_HOSTS="-1")
    assert any(
        "LDM_LB_HOSTS=-1 is not a count from 0 to 1000, using the default 0 (every host)" in m
        for m in syslog.messages()
    )


def test_a_brokers_warning_is_logged_and_its_list_printed(
    lab: Lab, root: ClientRoot, broker: StartBroker, syslog: Syslog
) -> None:
    server = broker("b1", "warned")
    hosts, _ = run(lab, root, SERVER=server.address)
    assert hosts == BODY.split(" ")
    (message,) = syslog.messages()
    assert f"broker {server.address}: {fake_broker.WARNING} | " in message
    assert f"the answer of broker {server.address} is printed" in message


def test_a_brokers_warning_with_unexpected_characters_is_not_logged_as_it_is(
    lab: Lab, root: ClientRoot, broker: StartBroker, syslog: Syslog
) -> None:
    server = broker("b1", "warned")
    run(lab, root, SERVER=server.address)
    (message,) = syslog.messages()
    assert "| (a warning with unexpected characters)" in message
    assert "`" not in message and "\x1b" not in message


def test_the_last_good_list_is_written_as_plain_text(lab: Lab, root: ClientRoot, broker: StartBroker) -> None:
    server = broker("b1")
    run(lab, root, SERVER=server.address)
    assert root.last_good_list.read_bytes() == (BODY + "\n").encode()


def test_an_unchanged_list_is_not_written_again(lab: Lab, root: ClientRoot, broker: StartBroker) -> None:
    server = broker("b1")
    run(lab, root, SERVER=server.address)
    before = root.last_good_list.stat()
    run(lab, root, SERVER=server.address)
    after = root.last_good_list.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_the_nc_flavour_is_found_and_kept(lab: Lab, root: ClientRoot, broker: StartBroker) -> None:
    server = broker("b1")
    run(lab, root, SERVER=server.address)
    assert (root.cache_dir / "nc-flavour").read_text() == f"{root.flavour}\n"


# -- rogue answers --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ROGUE_MODES)
def test_a_rogue_answer_never_reaches_the_output(
    lab: Lab, root: ClientRoot, broker: StartBroker, mode: str
) -> None:
    server = broker("b1", mode)
    hosts, wall_s = run(lab, root, SERVER=server.address, LDM_LB_FALLBACK=FALLBACK)
    assert hosts == [FALLBACK]
    assert wall_s < TIMEOUT_S + SLACK_S, f"took {wall_s * 1000:.0f} ms"


def test_a_rogue_answer_is_not_remembered(lab: Lab, root: ClientRoot, broker: StartBroker) -> None:
    server = broker("b1", "dollar")
    run(lab, root, SERVER=server.address)
    assert not root.last_good_list.exists()


def test_the_reason_of_a_400_is_logged(
    lab: Lab, root: ClientRoot, broker: StartBroker, syslog: Syslog
) -> None:
    server = broker("b1", "reason400")
    run(lab, root, SERVER=server.address, LDM_LB_FALLBACK=FALLBACK)
    assert any("HTTP 400: LDM_LB_ALGORITHM: unknown algorithm 'fastest'" in m for m in syslog.messages())


# -- which broker is asked ----------------------------------------------------------------


def test_with_server_dead_a_broker_of_ldm_lb_brokers_answers(
    lab: Lab, root: ClientRoot, broker: StartBroker
) -> None:
    other = broker("b2", body="10.77.0.12")
    hosts, _ = run(lab, root, SERVER=lab.address("b1"), LDM_LB_BROKERS=f"{DOWN} {other.address}")
    assert hosts == ["10.77.0.12"]


def test_a_silent_first_broker_leaves_time_for_the_next(
    lab: Lab, root: ClientRoot, broker: StartBroker
) -> None:
    silent, other = broker("b1", "silent"), broker("b2", body="10.77.0.12")
    hosts, wall_s = run(lab, root, SERVER=silent.address, LDM_LB_BROKERS=other.address)
    assert hosts == ["10.77.0.12"]
    assert wall_s < TIMEOUT_S + SLACK_S, f"took {wall_s * 1000:.0f} ms"


def test_a_host_of_the_last_good_list_answers_as_a_broker(
    lab: Lab, root: ClientRoot, broker: StartBroker
) -> None:
    member = broker("b3", body="10.77.0.13 10.77.0.12")
    remember(root, f"{member.address}\n")
    hosts, _ = run(lab, root, SERVER=lab.address("b1"))
    assert hosts == ["10.77.0.13", "10.77.0.12"]


def test_brokers_are_asked_in_order_server_brokers_last_good_list(
    lab: Lab, root: ClientRoot, broker: StartBroker
) -> None:
    first, second, third = (broker(h, "garbage") for h in ("b1", "b2", "b3"))
    remember(root, f"{third.address} {second.address}\n")
    run(
        lab,
        root,
        SERVER=first.address,
        LDM_LB_BROKERS=f"{second.address} {first.address}",
        LDM_LB_TIMEOUT_MS="2000",
    )
    started = sorted((fake.record.stat().st_mtime_ns, fake.address) for fake in (first, second, third))
    assert [address for _, address in started] == [first.address, second.address, third.address]


def test_each_broker_is_asked_once(lab: Lab, root: ClientRoot, broker: StartBroker) -> None:
    server = broker("b1", "garbage")
    remember(root, f"{server.address}\n")
    run(lab, root, SERVER=server.address, LDM_LB_BROKERS=f"{server.address} {server.address}")
    assert len(server.requests()) == 1


def test_the_broker_port_setting_is_used(lab: Lab, root: ClientRoot, broker: StartBroker) -> None:
    server = broker("b1")
    hosts, _ = run(lab, root, SERVER=server.address, LDM_LB_BROKER_PORT="379", LDM_LB_FALLBACK=FALLBACK)
    assert hosts == [FALLBACK]  # nothing listens on 379
    assert server.requests() == []


# -- falling back -------------------------------------------------------------------------


def test_with_every_broker_dead_the_last_good_list_is_printed(lab: Lab, root: ClientRoot) -> None:
    remember(root, "10.77.0.12 10.77.0.13\n")
    hosts, _ = run(lab, root, SERVER=lab.address("b1"), LDM_LB_FALLBACK=FALLBACK)
    assert hosts == ["10.77.0.12", "10.77.0.13"]


def test_without_a_last_good_list_ldm_lb_fallback_is_printed(lab: Lab, root: ClientRoot) -> None:
    hosts, _ = run(lab, root, SERVER=lab.address("b1"), LDM_LB_FALLBACK=f"{FALLBACK}  10.77.0.98")
    assert hosts == [FALLBACK, "10.77.0.98"]


def test_without_ldm_lb_fallback_server_is_printed(lab: Lab, root: ClientRoot) -> None:
    assert run(lab, root, SERVER=lab.address("b1"))[0] == [lab.address("b1")]


def test_words_of_ldm_lb_fallback_that_are_not_hosts_are_left_out(lab: Lab, root: ClientRoot) -> None:
    hosts, _ = run(lab, root, SERVER=lab.address("b1"), LDM_LB_FALLBACK=f"$(reboot) {FALLBACK} ;")
    assert hosts == [FALLBACK]


def test_a_corrupt_last_good_list_is_ignored(lab: Lab, root: ClientRoot, syslog: Syslog) -> None:
    root.cache_dir.mkdir(parents=True, exist_ok=True)
    root.last_good_list.write_bytes(b"\x93torn 10.77.0.12;$(reboot)\n10.77.0.13\n")
    hosts, _ = run(lab, root, SERVER=lab.address("b1"), LDM_LB_FALLBACK=FALLBACK)
    assert hosts == [FALLBACK]
    assert any("corrupt last good list" in m for m in syslog.messages())


def test_ldm_lb_hosts_limits_the_fallback_too(lab: Lab, root: ClientRoot) -> None:
    remember(root, "10.77.0.12 10.77.0.13 10.77.0.14\n")
    assert run(lab, root, SERVER=lab.address("b1"), LDM_LB_HOSTS="2")[0] == ["10.77.0.12", "10.77.0.13"]


def test_with_no_source_at_all_it_prints_one_empty_line(lab: Lab, root: ClientRoot) -> None:
    assert run(lab, root)[0] == []


def test_the_logger_says_why_it_fell_back(lab: Lab, root: ClientRoot, syslog: Syslog) -> None:
    run(lab, root, SERVER=lab.address("b1"), LDM_LB_FALLBACK=FALLBACK)
    messages = syslog.messages()
    assert len(messages) == 1, messages
    assert messages[0].startswith("<28>")  # daemon.warning
    assert "ltsp-mesh" in messages[0]
    assert f"broker {lab.address('b1')}: connection refused" in messages[0]
    assert "printing LDM_LB_FALLBACK" in messages[0]


def test_a_good_answer_logs_nothing(lab: Lab, root: ClientRoot, broker: StartBroker, syslog: Syslog) -> None:
    server = broker("b1")
    run(lab, root, SERVER=server.address)
    assert syslog.messages() == []


# -- time and processes -------------------------------------------------------------------


def test_with_every_broker_silent_the_fallback_comes_within_the_deadline(
    lab: Lab, root: ClientRoot, broker: StartBroker
) -> None:
    silent = [broker(h, "silent") for h in ("b1", "b2")]
    remember(root, f"{DOWN} {silent[1].address}\n")
    hosts, wall_s = run(lab, root, SERVER=silent[0].address, LDM_LB_BROKERS=f"{DOWN} 10.77.0.251")
    assert hosts == [DOWN, silent[1].address]
    assert wall_s < TIMEOUT_S + SLACK_S, f"took {wall_s * 1000:.0f} ms"


def test_ldm_lb_timeout_ms_sets_the_deadline(lab: Lab, root: ClientRoot, broker: StartBroker) -> None:
    silent = broker("b1", "silent")
    _, wall_s = run(lab, root, SERVER=silent.address, LDM_LB_TIMEOUT_MS="1000")
    assert 0.45 < wall_s < 1.0 + SLACK_S, f"took {wall_s * 1000:.0f} ms"  # half of it for the one broker


def test_a_bad_timeout_is_logged_and_the_default_used(
    lab: Lab, root: ClientRoot, broker: StartBroker, syslog: Syslog
) -> None:
    silent = broker("b1", "silent")
    _, wall_s = run(lab, root, SERVER=silent.address, LDM_LB_TIMEOUT_MS="0400ms")
    assert wall_s < TIMEOUT_S + SLACK_S, f"took {wall_s * 1000:.0f} ms"
    assert any(
        "LDM_LB_TIMEOUT_MS=0400ms is not 1..60000 ms, using the default 400" in m for m in syslog.messages()
    )


@pytest.mark.parametrize("mode", ["good", "silent", "huge"])
def test_no_process_is_left_running(lab: Lab, root: ClientRoot, broker: StartBroker, mode: str) -> None:
    server = broker("b1", mode)
    for _ in range(5):  # the watchdog's races are short: give them a few chances to show
        run(lab, root, SERVER=server.address, LDM_LB_FALLBACK=FALLBACK)
        pids = subprocess.run(
            ["ip", "netns", "pids", lab.netns("client")], capture_output=True, text=True, check=True
        ).stdout.split()
        assert pids == [], [
            Path(f"/proc/{p}/cmdline").read_bytes() for p in pids if os.path.exists(f"/proc/{p}")
        ]


# LDM_LB_TIMEOUT_MS with leading zeros is decimal, as lts.conf means it (shell arithmetic would
# read 0400 as octal 256 and fail on 0800 and 09); too many digits is the default, 400 ms.
# With one silent broker the hook gives it half of the deadline, and says how long it waited.
@pytest.mark.parametrize(("value", "timeout_ms"), [("0800", 800), ("0400", 400), ("1" * 20, 400)])
def test_a_timeout_with_leading_zeros_or_twenty_digits_gives_a_line_and_the_right_deadline(
    lab: Lab, root: ClientRoot, broker: StartBroker, syslog: Syslog, value: str, timeout_ms: int
) -> None:
    silent = broker("b1", "silent")
    root.cache_dir.mkdir(parents=True, exist_ok=True)
    (root.cache_dir / "nc-flavour").write_text(f"{root.flavour}\n")  # as after the first boot
    hosts, wall_s = run(lab, root, SERVER=silent.address, LDM_LB_TIMEOUT_MS=value)
    assert hosts == [silent.address]
    (message,) = syslog.messages()
    waited_ms = int(message.split(f"broker {silent.address}: no complete answer within ")[1].split(" ms")[0])
    assert timeout_ms / 2 - 60 < waited_ms <= timeout_ms / 2, message  # octal 0400 would give 128
    assert wall_s >= waited_ms / 1000


def test_a_twenty_digit_timeout_is_logged_with_the_default(
    lab: Lab, root: ClientRoot, broker: StartBroker, syslog: Syslog
) -> None:
    silent = broker("b1", "silent")
    run(lab, root, SERVER=silent.address, LDM_LB_TIMEOUT_MS="1" * 20)
    assert any(
        f"LDM_LB_TIMEOUT_MS={'1' * 20} is not 1..60000 ms, using the default 400" in m
        for m in syslog.messages()
    )


def test_a_timeout_of_09_is_nine_milliseconds(
    lab: Lab, root: ClientRoot, broker: StartBroker, syslog: Syslog
) -> None:
    server = broker("b1")
    hosts, _ = run(lab, root, SERVER=server.address, LDM_LB_TIMEOUT_MS="09")
    assert hosts == [server.address]  # 9 ms leave no time to ask: $SERVER, at once
    assert any(f"no time left to ask {server.address}" in m for m in syslog.messages())


# -- the script itself --------------------------------------------------------------------


@pytest.mark.parametrize(
    "shell",
    [["dash", "-n"], ["busybox", "sh", "-n"], ["shellcheck", "-s", "sh"]],
    ids=["dash", "busybox", "shellcheck"],
)
def test_the_hook_parses_and_is_shellcheck_clean(shell: list[str]) -> None:
    require_tools(shell[0], debian="dash busybox-static shellcheck")
    proc = subprocess.run([*shell, str(HOOK)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_packaged_hook_is_this_script() -> None:
    packaged = Path(__file__).resolve().parents[2] / "ltsp_mesh" / "hooks" / "get_hosts"
    assert packaged.is_symlink() and packaged.resolve() == HOOK
