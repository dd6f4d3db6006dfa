"""Formatting and lint, checked like any other test: `ruff format` and the rule set in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ["ltsp_mesh", "tests"]


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, *CHECKED], capture_output=True, text=True, cwd=ROOT
    )


def test_code_is_formatted_by_ruff_format() -> None:
    proc = _ruff("format", "--check", "--no-cache")
    assert proc.returncode == 0, "run `ruff format ltsp_mesh tests`:\n" + proc.stdout + proc.stderr


def test_code_passes_ruff_check() -> None:
    proc = _ruff("check", "--no-cache", "--output-format", "concise")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_formatter_escapes_are_left() -> None:
    escapes = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in CHECKED
        for path in (ROOT / folder).rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "# fmt: " + "skip" in line or "# fmt: " + "off" in line
    ]
    assert escapes == []
