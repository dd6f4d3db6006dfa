"""Debian's chromium, headless, inside a lab namespace, driven over the DevTools pipe.

What a person sees of the status page, checked by a real browser: the lab test and the docs'
screenshot open the page in chromium running in a namespace of the lab (`ip netns exec`), so it
can load pages from the lab only, never from the machine's real networks. The DevTools
protocol goes over the pipe chromium reads on fd 3 and writes on fd 4
(--remote-debugging-pipe): no port, no WebSocket library. As root chromium needs --no-sandbox;
every background service it would otherwise reach out to is switched off, and its profile is a
new empty directory that goes with it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from ltsp_mesh.errors import LabError
from ltsp_mesh.lab.netns import Lab

CHROMIUM: Final = "chromium"
# Switches that keep a root, headless chromium from sandboxing (which root cannot) and from
# fetching anything of its own (updates, safe browsing lists, sync, field trials).
FLAGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
)
COMMAND_TIMEOUT_S: Final = 30.0
MAX_MESSAGE_BYTES: Final = 64 * 1024 * 1024  # a full-page screenshot, base64


def available() -> str | None:
    """Why chromium cannot run here, or None when it can."""
    return None if shutil.which(CHROMIUM) else "needs chromium (Debian package chromium)"


class Browser:
    """One headless chromium in `host`'s namespace, with one page open."""

    def __init__(self, lab: Lab, host: str, width: int = 1280, height: int = 720) -> None:
        self.lab, self.host = lab, host
        self._profile = Path(tempfile.mkdtemp(prefix="ltsp-mesh-chromium-"))
        child_in, self._to_browser = os.pipe()
        self._from_browser, child_out = os.pipe()
        argv = [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={self._profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        # The pipes arrive as stdin and stdout; the shell moves them to fds 3 and 4, where
        # chromium looks for them, and gives chromium an empty stdin and stdout of its own.
        shell = 'exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null'
        log = (self._profile / "chromium.log").open("wb")
        try:
            self._proc = subprocess.Popen(
                lab.exec_argv(host, ["sh", "-c", shell, *argv]),
                stdin=child_in,
                stdout=child_out,
                stderr=log,
                start_new_session=True,
                env={**os.environ, "HOME": str(self._profile)},
            )
        finally:
            log.close()
            os.close(child_in)
            os.close(child_out)
        self._next_id = 0
        self._buffer = b""
        self._session = ""
        try:
            target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self._session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"
            ]
            self.call("Page.enable")
            self.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
        except BaseException:
            self.close()
            raise

    # -- the protocol --------------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> None:
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise LabError(f"chromium did not answer within {COMMAND_TIMEOUT_S} s: {self.log_tail()}")
            if self._proc.poll() is not None:
                raise LabError(f"chromium exited ({self._proc.returncode}): {self.log_tail()}")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise LabError(f"chromium closed its DevTools pipe: {self.log_tail()}")
            self._buffer += chunk
            if len(self._buffer) > MAX_MESSAGE_BYTES:
                raise LabError("chromium sent a DevTools message over 64 MiB")
        message, _, self._buffer = self._buffer.partition(b"\0")
        result: dict[str, Any] = json.loads(message)
        return result

    def _call(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._send(message)
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        while True:
            answer = self._receive(deadline)
            if answer.get("id") != self._next_id:
                continue  # an event, or an answer to nothing we wait for
            if "error" in answer:
                raise LabError(f"chromium refused {method}: {answer['error']}")
            result: dict[str, Any] = answer.get("result", {})
            return result

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call a DevTools method on the open page."""
        return self._call(method, params, self._session)

    # -- what tests and the docs need ---------------------------------------------------
    def open(self, url: str) -> None:
        """Navigate the page to `url` (it loads in the background)."""
        result = self.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise LabError(f"chromium could not open {url}: {result['errorText']}")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (DevTools runs it, not the page)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result.get("result", {}).get("value")

    def text(self) -> str:
        """What the page shows, as text."""
        value = self.evaluate("document.body ? document.body.innerText : ''")
        return value if isinstance(value, str) else ""

    def screenshot(self, path: Path) -> None:
        """Save the whole page as a PNG."""
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path.write_bytes(base64.b64decode(data))

    def log_tail(self) -> str:
        """The end of chromium's own log, for error messages."""
        try:
            return (self._profile / "chromium.log").read_text(errors="replace")[-1500:]
        except OSError:
            return ""

    def close(self) -> None:
        """Stop chromium (its whole process group, by id) and remove its profile."""
        try:
            if self._proc.poll() is None:
                try:
                    self._send({"id": 0, "method": "Browser.close"})
                    self._proc.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            if self._proc.poll() is None:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(timeout=5)
        except (AttributeError, ProcessLookupError):
            pass
        finally:
            for fd in (self._to_browser, self._from_browser):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
