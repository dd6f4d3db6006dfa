"""Fixtures shared by every test directory: the namespace lab and the leak check."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ltsp_mesh.lab import netns as lab_module
from ltsp_mesh.lab.netns import Lab


def _cannot_run(problem: str) -> None:
    # CI is where the lab must run: there a missing capability is a failure, never a skip.
    if os.environ.get("CI") == "true":
        pytest.fail(f"cannot run in CI: {problem}")
    pytest.skip(problem)


def require_lab() -> None:
    """Skip (or, where CI=true, fail) when this machine cannot build a lab."""
    problem = lab_module.capability_problem()
    if problem is not None:
        _cannot_run(problem)


def require_tools(*tools: str, debian: str) -> None:
    """Skip (or, where CI=true, fail) when a command is missing; `debian` names its packages."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        _cannot_run(f"needs {', '.join(missing)} (Debian packages: {debian})")


LabFactory = Callable[..., Lab]
# Every lab prefix this test run created: the final leak check looks at these only, so that a
# concurrent run's labs (another checkout, a benchmark) are neither blamed nor touched.
_CREATED: set[str] = set()


@contextlib.contextmanager
def _lab_factory(new_workdir: Callable[[], Path]) -> Iterator[LabFactory]:
    """Build labs on demand; remove every one of them on exit, whatever happened."""
    require_lab()
    labs: list[Lab] = []

    def make(hosts: Sequence[str], lab_type: type[Lab] = Lab, **options: Any) -> Lab:
        # lab_type: a Lab subclass such as lab/routed.py's RoutedLab, built with `options`.
        lab = lab_type(hosts=list(hosts), workdir=new_workdir(), **options)
        labs.append(lab)
        _CREATED.add(lab.prefix)
        lab.create()
        return lab

    try:
        yield make
    finally:
        for lab in labs:
            lab.destroy()
            assert lab_module.names_with_prefix(lab.prefix) == [], f"lab {lab.prefix} left names behind"


@pytest.fixture
def make_lab(tmp_path: Path) -> Iterator[LabFactory]:
    """Labs that are removed after the test."""
    counter = itertools.count()
    with _lab_factory(lambda: tmp_path / f"lab{next(counter)}") as make:
        yield make


@pytest.fixture(scope="module")
def module_lab_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabFactory]:
    """Labs shared by the tests of one module, removed after the module."""
    with _lab_factory(lambda: tmp_path_factory.mktemp("lab")) as make:
        yield make


@pytest.fixture(scope="session", autouse=True)
def no_lab_leaks() -> Iterator[None]:
    """After the whole run, nothing a lab of this run created may be left."""
    yield
    if lab_module.capability_problem() is None:
        leftovers = [name for prefix in sorted(_CREATED) for name in lab_module.names_with_prefix(prefix)]
        assert leftovers == [], f"lab names left behind: {leftovers}"
