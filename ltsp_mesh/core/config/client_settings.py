"""The hook's settings: environment and lts.conf -> one validated ClientSettings.

The variables and defaults are the contract in DESIGN.md ("lts.conf variables"). LDM runs the
hook with every lts.conf variable already exported (ltsp_config evaluates `getltscfg -a`), so the
environment comes first; a given lts.conf, resolved for this client, fills in what the
environment lacks. An empty value or NONE counts as unset. Every bad value is a BadSetting
naming where it came from (the variable, or the file and line), what to write instead and the
default used meanwhile: `check` (what clients and brokers run with) ranks with the default and
reports it, so a typo never turns balancing off; `build` raises it as a ConfigError.
"""

from __future__ import annotations

import difflib
import enum
import math
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, TypeVar

from ltsp_mesh.core.config.ltsconf import FALSE_WORDS, NONE, TRUE_WORDS, Entry
from ltsp_mesh.core.record import MAX_LOAD_PER_CPU
from ltsp_mesh.errors import ConfigError


class Algorithm(enum.StrEnum):
    """LDM_LB_ALGORITHM: how the hook orders the servers that answered."""

    RANDOM = "random"
    FILTERED = "filtered"
    MAC_HASH = "mac-hash"
    LEAST_LOADED = "least-loaded"
    CHOOSER = "chooser"


class Trust(enum.StrEnum):
    """LDM_LB_TRUST: which servers the hook may list."""

    AUTO = "auto"
    KNOWN_HOSTS = "known-hosts"
    ANY = "any"


# The hook runs before X starts, and LDM waits for it: a deadline above a minute is a typo.
MAX_TIMEOUT_MS: Final = 60_000
MAX_HOSTS: Final = 1000
# RFC 1035: 253 characters in a name, 63 in a label.
_HOST = re.compile(r"[A-Za-z0-9._:-]{1,253}", re.ASCII)
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?", re.ASCII)
_DECIMAL = re.compile(r"\d{1,9}(?:\.\d{1,9})?|\.\d{1,9}", re.ASCII)
_INTEGER = re.compile(r"0*\d{1,9}", re.ASCII)  # leading zeros are decimal, as in the hook
# `$NAME` and `${NAME}`: lts.conf values reach LDM through a shell `eval`, which expands them.
_REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))", re.ASCII)

PREFIX: Final = "LDM_LB_"
KNOWN_KEYS: Final = (
    "LDM_LB_ALGORITHM",
    "LDM_LB_MAX_LOAD",
    "LDM_LB_MAX_RESPONSE_MS",
    "LDM_LB_IGNORE_SWAPPING",
    "LDM_LB_TIMEOUT_MS",
    "LDM_LB_HOSTS",
    "LDM_LB_TRUST",
    "LDM_LB_FALLBACK",
    "LDM_LB_KNOWN_HOSTS",
    "LDM_LB_LOADBALANCER_URL",
    "LDM_LB_DOMAIN",
)
# Read by the sh hook only (chroot_hooks/get_hosts): which brokers to ask, on which port.
HOOK_KEYS: Final = ("LDM_LB_BROKERS", "LDM_LB_BROKER_PORT")


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """What the hook runs with; the defaults are DESIGN.md's. `origins` says where each came from."""

    algorithm: Algorithm = Algorithm.LEAST_LOADED
    max_load_per_cpu: float = 2.0
    max_response_ms: float = 250.0
    ignore_swapping: bool = True
    timeout_ms: int = 400
    max_hosts: int = 0  # 0: print every server that answered
    trust: Trust = Trust.AUTO
    fallback_hosts: tuple[str, ...] = ()  # default: $SERVER
    known_hosts_path: str = "/etc/ssh/ssh_known_hosts"
    loadbalancer_url: str | None = None
    dns_sd_domain: str | None = None
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        # Misuse by our own code (the simulator builds these directly): TypeError or ValueError,
        # not ConfigError.
        if not isinstance(self.algorithm, Algorithm) or not isinstance(self.trust, Trust):
            raise TypeError("algorithm and trust must be the enums")
        if not (math.isfinite(self.max_load_per_cpu) and 0 < self.max_load_per_cpu <= MAX_LOAD_PER_CPU):
            raise ValueError(f"max_load_per_cpu={self.max_load_per_cpu} is outside (0, {MAX_LOAD_PER_CPU}]")
        if not (math.isfinite(self.max_response_ms) and 0 < self.max_response_ms <= MAX_TIMEOUT_MS):
            raise ValueError(f"max_response_ms={self.max_response_ms} is outside (0, {MAX_TIMEOUT_MS}]")
        if not 1 <= self.timeout_ms <= MAX_TIMEOUT_MS:
            raise ValueError(f"timeout_ms={self.timeout_ms} is outside 1..{MAX_TIMEOUT_MS}")
        if not 0 <= self.max_hosts <= MAX_HOSTS:
            raise ValueError(f"max_hosts={self.max_hosts} is outside 0..{MAX_HOSTS}")


