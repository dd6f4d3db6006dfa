"""The greeter feed and the terminal chooser, used as a person would: through tmux."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ltsp_mesh.core.codec import feed
from ltsp_mesh.lab.mesh import start_server, wait_ready
from ltsp_mesh.lab.netns import Lab, LabProcess, mesh_argv
from ltsp_mesh.shell.client.mqueue import MessageQueue
from tests.conftest import LabFactory, require_tools
from tests.lab.helpers import load, wait_until

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(module_lab_factory: LabFactory) -> Lab:
    lab = module_lab_factory(["s1", "s2", "client"])
    wait_ready(lab, [start_server(lab, "s1", load(sessions=3)), start_server(lab, "s2", load(sessions=1))])
    return lab


@pytest.fixture(scope="module")
def feeder(lab: Lab) -> Iterator[tuple[str, LabProcess]]:
    queue = f"ltsp-mesh-{lab.prefix}"
    proc = lab.spawn(
        "client",
        mesh_argv("feed", "--mqueue", queue, "--interval", "1", "--interface", "eth0"),
        log_name="feed",
    )
    yield queue, proc
    lab.stop(proc)


def _read(queue: str) -> feed.FeedMessage | None:
    try:
        reader = MessageQueue(queue, create=False)
    except FileNotFoundError:
        return None
    try:
        data = reader.receive()
        return feed.decode(data) if data else None
    finally:
        reader.close()


def test_the_feed_publishes_the_ranked_list_with_statuses(lab: Lab, feeder: tuple[str, LabProcess]) -> None:
    message = wait_until(lambda: _read(feeder[0]), 10, "a message in the queue")
    assert sorted(s.address for s in message.servers) == sorted([lab.address("s1"), lab.address("s2")])
    assert {s.status for s in message.servers} == {"Idle"}
    assert sum(s.recommended for s in message.servers) == 1 and message.servers[0].recommended


def test_the_feed_removes_its_queue_when_stopped(lab: Lab) -> None:
    queue = f"ltsp-mesh-{lab.prefix}-x"
    proc = lab.spawn(
        "client",
        mesh_argv("feed", "--mqueue", queue, "--interval", "1", "--interface", "eth0"),
        log_name="feed-x",
    )
    wait_until(lambda: _read(queue), 10, "a message in the queue")
    assert lab.stop(proc) == 0
    with pytest.raises(FileNotFoundError):
        MessageQueue(queue, create=False)


class Tmux:
    """A private tmux server (its own socket) running one command in a pane."""

    def __init__(self, socket: Path, command: str) -> None:
        require_tools("tmux", debian="tmux")
        self.base = ["tmux", "-S", str(socket)]
        subprocess.run([*self.base, "new-session", "-d", "-x", "150", "-y", "30", command], check=True)

    def screen(self) -> str:
        return subprocess.run([*self.base, "capture-pane", "-p"], capture_output=True, text=True).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.base, "send-keys", *keys], check=True)

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)


@pytest.fixture
def chooser(lab: Lab, feeder: tuple[str, LabProcess], tmp_path: Path) -> Iterator[tuple[Tmux, Path]]:
    out = tmp_path / "chosen"
    argv = lab.exec_argv("client", mesh_argv("chooser", "--mqueue", feeder[0]))
    tmux = Tmux(tmp_path / "tmux.sock", f"{shlex.join(argv)} > {out}; echo exit=$? >> {out}; sleep 30")
    try:
        yield tmux, out
    finally:
        tmux.close()


def _shown(tmux: Tmux, lab: Lab) -> str:
    screen = tmux.screen()
    return screen if lab.address("s1") in screen and lab.address("s2") in screen else ""


def test_enter_logs_in_to_the_recommended_server(lab: Lab, chooser: tuple[Tmux, Path]) -> None:
    tmux, out = chooser
    screen = wait_until(lambda: _shown(tmux, lab), 15, "both servers on the chooser's screen")
    selected = next(line for line in screen.splitlines() if line.startswith(">"))
    assert " * " in selected  # the recommended server is marked and selected
    tmux.keys("Enter")
    result = wait_until(
        lambda: out.exists() and "exit=" in out.read_text() and out.read_text(), 5, "the choice"
    )
    address = next(w for w in selected.split() if w.startswith("10.77."))
    assert result.splitlines() == [address, "exit=0"]


def test_a_digit_picks_that_line(lab: Lab, chooser: tuple[Tmux, Path]) -> None:
    tmux, out = chooser
    screen = wait_until(lambda: _shown(tmux, lab), 15, "both servers on the chooser's screen")
    second = next(line for line in screen.splitlines() if line[2:4].strip() == "2")
    tmux.keys("2")
    result = wait_until(
        lambda: out.exists() and "exit=" in out.read_text() and out.read_text(), 5, "the choice"
    )
    assert result.splitlines() == [next(w for w in second.split() if w.startswith("10.77.")), "exit=0"]


def test_q_leaves_without_a_choice(lab: Lab, chooser: tuple[Tmux, Path]) -> None:
    tmux, out = chooser
    wait_until(lambda: _shown(tmux, lab), 15, "both servers on the chooser's screen")
    tmux.keys("q")
    result = wait_until(
        lambda: out.exists() and "exit=" in out.read_text() and out.read_text(), 5, "the exit"
    )
    assert result.splitlines() == ["exit=130"]
