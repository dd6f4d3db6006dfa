"""A load file: figures that replace psutil's readings, for demos, tests and benchmarks.

`ltsp-mesh serve --load-file FILE` reads FILE at every sample. The format is one JSON object:

    {"cpus": 8, "load1": 4.0, "load5": 3.5, "load15": 3.0,
     "mem_total_kib": 16384000, "mem_available_kib": 9000000,
     "swap_total_kib": 0, "swap_used_kib": 0, "swapping": false, "sessions": 12}

Only `cpus` is required; loads and sessions default to 0, memory to 1 GiB all available, swap to
none. An optional `session_hosts` list names the clients the sessions come from (as utmp's host
field would). Unknown keys are an error, so a typo does not go unnoticed.
"""

from __future__ import annotations

import json
from typing import Any, Final

from ltsp_mesh.core.record import Load
from ltsp_mesh.errors import ConfigError

MAX_LOAD_FILE_BYTES: Final = 64 * 1024
_DEFAULTS: Final[dict[str, Any]] = {
    "load1": 0.0,
    "load5": 0.0,
    "load15": 0.0,
    "mem_total_kib": 1024 * 1024,
    "swap_total_kib": 0,
    "swap_used_kib": 0,
    "swapping": False,
    "sessions": 0,
}


def decode(text: str, source: str) -> Load:
    """Return the Load a load file describes; raise ConfigError naming `source`."""
    return decode_with_hosts(text, source)[0]


def decode_with_hosts(text: str, source: str) -> tuple[Load, tuple[str, ...]]:
    """The Load a load file describes, and its `session_hosts`: the remote hosts of the
    sessions it stands for (they settle pending claims, as utmp's host field does)."""
    if len(text) > MAX_LOAD_FILE_BYTES:
        raise ConfigError(f"{source}: larger than {MAX_LOAD_FILE_BYTES} bytes")
    try:
        obj = json.loads(text)
    # RecursionError: deeply nested arrays or objects fit easily inside the size limit.
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"{source}: not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ConfigError(f"{source}: must hold one JSON object")
    hosts = obj.pop("session_hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) and len(h) <= 64 for h in hosts):
        raise ConfigError(f"{source}: session_hosts must be a list of host names or addresses")
    unknown = sorted(set(obj) - set(Load.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}")
    if "cpus" not in obj:
        raise ConfigError(f"{source}: 'cpus' is required")
    fields = {**_DEFAULTS, **obj}
    fields.setdefault("mem_available_kib", fields["mem_total_kib"])
    for name in ("load1", "load5", "load15"):
        if type(fields[name]) is int:
            try:
                fields[name] = float(fields[name])
            except OverflowError as exc:  # a whole number past 1e308
                raise ConfigError(f"{source}: {name} is too large to be a load average") from exc
    try:
        return Load(**fields), tuple(hosts)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def encode(load: Load, session_hosts: tuple[str, ...] = ()) -> str:
    """Return the load file text for `load` (and the hosts its sessions come from)."""
    fields: dict[str, Any] = {name: getattr(load, name) for name in Load.__dataclass_fields__}
    if session_hosts:
        fields["session_hosts"] = list(session_hosts)
    return json.dumps(fields, indent=1) + "\n"
