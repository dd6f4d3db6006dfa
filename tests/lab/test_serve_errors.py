"""`serve` given a resource it cannot use ends in one line naming it and the fix, exit 1.

Run in a lab namespace, so that a daemon that did start by mistake announces nowhere real.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ltsp_mesh.cli.exit_codes import FAILED
from ltsp_mesh.lab.mesh import start_server
from ltsp_mesh.lab.netns import Lab
from tests.conftest import LabFactory
from tests.lab.helpers import load

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(module_lab_factory: LabFactory) -> Lab:
    return module_lab_factory(["s1"])


def _fails(lab: Lab, *args: str) -> str:
    """Start serve with `args` on top of the lab's own; once it exited 1, its one error line."""
    proc = start_server(lab, "s1", load(), args=args)
    assert proc.popen.wait(timeout=30) == FAILED
    text = proc.log_text()  # the daemon's log lines (-v) and the error, on one stream
    errors = [line for line in text.splitlines() if line.startswith("ltsp-mesh serve: ")]
    assert len(errors) == 1 and text.strip().endswith(errors[0]) and "Traceback" not in text, text
    return errors[0].removeprefix("ltsp-mesh serve: ")


def test_a_host_key_that_was_set_and_is_missing(lab: Lab, tmp_path: Path) -> None:
    key = tmp_path / "absent_key"
    assert _fails(lab, "--host-key", str(key)).startswith(
        f"the host key {key} does not exist: set HOST_KEY in mesh.conf or --host-key"
    )


def test_a_host_key_of_the_wrong_type(lab: Lab, tmp_path: Path) -> None:
    key = tmp_path / "rsa_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(key)], check=True)
    assert _fails(lab, "--host-key", str(key)).startswith(
        f"the host key {key} cannot sign (host key is a ssh-rsa"
    )


def test_a_state_dir_that_is_a_file(lab: Lab, tmp_path: Path) -> None:
    (tmp_path / "state").write_text("")
    assert _fails(lab, "--state-dir", str(tmp_path / "state")) == (
        f"the state directory {tmp_path / 'state'} is not a directory: set STATE_DIR in mesh.conf or "
        "--state-dir to a directory it can write"
    )


def test_a_control_socket_path_that_holds_a_file(lab: Lab, tmp_path: Path) -> None:
    (tmp_path / "control.sock").write_text("keep me")
    assert _fails(lab, "--control-socket", str(tmp_path / "control.sock")) == (
        f"{tmp_path / 'control.sock'} exists and is not a socket: move it away, or give --control-socket "
        "another path"
    )
    assert (tmp_path / "control.sock").read_text() == "keep me"
