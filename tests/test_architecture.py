"""The layout's rules, checked: a pure core, no import cycles, strict typing."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ltsp_mesh"
# The core takes values and time in and gives values out: none of these belong in it.
FORBIDDEN_IN_CORE = {"socket", "asyncio", "time", "psutil", "zeroconf", "logging", "subprocess", "os",
                     "ltsp_mesh.shell", "ltsp_mesh.cli", "ltsp_mesh.bench", "random", "datetime"}  # fmt: skip
ALLOWED_IN_CORE = {"random"}  # the type random.Random, passed in; never the module's global state


def _modules() -> list[str]:
    return sorted(
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for path in PACKAGE.rglob("*.py")
        if path.name != "__main__.py"
    )


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").rglob("*.py")), ids=lambda p: p.name)
def test_core_module_imports_no_io(path: Path) -> None:
    bad = {
        name for name in _imports(path)
        for forbidden in FORBIDDEN_IN_CORE - ALLOWED_IN_CORE
        if name == forbidden or name.startswith(forbidden + ".")
    }  # fmt: skip
    assert bad == set(), f"{path.name} imports {sorted(bad)}"


def test_core_uses_random_only_as_a_passed_in_source() -> None:
    for path in (PACKAGE / "core").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "random":
                assert node.attr == "Random", f"{path.name} calls random.{node.attr}: pass a random.Random in"


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    failures = []
    for module in _modules():
        proc = subprocess.run([sys.executable, "-c", code, module], capture_output=True, text=True)
        if proc.returncode != 0:
            failures.append(f"{module}: {proc.stderr.strip().splitlines()[-1]}")
    assert failures == []


def test_package_passes_mypy_strict() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary"], capture_output=True, text=True,
                          cwd=PACKAGE.parent)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
