"""Commands compute a Result; this module alone prints it, as text or as one JSON document."""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ltsp_mesh.cli.exit_codes import OK, ExitCode

RESULT_VERSION: Final = 1


@dataclass
class Result:
    """What a command found: data for --json, text for people, and the exit code."""

    command: str
    data: Any = None
    text: str = ""
    exit_code: ExitCode = OK
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    streamed: bool = False  # the command printed its output as it went; print only an error


def render(result: Result, as_json: bool) -> None:
    """Print `result`: the JSON envelope on stdout, or its text on stdout and errors on stderr."""
    if result.streamed and not result.error:
        return
    if as_json:
        envelope = {
            "ltsp_mesh_result_version": RESULT_VERSION,
            "command": result.command,
            "ok": result.exit_code == OK,
            "exit_code": int(result.exit_code),
            "data": result.data,
        }
        if result.error:
            envelope["error"] = result.error
        if result.warnings:
            envelope["warnings"] = result.warnings
        sys.stdout.write(json.dumps(envelope, indent=2, sort_keys=False) + "\n")
        return
    for warning in result.warnings:
        sys.stderr.write(f"ltsp-mesh: warning: {warning}\n")
    if result.text:
        sys.stdout.write(result.text if result.text.endswith("\n") else result.text + "\n")
    if result.error:
        sys.stderr.write(f"ltsp-mesh {result.command}: {result.error}\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with aligned columns (works in any terminal, over ssh, in logs)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def jsonable(obj: Any) -> Any:
    """Dataclasses, enums and tuples as plain JSON values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (list, tuple)):
        return [jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    return obj
