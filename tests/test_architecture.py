"""The layout's rules, checked: a pure core, no import cycles, strict typing."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ltsp_mesh"
# The core takes values and time in and gives values out: none of these belong in it.
FORBIDDEN_IN_CORE = {
    "socket",
    "asyncio",
    "time",
    "psutil",
    "zeroconf",
    "logging",
    "subprocess",
    "os",
    "ltsp_mesh.shell",
    "ltsp_mesh.cli",
    "ltsp_mesh.lab",
    "random",
    "datetime",
}
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


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_imports(path: Path) -> set[str]:
    """What a module imports, as module names: `from a.b import c` counts a.b.c when c is a module."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("ltsp_mesh"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ltsp_mesh"):
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                is_module = (PACKAGE.parent / (submodule.replace(".", "/") + ".py")).exists() or (
                    PACKAGE.parent / submodule.replace(".", "/") / "__init__.py"
                ).exists()
                names.add(submodule if is_module else node.module)
    return names


def _room(module: str, depth: int) -> str:
    """The folder (or top-level module) a module lives in, `depth` names below ltsp_mesh."""
    parts = module.split(".")
    room = ".".join(parts[: depth + 1])
    return room


def _edges(top: str, depth: int) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in (PACKAGE.parent / top.replace(".", "/")).rglob("*.py"):
        source = _room(_module_name(path), depth)
        for target in _package_imports(path):
            if target.startswith(top + ".") and _room(target, depth) != source:
                edges.setdefault(source, set()).add(_room(target, depth))
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str]:
    """One import cycle among the rooms, or [] when imports only go one way."""
    done: set[str] = set()

    def visit(node: str, trail: list[str]) -> list[str]:
        if node in trail:
            return trail[trail.index(node) :] + [node]
        if node in done:
            return []
        for target in sorted(edges.get(node, ())):
            found = visit(target, trail + [node])
            if found:
                return found
        done.add(node)
        return []

    for start in sorted(edges):
        found = visit(start, [])
        if found:
            return found
    return []


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").rglob("*.py")), ids=lambda p: p.name)
def test_core_module_imports_no_io(path: Path) -> None:
    bad = {
        name
        for name in _imports(path)
        for forbidden in FORBIDDEN_IN_CORE - ALLOWED_IN_CORE
        if name == forbidden or name.startswith(forbidden + ".")
    }
    assert bad == set(), f"{path.name} imports {sorted(bad)}"


def test_core_uses_random_only_as_a_passed_in_source() -> None:
    for path in (PACKAGE / "core").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "random"
            ):
                assert node.attr == "Random", f"{path.name} calls random.{node.attr}: pass a random.Random in"


def _import_alone(module: str) -> str | None:
    """Why `module` cannot be imported by a fresh interpreter, or None when it can."""
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
    return None if proc.returncode == 0 else f"{module}: {proc.stderr.strip().splitlines()[-1]}"


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    # One interpreter per module, as many at once as there are CPUs: 160 starts take 16 s one
    # after another.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        failures = [why for why in pool.map(_import_alone, _modules()) if why is not None]
    assert failures == []


def test_package_passes_mypy_strict() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"],
        capture_output=True,
        text=True,
        cwd=PACKAGE.parent,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# The rooms of the house, in the order data flows through them: each may import only rooms
# before it in its row (and anything in core). Checked one way: a room never imports a later one.
ROLE_ORDER = ("ltsp_mesh.core", "ltsp_mesh.shell", "ltsp_mesh.cli", "ltsp_mesh.lab")
SHELL_ORDER = ("ltsp_mesh.shell.client", "ltsp_mesh.shell.broker", "ltsp_mesh.shell.server")


def test_core_folders_import_each_other_one_way_only() -> None:
    assert _cycle(_edges("ltsp_mesh.core", depth=2)) == []


def test_shell_folders_import_each_other_one_way_only() -> None:
    assert _cycle(_edges("ltsp_mesh.shell", depth=2)) == []


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_no_later_role(path: Path) -> None:
    module = _module_name(path)
    role = next((r for r in ROLE_ORDER if module == r or module.startswith(r + ".")), None)
    if role is None:  # ltsp_mesh itself, errors, __main__: the entrance hall
        return
    later = ROLE_ORDER[ROLE_ORDER.index(role) + 1 :]
    bad = {name for name in _package_imports(path) for r in later if name == r or name.startswith(r + ".")}
    if module in LAB_COMMANDS:
        bad -= {name for name in bad if name.startswith("ltsp_mesh.lab")}
    assert bad == set(), f"{module} imports {sorted(bad)}"


@pytest.mark.parametrize(
    "path", sorted((PACKAGE / "shell").rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_shell_rooms_import_no_later_room(path: Path) -> None:
    module = _module_name(path)
    room = next((r for r in SHELL_ORDER if module == r or module.startswith(r + ".")), None)
    # The shared shell modules (atomic files, interfaces, queries, keys) come before every room.
    later = SHELL_ORDER if room is None else SHELL_ORDER[SHELL_ORDER.index(room) + 1 :]
    bad = {name for name in _package_imports(path) for r in later if name == r or name.startswith(r + ".")}
    assert bad == set(), f"{module} imports {sorted(bad)}"


# The only commands that use the lab, importing it when they run: the Debian package leaves
# ltsp_mesh.lab out, and they then say so in one line.
LAB_COMMANDS = {"ltsp_mesh.cli.bench", "ltsp_mesh.cli.demo"}


def test_production_code_runs_without_the_lab() -> None:
    code = (
        "import sys, importlib\n"
        "class NoLab:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ltsp_mesh.lab' or name.startswith('ltsp_mesh.lab.'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, NoLab())\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
    )
    production = [m for m in _modules() if not m.startswith("ltsp_mesh.lab")]
    proc = subprocess.run([sys.executable, "-c", code, *production], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_the_cycle_finder_names_a_cycle_and_passes_a_chain() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) == []
