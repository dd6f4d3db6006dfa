"""lts.conf syntax: text -> sections of key/value entries that remember their line.

The syntax LTSP5's getltscfg reads: `[section]` headers, `KEY = value` lines, `#` comments
outside quotes, values in `"..."` taken literally (no escapes), keys and section names compared
without regard to case. mesh.conf uses the same syntax with a `[default]` section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from ltsp_mesh.errors import ConfigError

TRUE_WORDS: Final = frozenset({"y", "yes", "true", "1"})
FALSE_WORDS: Final = frozenset({"n", "no", "false", "0"})
# Keeps a corrupt or hostile file from growing without bound in memory.
MAX_CONF_BYTES: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Entry:
    """One `KEY = value` line."""

    key: str
    value: str
    line: int


@dataclass(frozen=True, slots=True)
class Section:
    """One `[name]` section; `entries` is keyed by upper-case key."""

    name: str
    line: int
    entries: dict[str, Entry] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LtsConf:
    """A parsed lts.conf: sections keyed by lower-case name, in file order."""

    source: str
    sections: dict[str, Section]

    def section(self, name: str) -> Section | None:
        """The section called `name` (any case), or None."""
        return self.sections.get(name.lower())

    def where(self, entry: Entry) -> str:
        """`file line N` for messages."""
        return f"{self.source} line {entry.line}"


def _value(raw: str, source: str, lineno: int) -> str:
    raw = raw.strip()
    if raw.startswith('"'):
        end = raw.find('"', 1)
        if end < 0:
            raise ConfigError(f"{source} line {lineno}: the quote opened here is never closed")
        rest = raw[end + 1 :].strip()
        if rest and not rest.startswith("#"):
            raise ConfigError(f"{source} line {lineno}: unexpected text {rest!r} after the closing quote")
        return raw[1:end]
    return raw.split("#", 1)[0].strip()


def parse(text: str, source: str = "lts.conf") -> LtsConf:
    """Return the sections of lts.conf `text`; raise ConfigError naming `source` and the line."""
    if len(text) > MAX_CONF_BYTES:
        raise ConfigError(f"{source} is larger than {MAX_CONF_BYTES} bytes")
    sections: dict[str, Section] = {}
    current: Section | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("["):
            end = stripped.find("]")
            name = stripped[1:end].strip() if end > 0 else ""
            trailing = stripped[end + 1 :].strip() if end > 0 else ""
            if not name or (trailing and not trailing.startswith("#")):
                raise ConfigError(f"{source} line {lineno}: {stripped!r} is not a [section] header")
            current = sections.setdefault(name.lower(), Section(name=name, line=lineno))
            continue
        key, sep, raw = stripped.partition("=")
        key = key.strip()
        if not sep or not key or any(c.isspace() for c in key):
            raise ConfigError(f"{source} line {lineno}: {stripped[:60]!r} is not KEY = value")
        if current is None:
            raise ConfigError(f"{source} line {lineno}: {key} comes before any [section]")
        current.entries[key.upper()] = Entry(key=key.upper(), value=_value(raw, source, lineno), line=lineno)
    return LtsConf(source=source, sections=sections)


def parse_bool(value: str, where: str, key: str) -> bool:
    """LTSP booleans: Y/y/yes/True/true and N/n/no/False/false (and 1/0)."""
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{where}: {key}={value!r} is not a boolean (use True or False)")