_E = TypeVar("_E", bound=enum.StrEnum)


@dataclass(frozen=True, slots=True)
class _Sources:
    """Looks a variable up: the environment first, then the resolved lts.conf entries."""

    env: Mapping[str, str]
    entries: Mapping[str, Entry]

    def raw(self, key: str) -> tuple[str, str, bool] | None:
        """(value, where, from lts.conf) for `key`, or None when it is unset, empty or NONE."""
        value = self.env.get(key)
        if value is not None and value.strip() and value.strip().upper() != NONE:
            return value.strip(), f"environment variable {key}", False
        entry = self.entries.get(key)
        if entry is not None and entry.value.strip() and entry.value.strip().upper() != NONE:
            return entry.value.strip(), entry.where, True
        return None

    def get(self, key: str) -> tuple[str, str] | None:
        """(value, where) for `key`, with `$NAME` expanded in values that come from lts.conf."""
        found = self.raw(key)
        if found is None:
            return None
        value, where, from_file = found
        if from_file:
            value = _REFERENCE.sub(lambda m: self._plain(m[1] or m[2]), value).strip()
            if not value:
                return None
        return value, where

    def _plain(self, name: str) -> str:
        # One level only, as a shell eval of KEY="..." does: no recursion, no loops.
        found = self.raw(name)
        return found[0] if found else ""


def _shown(value: str) -> str:
    """`value` quoted for a one-line message: ASCII only, at most 60 characters of it.

    A broker quotes what a thin client sent back to it and into the journal: escapes, not the
    raw characters, so no value can break a header line or a log line.
    """
    return ascii(value if len(value) <= 60 else value[:60] + "...")


def _number(value: str, key: str, low: float, high: float, example: str) -> float:
    if not _DECIMAL.fullmatch(value) or not low < float(value) <= high:
        raise ConfigError(
            f"{key}={_shown(value)} is not a number above {low:g} and up to {high:g} (e.g. {example})"
        )
    return float(value)


def _integer(value: str, key: str, low: int, high: int, example: str) -> int:
    if not _INTEGER.fullmatch(value) or not low <= int(value) <= high:
        raise ConfigError(
            f"{key}={_shown(value)} is not a whole number from {low} to {high} (e.g. {example})"
        )
    return int(value)


