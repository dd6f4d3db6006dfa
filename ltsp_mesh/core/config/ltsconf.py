"""lts.conf: text -> sections of entries that remember file and line -> one client's values.

The syntax LTSP5's getltscfg reads (client/getltscfg lexer.l and parser.y): `[section]`
headers, `KEY = value` lines, `#` comments outside quotes, values in `"..."` taken literally
(no escapes), keys and section names compared without regard to case, `include FILE` lines, and
a header may carry a first entry on its own line (`[Default] XSERVER = auto`). mesh.conf uses
the same syntax with a `[default]` section.

Where this parser differs from getltscfg, on purpose:
- A key must be a shell variable name: ltsp_config evaluates `export KEY`, so any other key
  breaks the client's boot scripts anyway. Better to name the line now.
- A section header that appears twice is merged (later lines win). getltscfg silently reads only
  the first block; `LtsConf.warnings` says so.
- A `LIKE` loop is an error naming the line that closes it; getltscfg loops forever.
- Includes are read by a loader the caller passes, so parsing stays pure. A relative path is
  taken from the including file's directory (getltscfg used its working directory). An include
  cycle, nesting deeper than `max_depth` or more than `max_files` files is an error;
  getltscfg skipped such files with a warning on stderr that nobody saw.

`resolve` implements getltscfg's selection for one client; see its docstring.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from ltsp_mesh.errors import ConfigError

TRUE_WORDS: Final = frozenset({"y", "yes", "true", "1"})
FALSE_WORDS: Final = frozenset({"n", "no", "false", "0"})
# Keeps a corrupt or hostile file (all includes together) from growing without bound in memory.
MAX_CONF_BYTES: Final = 1024 * 1024
# getltscfg's MAX_FILE_INCLUDES: the main file and everything it includes.
MAX_INCLUDE_FILES: Final = 10
MAX_INCLUDE_DEPTH: Final = 4
LIKE: Final = "LIKE"
NONE: Final = "NONE"

# A shell variable name: ltsp_config exports every key.
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
# getltscfg's lexer keeps these out of section names; "[" and "]" would also make a glob
# section match by character class, which LTSP never did.
_BAD_NAME_CHARS: Final = frozenset("[]\"'=#")
_INCLUDE = re.compile(r"include\s+(?P<path>.*)", re.IGNORECASE | re.DOTALL)

Loader = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Entry:
    """One `KEY = value` line; `source` is the file it came from ("" means the main file)."""

    key: str
    value: str
    line: int
    source: str = ""

    @property
    def where(self) -> str:
        """`file line N` for messages."""
        return f"{self.source or 'lts.conf'} line {self.line}"


@dataclass(frozen=True, slots=True)
class Section:
    """One `[name]` section: `entries` keyed by upper-case key, `likes` its LIKE lines in order."""

    name: str
    line: int
    entries: dict[str, Entry] = field(default_factory=dict)
    likes: list[Entry] = field(default_factory=list)
    source: str = ""


@dataclass(frozen=True, slots=True)
class LtsConf:
    """A parsed lts.conf: sections keyed by lower-case name, in file order, and parse warnings."""

    source: str
    sections: dict[str, Section]
    warnings: tuple[str, ...] = ()

    def section(self, name: str) -> Section | None:
        """The section called `name` (any case), or None."""
        return self.sections.get(name.lower())

    def where(self, entry: Entry) -> str:
        """`file line N` for messages."""
        return entry.where if entry.source else f"{self.source} line {entry.line}"


def _value(raw: str, where: str) -> str:
    raw = raw.strip()
    if raw.startswith('"'):
        end = raw.find('"', 1)
        if end < 0:
            raise ConfigError(f'{where}: the quote opened here is never closed (add a closing ")')
        rest = raw[end + 1 :].strip()
        if rest and not rest.startswith("#"):
            raise ConfigError(f"{where}: unexpected text {rest[:40]!r} after the closing quote")
        return raw[1:end]
    return raw.split("#", 1)[0].strip()


def _include_path(rest: str, where: str) -> str:
    path = rest.strip()
    if path.startswith('"'):
        end = path.find('"', 1)
        if end < 0:
            raise ConfigError(f'{where}: the quote opened here is never closed (add a closing ")')
        path = path[1:end].strip()
    else:
        path = path.split("#", 1)[0].strip()
    if not path:
        raise ConfigError(f"{where}: include names no file (write: include /etc/lts.conf.stations)")
    return path


@dataclass
class _Reader:
    """The state of one parse across the main file and its includes."""

    load: Loader | None
    max_files: int
    max_depth: int
    sections: dict[str, Section] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    total_chars: int = 0

    def read(self, text: str, source: str, stack: tuple[str, ...]) -> None:
        self.total_chars += len(text)
        if self.total_chars > MAX_CONF_BYTES:
            raise ConfigError(f"{source}: lts.conf and its includes are larger than {MAX_CONF_BYTES} bytes")
        self.files.append(source)
        current: Section | None = None
        # LTSP's lexer ends a line at "\n" only; str.splitlines() would also split at form
        # feeds and Unicode separators inside a quoted value.
        for lineno, line in enumerate(text.split("\n"), start=1):
            where = f"{source} line {lineno}"
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            include = _INCLUDE.fullmatch(stripped)
            if include and "=" not in stripped.split("#", 1)[0]:
                self.include(_include_path(include["path"], where), source, where, stack)
                continue
            if stripped.startswith("["):
                current, stripped = self.header(stripped, source, lineno, where)
                if not stripped:
                    continue
            self.entry(stripped, current, source, lineno, where)

    def header(self, stripped: str, source: str, lineno: int, where: str) -> tuple[Section, str]:
        end = stripped.find("]")
        name = stripped[1:end].strip() if end > 0 else ""
        if not name or any(c in _BAD_NAME_CHARS for c in name):
            raise ConfigError(f"{where}: {stripped[:60]!r} is not a [section] header")
        rest = stripped[end + 1 :].strip()
        if rest.startswith("#"):
            rest = ""
        section = self.sections.get(name.lower())
        if section is None:
            section = self.sections[name.lower()] = Section(name=name, line=lineno, source=source)
        else:
            self.warnings.append(
                f"{where}: section [{name}] already began at {section.source} line {section.line}; "
                "the two are merged here, but LTSP's getltscfg reads only the first"
            )
        return section, rest

    def entry(self, stripped: str, current: Section | None, source: str, lineno: int, where: str) -> None:
        key, sep, raw = stripped.partition("=")
        key = key.strip()
        if not sep or not _KEY.fullmatch(key):
            raise ConfigError(f"{where}: {stripped[:60]!r} is not KEY = value (KEY is a shell variable name)")
        if current is None:
            raise ConfigError(f"{where}: {key} comes before any [section] (add [default] above it)")
        entry = Entry(key=key.upper(), value=_value(raw, where), line=lineno, source=source)
        if entry.key == LIKE:
            current.likes.append(entry)  # several LIKE lines in one section all count
        else:
            current.entries[entry.key] = entry  # the last line for a key wins, as in getltscfg

    def include(self, path: str, source: str, where: str, stack: tuple[str, ...]) -> None:
        if not posixpath.isabs(path):
            path = posixpath.join(posixpath.dirname(source), path)
        path = posixpath.normpath(path)
        if self.load is None:
            raise ConfigError(f"{where}: include {path}: this file cannot include others")
        if path in stack or path == source:
            cycle = " -> ".join((*stack, source, path))
            raise ConfigError(f"{where}: include {path} makes a loop ({cycle}); remove one of the includes")
        if path in self.files:
            self.warnings.append(f"{where}: {path} was already included; skipped, as getltscfg does")
            return
        if len(stack) + 1 >= self.max_depth:
            raise ConfigError(f"{where}: include {path} nests deeper than {self.max_depth} files")
        if len(self.files) >= self.max_files:
            raise ConfigError(f"{where}: include {path} is over the limit of {self.max_files} files")
        try:
            text = self.load(path)
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(f"{where}: cannot read included file {path}: {reason}") from exc
        self.read(text, path, (*stack, source))


def parse(
    text: str,
    source: str = "lts.conf",
    *,
    load: Loader | None = None,
    max_files: int = MAX_INCLUDE_FILES,
    max_depth: int = MAX_INCLUDE_DEPTH,
) -> LtsConf:
    """Return the sections of lts.conf `text`; raise ConfigError naming the file and the line.

    `load(path)` returns the text of an included file (raising OSError when it cannot); without
    it, an `include` line is an error. Entries after an `include` line belong to the section
    that was open before it.
    """
    reader = _Reader(load=load, max_files=max_files, max_depth=max_depth)
    reader.read(text, source, ())
    return LtsConf(source=source, sections=reader.sections, warnings=tuple(reader.warnings))


def parse_bool(value: str, where: str, key: str) -> bool:
    """LTSP booleans: Y/y/yes/True/true and N/n/no/False/false (and 1/0)."""
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{where}: {key}={value!r} is not a boolean (use True or False)")


@dataclass(frozen=True, slots=True)
class Resolved:
    """One client's view of lts.conf: the winning entry per key, and how it was chosen.

    `entries` is keyed by upper-case key and leaves out keys whose value is NONE; `chain` names
    the sections applied, strongest first; `warnings` are things an admin should know.
    """

    entries: dict[str, Entry]
    chain: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    def get(self, key: str) -> Entry | None:
        """The entry for `key` (any case), or None."""
        return self.entries.get(key.upper())


def _has_glob(name: str) -> bool:
    return any(c in name for c in "*?")


def _glob_section(conf: LtsConf, ident: str) -> Section | None:
    """The first section, in file order, whose name is a glob matching `ident` (not equal to it)."""
    for key, section in conf.sections.items():
        if key != ident and _has_glob(key) and fnmatch.fnmatchcase(ident, key):
            return section
    return None


def _check_like_loops(conf: LtsConf, start: Section) -> None:
    """Raise ConfigError if following LIKE from `start` ever comes back to a section on the way.

    Iterative depth-first search: a chain of thousands of sections must not hit Python's
    recursion limit, and a diamond (two sections LIKE a third) is visited once, not per path.
    """
    on_path: list[str] = [start.name.lower()]
    on_path_set = set(on_path)  # the same names, for O(1) membership
    done: set[str] = set()
    stack: list[tuple[Section, int]] = [(start, 0)]
    while stack:
        section, index = stack[-1]
        if index >= len(section.likes):
            stack.pop()
            finished = on_path.pop()
            on_path_set.discard(finished)
            done.add(finished)
            continue
        stack[-1] = (section, index + 1)
        like = section.likes[index]
        target = conf.section(like.value)
        if target is None or target.name.lower() in done:
            continue
        key = target.name.lower()
        if key in on_path_set:
            loop = " -> ".join(conf.sections[k].name for k in (*on_path[on_path.index(key) :], key))
            raise ConfigError(
                f"{like.where}: LIKE = {like.value} makes a loop ({loop}); remove one of these LIKE lines"
            )
        on_path.append(key)
        on_path_set.add(key)
        stack.append((target, 0))


def resolve(
    conf: LtsConf, *, hostname: str | None = None, ip: str | None = None, mac: str | None = None
) -> Resolved:
    """Select the values lts.conf gives the client with this hostname, IP and MAC.

    getltscfg's rules (client/getltscfg/getltscfg.c, main()), strongest first:
    1. the one section named exactly by the client's hostname, else its IP, else its MAC
       (case-insensitive; only the first of the three that exists is used);
    2. the sections it names with LIKE, then theirs, breadth first;
    3. for the hostname, then the IP, then the MAC: the first glob section (`[192.168.0.*]`)
       in file order that matches it, each followed by its own LIKE sections;
    4. `[default]`. Its own LIKE lines are followed only if a LIKE above already reached it:
       getltscfg appends [default] after its last LIKE pass.
    A section reached twice counts once, at its strongest place. A key whose winning value is
    NONE (any case) is left out, so the built-in default applies. LIKE naming no section is
    ignored with a warning, as getltscfg ignores it; a LIKE loop is a ConfigError.
    """
    idents = [
        i.strip().lower() for i in (hostname, ip, mac.replace("-", ":") if mac else None) if i and i.strip()
    ]
    chain: list[Section] = []
    in_chain: set[int] = set()  # ids of the sections in `chain`: membership in O(1)
    warnings = list(conf.warnings)
    dangling: set[str] = set()

    def add(section: Section) -> None:
        if id(section) not in in_chain:
            in_chain.add(id(section))
            chain.append(section)

    def follow_likes() -> None:
        index = 0
        while index < len(chain):  # the chain grows while it is walked: breadth first
            for like in chain[index].likes:
                target = conf.section(like.value)
                if target is None:
                    message = f"{like.where}: LIKE = {like.value} names no section; ignored"
                    if message not in dangling:
                        dangling.add(message)
                        warnings.append(message)
                else:
                    add(target)
            index += 1

    for ident in idents:
        exact = conf.section(ident)
        if exact is not None:
            _check_like_loops(conf, exact)
            add(exact)
            break
    follow_likes()
    for ident in idents:
        glob = _glob_section(conf, ident)
        if glob is not None:
            _check_like_loops(conf, glob)
            add(glob)
            follow_likes()
    default = conf.section("default")
    if default is not None and id(default) not in in_chain:
        add(default)
        warnings.extend(
            f"{like.where}: LIKE in [default] is ignored, as LTSP ignores it" for like in default.likes
        )
    entries: dict[str, Entry] = {}
    for section in reversed(chain):
        entries.update(section.entries)
    kept = {key: entry for key, entry in entries.items() if entry.value.upper() != NONE}
    return Resolved(entries=kept, chain=tuple(s.name for s in chain), warnings=tuple(warnings))
