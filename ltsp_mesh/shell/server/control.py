"""The daemon's control socket: a root-only Unix socket, one JSON line each way."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import socket
import stat
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from ltsp_mesh.core.codec import control
from ltsp_mesh.core.codec.control import ControlRequest
from ltsp_mesh.errors import ConfigError, DecodeError, MeshError

log = logging.getLogger(__name__)

DEFAULT_SOCKET: Final = "/run/ltsp-mesh/control.sock"
REQUEST_TIMEOUT_S: Final = 5.0
LOCK_SUFFIX: Final = ".lock"
# sun_path holds 108 bytes with the terminating NUL (unix(7)).
MAX_PATH_BYTES: Final = 107

Handler = Callable[[ControlRequest], Awaitable[dict[str, Any]]]


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _cannot_create(path: Path, exc: OSError) -> ConfigError:
    why = exc.strerror or str(exc)
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ConfigError(
            f"cannot create the control socket {path} ({why}): run serve as root, as the systemd unit "
            "does, or give --control-socket a path in a directory this user can write"
        )
    return ConfigError(f"cannot create the control socket {path} ({why}): give --control-socket another path")


def _in_use(path: Path, pid: str) -> ConfigError:
    by = f"another ltsp-mesh serve (pid {pid})" if pid.isdigit() else "another ltsp-mesh serve"
    return ConfigError(
        f"the control socket {path} is in use by {by}: stop it (systemctl stop ltsp-mesh) "
        "or give this one another --control-socket"
    )


def _same_file(path: Path, identity: tuple[int, int]) -> bool:
    try:
        found = os.stat(path)
    except OSError:
        return False
    return (found.st_dev, found.st_ino) == identity


def _lock(path: Path) -> int:
    """Hold `path`.lock for as long as this daemon owns `path`: whoever holds it may replace a
    socket left behind there, and nobody else may (two daemons starting at once both see no
    listener; only one gets the lock). Returns the locked file's descriptor."""
    lock_path = path.with_name(path.name + LOCK_SUFFIX)
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise _cannot_create(path, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 16).decode("ascii", "replace").strip()
            os.close(fd)
            raise _in_use(path, holder) from None
        except OSError as exc:
            os.close(fd)
            raise _cannot_create(path, exc) from None
        # The daemon before us removes its lock file as it stops: if it did so between our
        # open and our lock, we hold a file nobody else will see. Lock the one the path names.
        info = os.fstat(fd)
        if _same_file(lock_path, (info.st_dev, info.st_ino)):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            return fd
        os.close(fd)


def _unlock(path: Path, fd: int) -> None:
    """Remove the lock file while still holding it (see _lock), then let it go."""
    lock_path = path.with_name(path.name + LOCK_SUFFIX)
    info = os.fstat(fd)
    if _same_file(lock_path, (info.st_dev, info.st_ino)):
        lock_path.unlink(missing_ok=True)
    os.close(fd)


class ControlServer:
    """The listening control socket; `close()` removes only what this process made."""

    def __init__(self, path: Path, server: asyncio.AbstractServer, lock_fd: int) -> None:
        self.path, self._server, self._lock_fd = path, server, lock_fd
        info = os.stat(path)
        self._identity = (info.st_dev, info.st_ino)

    async def close(self) -> None:
        """Stop listening; unlink the socket and its lock file if they are still ours."""
        self._server.close()
        await self._server.wait_closed()
        if _same_file(self.path, self._identity):
            self.path.unlink(missing_ok=True)
        if self._lock_fd >= 0:
            _unlock(self.path, self._lock_fd)
            self._lock_fd = -1


async def serve(path: Path, handle: Handler) -> ControlServer:
    """Listen on `path` (mode 0600); only root and the daemon's own user may send requests.

    Raises ConfigError, in one line naming the path and the fix, when another daemon holds the
    path, the path is not a socket, or the socket cannot be made.
    """
    size = len(os.fsencode(path))
    if size > MAX_PATH_BYTES:
        raise ConfigError(
            f"the control socket path {path} is {size} bytes long, more than the {MAX_PATH_BYTES} a Unix "
            "socket takes: give --control-socket a shorter path"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot_create(path, exc) from None
    lock_fd = _lock(path)
    try:
        return await _listen(path, handle, lock_fd)
    except BaseException:
        _unlock(path, lock_fd)
        raise


async def _listen(path: Path, handle: Handler, lock_fd: int) -> ControlServer:
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _cannot_create(path, exc) from None
    else:
        if not stat.S_ISSOCK(found.st_mode):
            raise ConfigError(
                f"{path} exists and is not a socket: move it away, or give --control-socket another path"
            )
        if _listening(path):  # a daemon of a version that took no lock
            raise _in_use(path, "")
        path.unlink(missing_ok=True)  # a socket left by a killed daemon
    allowed = {0, os.geteuid()}

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if _peer_uid(writer) not in allowed:
                writer.write(control.encode_reply({"ok": False, "error": "only root may control the daemon"}))
                return
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                line = await reader.readline()
            try:
                reply = await handle(control.decode_request(line))
            except DecodeError as exc:
                reply = {"ok": False, "error": str(exc)}
            except OSError as exc:  # the handler could not save what it was asked to change
                why = f"{exc.filename}: {exc.strerror}" if exc.filename else (exc.strerror or str(exc))
                log.warning("a control request failed, nothing changed: %s", why)
                reply = {"ok": False, "error": f"nothing changed: {why}"}
            writer.write(control.encode_reply(reply))
            await writer.drain()
        except (OSError, TimeoutError, ValueError) as exc:
            log.debug("control connection failed: %s", exc)
        finally:
            writer.close()

    old_umask = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(one, path=str(path), limit=control.MAX_MESSAGE_BYTES)
    except OSError as exc:
        raise _cannot_create(path, exc) from None
    finally:
        os.umask(old_umask)
    return ControlServer(path, server, lock_fd)


def request(path: Path, message: ControlRequest, timeout_s: float = REQUEST_TIMEOUT_S) -> dict[str, Any]:
    """Send one request to the daemon at `path` and return its reply (blocking; for the CLI)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(str(path))
            sock.sendall(control.encode_request(message))
            with sock.makefile("rb") as stream:
                line = stream.readline(control.MAX_MESSAGE_BYTES + 1)
    except FileNotFoundError:
        raise MeshError(f"no daemon is listening on {path} (is `ltsp-mesh serve` running?)") from None
    except ConnectionRefusedError:
        raise MeshError(
            f"no daemon is listening on {path}, a socket left by one that died "
            "(systemctl status ltsp-mesh; or give --control-socket the running daemon's socket)"
        ) from None
    except PermissionError:
        raise MeshError(f"permission denied on {path}: run as root") from None
    except OSError as exc:
        raise MeshError(f"cannot talk to the daemon on {path}: {exc}") from exc
    reply = control.decode_reply(line)
    if not reply["ok"]:
        raise MeshError(f"the daemon refused: {reply.get('error', 'no reason given')}")
    return reply
