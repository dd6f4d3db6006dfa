"""Run a few lines of Python as `nobody`, to meet the permission errors a user meets.

Root reads and writes everything, so a permission test drops to nobody in a child process
(setpriv, util-linux) instead of faking the error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_tools

REPO = Path(__file__).resolve().parents[2]


def require_root() -> None:
    """Only root can drop to another user; where CI=true that must hold."""
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("cannot run in CI: needs root to run a check as nobody")
        pytest.skip("needs root to run a check as nobody")


def as_nobody(code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` (Python) as nobody:nogroup from the repository; its output, completed."""
    require_root()
    require_tools("setpriv", debian="util-linux")
    return subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


def open_dir() -> Iterator[Path]:
    """A root-owned directory (mode 0755) that nobody can reach but not write: pytest's own
    tmp_path sits in a directory only root may enter."""
    path = Path(tempfile.mkdtemp(prefix="ltsp-mesh-test-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
