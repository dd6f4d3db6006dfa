"""The lab's tools (ltsp_mesh.lab) for `demo` and `bench`: imported when they run, or one clear line.

The Debian package leaves the lab out (servers need no network-namespace scenes or benchmarks);
a command that needs it then says where it lives instead of ending in an ImportError.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ltsp_mesh.errors import ConfigError


def import_lab(module: str, command: str) -> ModuleType:
    """ltsp_mesh.lab.`module`, or ConfigError saying the lab is not installed and where to find it."""
    name = f"ltsp_mesh.lab.{module}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (exc.name == "ltsp_mesh.lab" or exc.name.startswith("ltsp_mesh.lab.")):
            raise
        raise ConfigError(
            f"ltsp-mesh {command} needs the lab ({name}), which ships with the source, not the Debian "
            "package: run it from a checkout of ltsp-mesh (./dev demo, ./dev bench SUITE)"
        ) from exc
