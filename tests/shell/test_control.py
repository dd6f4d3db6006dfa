"""The daemon's control socket: one owner at a time, cleanup of only what it made, one-line errors."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ltsp_mesh.core.codec.control import ControlOp, ControlRequest
from ltsp_mesh.errors import ConfigError, MeshError
from ltsp_mesh.shell.server import control
from tests.shell import unprivileged

STATUS = ControlRequest(op=ControlOp.STATUS)


async def _ok(request: ControlRequest) -> dict[str, Any]:
    return {"ok": True, "op": request.op.value}


@pytest.fixture
def shared() -> Iterator[Path]:
    yield from unprivileged.open_dir()


async def _ask(path: Path) -> dict[str, Any]:
    return await asyncio.to_thread(control.request, path, STATUS)


async def test_the_socket_answers_requests(tmp_path: Path) -> None:
    server = await control.serve(tmp_path / "control.sock", _ok)
    try:
        assert (await _ask(tmp_path / "control.sock"))["op"] == "status"
    finally:
        await server.close()


async def test_a_second_daemon_on_a_held_socket_names_it_and_the_first_ones_pid(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    first = await control.serve(path, _ok)
    try:
        with pytest.raises(ConfigError) as raised:
            await control.serve(path, _ok)
        assert str(raised.value) == (
            f"the control socket {path} is in use by another ltsp-mesh serve (pid {os.getpid()}): stop it "
            "(systemctl stop ltsp-mesh) or give this one another --control-socket"
        )
        assert (await _ask(path))["ok"]  # the first one still answers
    finally:
        await first.close()


async def test_close_removes_the_socket_and_its_lock(tmp_path: Path) -> None:
    server = await control.serve(tmp_path / "control.sock", _ok)
    await server.close()
    assert list(tmp_path.iterdir()) == []


async def test_close_leaves_a_socket_that_is_no_longer_its_own(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    server = await control.serve(path, _ok)
    path.unlink()  # an admin removed it, and something else listens there now
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as other:
        other.bind(str(path))
        await server.close()
        assert path.is_socket()


async def test_a_socket_left_by_a_killed_daemon_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(path))  # bound, never listening: what a SIGKILLed daemon leaves
    server = await control.serve(path, _ok)
    try:
        assert (await _ask(path))["ok"]
    finally:
        await server.close()


async def test_a_file_that_is_not_a_socket_is_left_alone_and_named(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    path.write_text("precious")
    with pytest.raises(ConfigError) as raised:
        await control.serve(path, _ok)
    assert str(raised.value) == (
        f"{path} exists and is not a socket: move it away, or give --control-socket another path"
    )
    assert path.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["control.sock"]  # and no lock left behind


async def test_a_path_too_long_for_a_unix_socket_says_to_shorten_it(tmp_path: Path) -> None:
    path = tmp_path / ("x" * 120)
    with pytest.raises(ConfigError, match=r"is \d+ bytes long, more than the 107 .* shorter path"):
        await control.serve(path, _ok)


async def test_a_directory_that_cannot_be_made_names_the_socket_and_the_option(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "control.sock"
    with pytest.raises(ConfigError, match=rf"cannot create the control socket {path} .*--control-socket"):
        await control.serve(path, _ok)


def test_a_user_who_cannot_write_there_is_told_to_run_as_root(shared: Path) -> None:
    checked = unprivileged.as_nobody(
        "import asyncio\n"
        "from pathlib import Path\n"
        "from ltsp_mesh.shell.server import control\n"
        "from ltsp_mesh.errors import ConfigError\n"
        "async def handle(request): return {'ok': True}\n"
        "try:\n"
        f"    asyncio.run(control.serve(Path({str(shared / 'control.sock')!r}), handle))\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
    )
    assert checked.stdout == (
        f"cannot create the control socket {shared / 'control.sock'} (Permission denied): run serve as "
        "root, as the systemd unit does, or give --control-socket a path in a directory this user can "
        "write\n"
    ), checked.stderr


async def test_a_request_the_daemon_cannot_save_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    async def cannot_save(request: ControlRequest) -> dict[str, Any]:
        raise PermissionError(13, "Permission denied", "/var/lib/ltsp-mesh/drain.json")

    server = await control.serve(tmp_path / "control.sock", cannot_save)
    try:
        with pytest.raises(MeshError) as raised:
            await _ask(tmp_path / "control.sock")
    finally:
        await server.close()
    assert str(raised.value) == (
        "the daemon refused: nothing changed: /var/lib/ltsp-mesh/drain.json: Permission denied"
    )


def test_asking_through_a_socket_left_by_a_dead_daemon_says_none_listens(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(path))
    with pytest.raises(MeshError, match=rf"no daemon is listening on {path}, a socket left by one that died"):
        control.request(path, STATUS)