def _boolean(value: str, key: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise ConfigError(f"{key}={_shown(value)} is not a boolean (use True or False)")


def _choice(enum_type: type[_E], value: str, key: str) -> _E:
    names = [m.value for m in enum_type]
    word = value.strip().lower().replace("_", "-")
    if word not in names:
        raise ConfigError(f"{key}={_shown(value)} is not one of {', '.join(names)}")
    return enum_type(word)


def _hosts(value: str, key: str) -> tuple[str, ...]:
    hosts = tuple(value.split())
    for host in hosts:
        if not _HOST.fullmatch(host):
            raise ConfigError(
                f"{key} has {_shown(host)}, which is not a host name or address "
                "(list hosts separated by spaces, e.g. 192.168.67.1 server2)"
            )
    return hosts


def _absolute_path(value: str, key: str) -> str:
    if not value.startswith("/") or "\0" in value:
        raise ConfigError(f"{key}={_shown(value)} is not an absolute path (e.g. /etc/ssh/ssh_known_hosts)")
    return value


def _url(value: str, key: str) -> str:
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018  # raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(f"{key}={_shown(value)} is not a URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{key}={_shown(value)} is not an http:// or https:// URL (e.g. http://lb:8008/)")
    return value


def _domain(value: str, key: str) -> str:
    name = value.lower().rstrip(".")
    if not name or len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise ConfigError(f"{key}={_shown(value)} is not a DNS domain name (e.g. ltsp.example.org)")
    return name


# Each variable: the ClientSettings field it sets, how its value is read (ConfigError saying
# what is wrong and what to write), and its default as an admin would write it in lts.conf.
_PARSERS: Final[dict[str, tuple[str, Callable[[str, str], object], str]]] = {
    "LDM_LB_ALGORITHM": ("algorithm", lambda v, k: _choice(Algorithm, v, k), "least-loaded"),
    "LDM_LB_MAX_LOAD": ("max_load_per_cpu", lambda v, k: _number(v, k, 0, MAX_LOAD_PER_CPU, "2.0"), "2.0"),
    "LDM_LB_MAX_RESPONSE_MS": (
        "max_response_ms",
        lambda v, k: _number(v, k, 0, MAX_TIMEOUT_MS, "250"),
        "250",
    ),
    "LDM_LB_IGNORE_SWAPPING": ("ignore_swapping", _boolean, "True"),
    "LDM_LB_TIMEOUT_MS": ("timeout_ms", lambda v, k: _integer(v, k, 1, MAX_TIMEOUT_MS, "400"), "400"),
    "LDM_LB_HOSTS": ("max_hosts", lambda v, k: _integer(v, k, 0, MAX_HOSTS, "0 for all, or 3"), "0"),
    "LDM_LB_TRUST": ("trust", lambda v, k: _choice(Trust, v, k), "auto"),
    "LDM_LB_FALLBACK": ("fallback_hosts", _hosts, "$SERVER"),
    "LDM_LB_KNOWN_HOSTS": ("known_hosts_path", _absolute_path, "/etc/ssh/ssh_known_hosts"),
    "LDM_LB_LOADBALANCER_URL": ("loadbalancer_url", _url, "none"),
    "LDM_LB_DOMAIN": ("dns_sd_domain", _domain, "none"),
}


# The settings a thin client passes to a broker (docs/broker.md): what ranking needs, no more.
BROKER_KEYS: Final = (
    "LDM_LB_ALGORITHM",
    "LDM_LB_MAX_LOAD",
    "LDM_LB_MAX_RESPONSE_MS",
    "LDM_LB_IGNORE_SWAPPING",
    "LDM_LB_HOSTS",
)


def default_of(key: str) -> str:
    """The default of setting `key`, as an admin would write it in lts.conf."""
    return _PARSERS[key][2]


@dataclass(frozen=True, slots=True)
class BadSetting:
    """A value that cannot be used: the variable, what is wrong with it, and the default used instead.

    A typo in lts.conf must never turn balancing off (one bad value used to send every client
    to $SERVER, silently): the hook, the client and the broker rank with the default and say so.
    """

    key: str
    problem: str  # names the variable and its value, says what a valid one looks like
    default: str  # what is used instead, as lts.conf would spell it
    where: str = ""  # the variable or file and line it came from ("" when the key says it all)

    @property
    def reason(self) -> str:
        """One line without `where`: what is wrong and what is used instead."""
        return f"{self.problem}; using the default {self.default}"

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}" if self.where else self.reason


@dataclass(frozen=True, slots=True)
class Checked:
    """Settings with every bad value replaced by its default, and what was bad."""

    settings: ClientSettings
    bad: tuple[BadSetting, ...] = ()


