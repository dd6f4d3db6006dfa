"""The daemon's control socket: a root-only Unix socket, one JSON line each way."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
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


async def serve(path: Path, handle: Handler) -> asyncio.AbstractServer:
    """Listen on `path` (mode 0600); only root and the daemon's own user may send requests."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if _listening(path):
        raise ConfigError(f"another daemon is already listening on {path}; stop it or pass --control-socket")
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
            writer.write(control.encode_reply(reply))
            await writer.drain()
        except (OSError, TimeoutError, ValueError) as exc:
            log.debug("control connection failed: %s", exc)
        finally:
            writer.close()

    old_umask = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(one, path=str(path), limit=control.MAX_MESSAGE_BYTES)
    finally:
        os.umask(old_umask)
    return server


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
    except PermissionError:
        raise MeshError(f"permission denied on {path}: run as root") from None
    except OSError as exc:
        raise MeshError(f"cannot talk to the daemon on {path}: {exc}") from exc
    reply = control.decode_reply(line)
    if not reply["ok"]:
        raise MeshError(f"the daemon refused: {reply.get('error', 'no reason given')}")
    return reply
