"""POSIX message queues (mq_overview(7)) through libc, for the greeter feed.

A binding of six libc calls rather than a dependency: the feed runs on thin clients from the
Debian package, and no POSIX IPC binding is packaged in Debian. On Linux a queue descriptor is
a file descriptor, so a reader can wait for a message and a key press with one select().
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from typing import Final

from ltsp_mesh.errors import ConfigError

O_RDONLY, O_WRONLY, O_RDWR = os.O_RDONLY, os.O_WRONLY, os.O_RDWR
O_CREAT, O_NONBLOCK = os.O_CREAT, os.O_NONBLOCK
# Linux's default for an unprivileged process (/proc/sys/fs/mqueue/msgsize_max).
DEFAULT_MESSAGE_BYTES: Final = 8192


class _Attr(ctypes.Structure):
    _fields_ = [
        ("mq_flags", ctypes.c_long),
        ("mq_maxmsg", ctypes.c_long),
        ("mq_msgsize", ctypes.c_long),
        ("mq_curmsgs", ctypes.c_long),
        ("_reserved", ctypes.c_long * 4),
    ]


def _libc() -> ctypes.CDLL:
    # glibc 2.34 moved mq_* from librt into libc; look in librt first for older systems.
    for name in (ctypes.util.find_library("rt"), ctypes.util.find_library("c"), "libc.so.6"):
        if not name:
            continue
        lib = ctypes.CDLL(name, use_errno=True)
        if hasattr(lib, "mq_open"):
            return lib
    raise ConfigError("this system's C library has no POSIX message queues (mq_open)")


_lib: ctypes.CDLL | None = None


def _calls() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        lib = _libc()
        lib.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_Attr)]
        lib.mq_open.restype = ctypes.c_int
        lib.mq_send.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint]
        lib.mq_receive.argtypes = [
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_uint),
        ]
        lib.mq_receive.restype = ctypes.c_ssize_t
        lib.mq_getattr.argtypes = [ctypes.c_int, ctypes.POINTER(_Attr)]
        lib.mq_close.argtypes = [ctypes.c_int]
        lib.mq_unlink.argtypes = [ctypes.c_char_p]
        _lib = lib
    return _lib


def _error(what: str) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, f"{what}: {os.strerror(code)}")


def queue_name(name: str) -> bytes:
    """The name as mq_open wants it: one leading slash, no other, at most 255 bytes."""
    cleaned = "/" + name.lstrip("/")
    if "/" in cleaned[1:] or len(cleaned) < 2 or len(cleaned.encode()) > 255:
        raise ConfigError(f"message queue name {name!r} must be one word, e.g. ltsp-mesh (no slashes inside)")
    return cleaned.encode()


class MessageQueue:
    """An open POSIX message queue; non-blocking, so callers decide how to wait (select)."""

    def __init__(
        self,
        name: str,
        *,
        create: bool,
        max_messages: int = 1,
        message_bytes: int = DEFAULT_MESSAGE_BYTES,
        mode: int = 0o644,
    ) -> None:
        self.name = queue_name(name)
        lib = _calls()
        attr = _Attr(mq_maxmsg=max_messages, mq_msgsize=message_bytes)
        flags = (O_RDWR | O_CREAT if create else O_RDONLY) | O_NONBLOCK
        fd = lib.mq_open(self.name, flags, mode, ctypes.byref(attr) if create else None)
        if fd < 0:
            raise _error(f"mq_open {self.name.decode()}")
        self.fd: int = int(fd)
        got = _Attr()
        if lib.mq_getattr(fd, ctypes.byref(got)) < 0:
            raise _error("mq_getattr")
        self.message_bytes = int(got.mq_msgsize)

    def fileno(self) -> int:
        """The descriptor, for select()."""
        return self.fd

    def receive(self) -> bytes | None:
        """The oldest message, or None when the queue is empty."""
        buffer = ctypes.create_string_buffer(self.message_bytes)
        size = _calls().mq_receive(self.fd, buffer, self.message_bytes, None)
        if size < 0:
            if ctypes.get_errno() == errno.EAGAIN:
                return None
            raise _error("mq_receive")
        return buffer.raw[:size]

    def publish(self, message: bytes) -> None:
        """Put `message` in, dropping the oldest message when the queue is full: readers always
        find the newest snapshot, never a backlog of stale ones."""
        lib = _calls()
        for _ in range(8):  # a reader may empty or refill the slot between our two calls
            if lib.mq_send(self.fd, message, len(message), 0) == 0:
                return
            if ctypes.get_errno() != errno.EAGAIN:
                raise _error("mq_send")
            self.receive()
        raise OSError(errno.EAGAIN, "the message queue stayed full")

    def close(self) -> None:
        """Close the descriptor (the queue stays until unlinked)."""
        if self.fd >= 0:
            _calls().mq_close(self.fd)
            self.fd = -1

    def unlink(self) -> None:
        """Remove the queue's name."""
        if _calls().mq_unlink(self.name) < 0 and ctypes.get_errno() != errno.ENOENT:
            raise _error("mq_unlink")