def _read(found: Mapping[str, tuple[str, str]]) -> tuple[dict[str, object], dict[str, str], list[BadSetting]]:
    """(fields, origins, bad values) from `found`: variable -> (value, where), in _PARSERS order."""
    fields: dict[str, object] = {}
    origins: dict[str, str] = {}
    bad: list[BadSetting] = []
    for key, (name, parse_one, default) in _PARSERS.items():
        if key not in found:
            continue
        value, where = found[key]
        try:
            fields[name] = parse_one(value.strip(), key)
        except ConfigError as exc:
            bad.append(BadSetting(key, str(exc), default, where))
            continue
        origins[name] = where
    return fields, origins, bad


def check_values(values: Mapping[str, str], where: str = "") -> Checked:
    """Settings from plain `values` (variable -> value, e.g. a broker request's parameters),
    each read as lts.conf's would be; a bad one is reported and left at its default."""
    unknown = sorted(set(values) - set(_PARSERS))
    if unknown:
        raise ValueError(f"{unknown[0]} is not a setting")
    fields, origins, bad = _read({key: (value, where) for key, value in values.items()})
    return Checked(ClientSettings(**fields, origins=origins), tuple(bad))  # type: ignore[arg-type]  # keys are fields


def from_values(values: Mapping[str, str], where: str) -> ClientSettings:
    """Settings from plain `values`, each checked as lts.conf's would be; ConfigError naming
    `where` and the variable for the first bad one."""
    checked = check_values(values, where)
    if checked.bad:
        first = checked.bad[0]
        raise ConfigError(f"{first.where}: {first.problem}")
    return checked.settings


def check(env: Mapping[str, str], entries: Mapping[str, Entry] | None = None) -> Checked:
    """The settings from `env` (first) and resolved lts.conf `entries` (otherwise), each bad
    value replaced by its default and reported (what `ltsp-mesh hosts` runs with).

    LDM_LB_FALLBACK defaults to $SERVER, looked up the same way.
    """
    sources = _Sources(env, entries or {})
    found = {key: got for key in _PARSERS if (got := sources.get(key)) is not None}
    fields, origins, bad = _read(found)
    if "fallback_hosts" not in fields:
        server = sources.get("SERVER")
        if server is not None:
            try:
                fields["fallback_hosts"] = _hosts(server[0], "SERVER")
                origins["fallback_hosts"] = server[1]
            except ConfigError as exc:
                bad.append(BadSetting("SERVER", str(exc), "no fallback host", server[1]))
    settings = ClientSettings(**fields, origins=origins)  # type: ignore[arg-type]  # keys are fields, read above
    return Checked(settings, tuple(bad))


def build(env: Mapping[str, str], entries: Mapping[str, Entry] | None = None) -> ClientSettings:
    """The settings from `env` (first) and resolved lts.conf `entries` (otherwise), strictly.

    Raises ConfigError naming the variable or the file and line of the first bad value, and
    the fix. `check` is the lenient form a client runs with.
    """
    checked = check(env, entries)
    if checked.bad:
        first = checked.bad[0]
        raise ConfigError(f"{first.where}: {first.problem}")
    return checked.settings


def unknown_keys(env: Mapping[str, str], entries: Mapping[str, Entry] | None = None) -> tuple[str, ...]:
    """One warning per LDM_LB_* variable that is not a known setting, with the likely intended one."""
    found = [(key, f"environment variable {key}") for key in env if key.startswith(PREFIX)]
    found += [(key, entry.where) for key, entry in (entries or {}).items() if key.startswith(PREFIX)]
    warnings = []
    for key, where in found:
        if key in KNOWN_KEYS or key in HOOK_KEYS:
            continue
        close = difflib.get_close_matches(key, KNOWN_KEYS + HOOK_KEYS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"{where}: {key} is not an ltsp-mesh setting{hint}")
    return tuple(warnings)
