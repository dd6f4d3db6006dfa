"""STATE_DIR is checked at start-up: a daemon that cannot keep its drain state says so at once."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ltsp_mesh.errors import ConfigError
from ltsp_mesh.shell.server import state_dir
from tests.shell import unprivileged


@pytest.fixture
def shared() -> Iterator[Path]:
    yield from unprivileged.open_dir()


def test_a_missing_state_dir_is_created(tmp_path: Path) -> None:
    wanted = tmp_path / "var" / "lib" / "ltsp-mesh"
    assert state_dir.prepare(wanted) == wanted and wanted.is_dir()


def test_a_file_where_the_state_dir_should_be_is_named_with_the_setting(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("not a directory")
    with pytest.raises(ConfigError) as raised:
        state_dir.prepare(tmp_path / "state")
    assert str(raised.value) == (
        f"the state directory {tmp_path / 'state'} is not a directory: set STATE_DIR in mesh.conf or "
        "--state-dir to a directory it can write"
    )


def test_a_state_dir_that_cannot_be_created_names_it_and_the_setting(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(
        ConfigError, match=rf"cannot create the state directory {tmp_path}/file/state .*STATE_DIR"
    ):
        state_dir.prepare(tmp_path / "file" / "state")


def _prepare_as_nobody(path: Path) -> subprocess.CompletedProcess[str]:
    """state_dir.prepare(path) run as nobody; it prints the ConfigError it meets."""
    return unprivileged.as_nobody(
        "from pathlib import Path\n"
        "from ltsp_mesh.shell.server import state_dir\n"
        "from ltsp_mesh.errors import ConfigError\n"
        "try:\n"
        f"    state_dir.prepare(Path({str(path)!r}))\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
    )


def test_a_state_dir_this_user_cannot_write_says_to_run_as_root(shared: Path) -> None:
    (shared / "state").mkdir(mode=0o755)
    checked = _prepare_as_nobody(shared / "state")
    assert checked.stdout == (
        f"the state directory {shared / 'state'} is not writable (Permission denied): run serve as root, as "
        "the systemd unit does, or set STATE_DIR in mesh.conf or --state-dir to a directory it can write\n"
    ), checked.stderr


def test_a_state_dir_this_user_cannot_create_says_to_run_as_root(shared: Path) -> None:
    checked = _prepare_as_nobody(shared / "state")
    assert checked.stdout.startswith(
        f"cannot create the state directory {shared / 'state'} (Permission denied): run serve as root"
    ), checked.stderr
