"""A fake mesh broker for the get_hosts hook's tests: one TCP port, one behaviour.

Run inside a lab namespace: `python fake_broker.py ADDRESS PORT MODE [--body TEXT] [--record FILE]`;
prints "ready" once it listens. Each connection: the request is read up to its blank line (or
the client's end, or 5 s), recorded as one JSON line {"peer": ..., "request": ...} in FILE when
--record is given, then answered as MODE says:

  good          HTTP/1.0 200 with BODY and its newline (the real broker's answer)
  http11        the same as HTTP/1.1
  garbage       bytes that are not HTTP at all
  huge          a 200 whose body is 1 MB of hosts
  drip          a good answer, one byte a second
  dollar        a 200 whose body holds $(reboot)
  semicolon     a 200 whose body holds ;reboot
  backtick      a 200 whose body holds `reboot`
  newline       a 200 whose body is two lines
  unterminated  a 200 whose body does not end in a newline
  reason400     a 400 with a one-line reason (REASON)
  warned        a 200 with BODY and two Ltsp-Mesh-Warning headers: WARNING, and one holding
                an escape sequence and a backtick (never logged as it is)
  silent        accepts, reads, and never answers (holds the connection for 60 s)
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import socketserver
import sys
import threading
import time
from types import FrameType

BODY = "10.77.0.12 10.77.0.10"
REASON = "LDM_LB_ALGORITHM: unknown algorithm 'fastest'"
WARNING = "LDM_LB_HOSTS='-1' is not a whole number from 0 to 1000 (e.g. 0 for all, or 3); using the default 0"
ROGUE_WARNING = "LDM_LB_ALGORITHM=`reboot` \x1b[2J"
MODES = (
    "good",
    "http11",
    "garbage",
    "huge",
    "drip",
    "dollar",
    "semicolon",
    "backtick",
    "newline",
    "unterminated",
    "reason400",
    "warned",
    "silent",
)
_record_lock = threading.Lock()


def _ok(body: bytes, version: str = "1.0", extra: str = "") -> bytes:
    head = (
        f"HTTP/{version} 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    )
    return head.encode() + body


def answer(mode: str, body: str) -> bytes:
    """What MODE sends (for drip: what it sends one byte at a time; silent: nothing)."""
    line = body.encode()
    answers = {
        "good": _ok(line + b"\n"),
        "http11": _ok(line + b"\n", "1.1"),
        "garbage": b"\x00\xff\xfeSSH-2.0-not-http\r\n\x1b[2J$(reboot)\n",
        "huge": _ok((b"10.77.0.12 " * (1_048_576 // 11)) + b"\n"),
        "drip": _ok(line + b"\n"),
        "dollar": _ok(b"10.77.0.12 $(reboot)\n"),
        "semicolon": _ok(b"10.77.0.12;reboot\n"),
        "backtick": _ok(b"10.77.0.12 `reboot`\n"),
        "newline": _ok(b"10.77.0.12\n10.77.0.10\n"),
        "unterminated": _ok(line),
        "reason400": (
            f"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Connection: close\r\n\r\n{REASON}\n"
        ).encode(),
        "warned": _ok(
            line + b"\n",
            "1.1",
            f"Ltsp-Mesh-Warning: {WARNING}\r\nltsp-mesh-warning: {ROGUE_WARNING}\r\n",
        ),
        "silent": b"",
    }
    return answers[mode]


class Handler(socketserver.BaseRequestHandler):
    """One connection: read the request, record it, answer as the mode says."""

    server: Server

    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.settimeout(5)
        data = b""
        try:
            while b"\r\n\r\n" not in data and len(data) < 16384:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        if self.server.record:
            with _record_lock, open(self.server.record, "a", encoding="utf-8") as out:
                record = {"peer": self.client_address[0], "request": data.decode("latin-1")}
                out.write(json.dumps(record) + "\n")
        mode = self.server.mode
        try:
            if mode == "silent":
                # Holds the connection open whatever the client does: busybox's nc shuts its
                # sending side down once the request is sent, and that must not end the wait.
                time.sleep(60)
            elif mode == "drip":
                for byte in answer(mode, self.server.body):
                    conn.sendall(bytes([byte]))
                    time.sleep(1)
            else:
                conn.sendall(answer(mode, self.server.body))
        except OSError:
            pass  # the client went away (as it should, from a rogue)


class Server(socketserver.ThreadingTCPServer):
    """The listening socket, with the behaviour every connection gets."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: tuple[str, int], mode: str, body: str, record: str | None) -> None:
        super().__init__(address, Handler)
        self.mode, self.body, self.record = mode, body, record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("address")
    parser.add_argument("port", type=int)
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--body", default=BODY)
    parser.add_argument("--record")
    args = parser.parse_args()
    server = Server((args.address, args.port), args.mode, args.body, args.record)

    def stop(signum: int, frame: FrameType | None) -> None:
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
