"""The daemon's control protocol and its persisted drain state: values <-> JSON bytes.

`ltsp-mesh drain` talks to the running daemon over a Unix socket: one JSON object per line each
way. The drain state is also what the daemon keeps in STATE_DIR, so it survives a restart.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass
from typing import Any, Final

from ltsp_mesh.errors import DecodeError

MAX_MESSAGE_BYTES: Final = 64 * 1024
MAX_REASON_CHARS: Final = 200


class ControlOp(enum.StrEnum):
    """What a control request asks for."""

    STATUS = "status"
    DRAIN = "drain"


@dataclass(frozen=True, slots=True)
class DrainState:
    """Whether the server refuses new logins, why, and since when (wall-clock seconds)."""

    draining: bool = False
    reason: str = ""
    since: float = 0.0

    def __post_init__(self) -> None:
        if type(self.draining) is not bool:
            raise ValueError("draining must be a bool")
        if len(self.reason) > MAX_REASON_CHARS or not self.reason.isprintable():
            raise ValueError(f"reason must be printable and at most {MAX_REASON_CHARS} characters")
        if not math.isfinite(self.since) or self.since < 0:
            raise ValueError("since is not a time")


@dataclass(frozen=True, slots=True)
class ControlRequest:
    """A request: STATUS, or DRAIN to `drain` (with `reason`)."""

    op: ControlOp
    drain: DrainState | None = None


def _load(data: bytes, what: str) -> dict[str, Any]:
    if len(data) > MAX_MESSAGE_BYTES:
        raise DecodeError(f"{what} of {len(data)} bytes is over {MAX_MESSAGE_BYTES}")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise DecodeError(f"{what} is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise DecodeError(f"{what} is not a JSON object")
    return obj


def encode_drain_state(state: DrainState) -> bytes:
    """The state file's bytes."""
    return (
        json.dumps({"draining": state.draining, "reason": state.reason, "since": state.since}).encode()
        + b"\n"
    )


def _drain_from(obj: Any, what: str) -> DrainState:
    if not isinstance(obj, dict):
        raise DecodeError(f"{what} is not a JSON object")
    since = obj.get("since", 0.0)
    if isinstance(since, bool) or not isinstance(since, (int, float)):
        raise DecodeError(f"{what}: since is not a number")
    reason = obj.get("reason", "")
    if not isinstance(reason, str):
        raise DecodeError(f"{what}: reason is not a string")
    try:
        return DrainState(draining=obj.get("draining"), reason=reason, since=float(since))  # type: ignore[arg-type]  # checked in __post_init__
    except ValueError as exc:
        raise DecodeError(f"{what}: {exc}") from exc


def decode_drain_state(data: bytes) -> DrainState:
    """The drain state in a state file; raise DecodeError if it is not one."""
    return _drain_from(_load(data, "drain state file"), "drain state file")


def encode_request(request: ControlRequest) -> bytes:
    """One request line."""
    obj: dict[str, Any] = {"op": request.op.value}
    if request.drain is not None:
        obj["drain"] = {"draining": request.drain.draining, "reason": request.drain.reason}
    return json.dumps(obj).encode() + b"\n"


def decode_request(data: bytes) -> ControlRequest:
    """The request in one line; raise DecodeError if it is not one."""
    obj = _load(data, "control request")
    try:
        op = ControlOp(str(obj.get("op")))
    except ValueError as exc:
        raise DecodeError(
            f"control op {obj.get('op')!r} is not one of {[o.value for o in ControlOp]}"
        ) from exc
    if op is ControlOp.DRAIN:
        return ControlRequest(op=op, drain=_drain_from(obj.get("drain"), "control request"))
    return ControlRequest(op=op)


def encode_reply(fields: dict[str, Any]) -> bytes:
    """One reply line: `fields` with "ok" set."""
    return json.dumps(fields).encode() + b"\n"


def decode_reply(data: bytes) -> dict[str, Any]:
    """The reply in one line; raise DecodeError if it is not a JSON object with "ok"."""
    obj = _load(data, "control reply")
    if not isinstance(obj.get("ok"), bool):
        raise DecodeError("control reply has no ok field")
    return obj
