"""ssh_known_hosts text -> the keys and CAs trusted for a host, and entries -> text.

The format and its matching rules are OpenSSH's (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT";
hostfile.c and match.c): an optional marker (@cert-authority or @revoked), a host field, then
a public key. The host field is either a comma-separated pattern list (* and ? wildcards, !
negation, "[host]:port" for a port other than 22, matched case-insensitively) or one hashed
name, |1|base64(salt)|base64(HMAC-SHA1(salt, name)). A name matches a line when it matches one
of its patterns and none of its negated ones. A lookup checks every name it is given, the way
ssh checks both the host name and its address.

The file comes from the client image and is merged from many servers' files: a bad line is
skipped and counted, never fatal, and the parse is bounded in lines and line length.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from ltsp_mesh.core.trust import ssh_keys
from ltsp_mesh.core.trust.ssh_keys import PublicKey
from ltsp_mesh.errors import DecodeError

DEFAULT_PORT: Final = 22
# Bounds on what the parser reads. A site with 1000 servers and three keys each has 3000
# lines of about 100 bytes; a line with a hundred names is a few kilobytes. Whoever reads a
# known_hosts file (shell/trust_store.py) reads at most MAX_TEXT_BYTES of it: 1 MiB is
# several thousand host lines, more is not a known_hosts file.
MAX_LINES: Final = 100_000
MAX_LINE_CHARS: Final = 64 * 1024
MAX_TEXT_BYTES: Final = 1024 * 1024
# Problems kept for diagnostics; the rest are only counted.
MAX_REPORTED_PROBLEMS: Final = 20
# match.c match_pattern_list: a subpattern this long or longer fails the whole list.
_MAX_SUBPATTERN_CHARS: Final = 1023
_HASH_MAGIC: Final = "|1|"
_SHA1_BYTES: Final = 20
_WHITESPACE = re.compile(r"[ \t]+")
_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# What the writer accepts in a name: host names, IPv4 and IPv6 addresses, never a pattern.
_WRITABLE_NAME = re.compile(r"[A-Za-z0-9._:%-]{1,253}")


class Marker(enum.StrEnum):
    """What a line says about its key."""

    NONE = ""
    CERT_AUTHORITY = "@cert-authority"
    REVOKED = "@revoked"


def ascii_lower(text: str) -> str:
    """`text` with A-Z lowered and nothing else changed, as C's tolower() in the C locale."""
    return text.translate(_ASCII_LOWER)


def match_pattern(text: str, pattern: str) -> bool:
    """True when `pattern` (* for any run, ? for any one character) matches all of `text`."""
    # Greedy matching with one backtrack point: O(len(text) * len(pattern)) at worst, so a
    # hostile pattern cannot make it exponential (OpenSSH moved to an NFA for the same reason).
    t = p = 0
    star, star_text = -1, 0
    while t < len(text):
        if p < len(pattern) and pattern[p] == "*":
            star, star_text = p, t
            p += 1
        elif p < len(pattern) and (pattern[p] == "?" or pattern[p] == text[t]):
            t += 1
            p += 1
        elif star >= 0:
            star_text += 1
            t, p = star_text, star + 1
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


@dataclass(frozen=True, slots=True)
class Entry:
    """One usable line: its marker, its host field as written, and its key."""

    line_number: int
    marker: Marker
    hosts: str
    key: PublicKey
    salt: bytes = field(default=b"", repr=False)  # the HMAC key of a hashed host field
    # The lowered names of a field without wildcards or negation: most lines, matched by a set
    # lookup instead of pattern matching (a client looks up each of ~30 servers per run).
    literals: frozenset[str] | None = field(default=None, repr=False)

    @property
    def hashed(self) -> bool:
        """True when the host field is a hashed name."""
        return self.hosts.startswith("|")

    def matches(self, name: str) -> bool:
        """True when this line applies to `name` (already in "[host]:port" form if needed)."""
        if self.hashed:
            # hostfile.c match_maybe_hashed: hash the name with the line's salt and compare the
            # whole field as text, so a non-canonical base64 hash never matches, as there.
            digest = hmac.digest(self.salt, name.encode("utf-8", "surrogateescape"), hashlib.sha1)
            salt_text = base64.b64encode(self.salt).decode()
            return f"{_HASH_MAGIC}{salt_text}|{base64.b64encode(digest).decode()}" == self.hosts
        if self.literals is not None:
            return ascii_lower(name) in self.literals
        return match_pattern_list(ascii_lower(name), self.hosts) == 1


def match_pattern_list(name: str, patterns: str) -> int:
    """1 when `name` matches the comma-separated `patterns`, -1 when a negated one matches, else 0."""
    got_positive = False
    for sub in patterns.split(","):
        negated = sub.startswith("!")
        sub = ascii_lower(sub[1:] if negated else sub)
        if len(sub) >= _MAX_SUBPATTERN_CHARS:
            return 0
        if match_pattern(name, sub):
            if negated:
                return -1
            got_positive = True
    return 1 if got_positive else 0


@dataclass(frozen=True, slots=True)
class Problem:
    """A skipped line and why."""

    line_number: int
    problem: str


@dataclass(frozen=True, slots=True)
class Match:
    """What known_hosts says about one host."""

    keys: tuple[PublicKey, ...] = ()
    authorities: tuple[PublicKey, ...] = ()
    revoked: tuple[PublicKey, ...] = ()

    def is_revoked(self, key: PublicKey) -> bool:
        """True when `key` is listed @revoked for this host."""
        return key in self.revoked


@dataclass(frozen=True, slots=True)
class KnownHosts:
    """A parsed ssh_known_hosts file: its usable lines, and how many lines were skipped."""

    entries: tuple[Entry, ...] = ()
    skipped: int = 0
    problems: tuple[Problem, ...] = ()
    truncated: bool = False

    @property
    def usable(self) -> bool:
        """True when at least one line lists a host key or a CA (what LDM_LB_TRUST=auto asks)."""
        return any(e.marker is not Marker.REVOKED for e in self.entries)

    def lookup(self, names: Sequence[str], port: int = DEFAULT_PORT) -> Match:
        """The keys, CAs and revocations that apply to a host known by any of `names`.

        `names` are the host's names and addresses, as they would be given to ssh; a port
        other than 22 is looked up as "[name]:port", as ssh does.
        """
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port} is outside 1..65535")
        wanted = [host_port(ascii_lower(name), port) for name in names if name]
        found: dict[Marker, list[PublicKey]] = {marker: [] for marker in Marker}
        for entry in self.entries:
            if entry.key not in found[entry.marker] and any(entry.matches(name) for name in wanted):
                found[entry.marker].append(entry.key)
        return Match(
            keys=tuple(found[Marker.NONE]),
            authorities=tuple(found[Marker.CERT_AUTHORITY]),
            revoked=tuple(found[Marker.REVOKED]),
        )


def host_port(name: str, port: int) -> str:
    """The name ssh looks up for `name` on `port`: the name itself for 22, else "[name]:port"."""
    return name if port == DEFAULT_PORT else f"[{name}]:{port}"


def _hashed_salt(hosts: str) -> bytes:
    # hostfile.c extract_salt: magic, a salt that decodes to a SHA-1-sized value, a delimiter.
    # A malformed hash after it is allowed: it simply never matches, as in OpenSSH.
    salt_text, sep, _ = hosts[len(_HASH_MAGIC) :].partition("|")
    if not hosts.startswith(_HASH_MAGIC) or not sep:
        raise DecodeError("hashed host name is not |1|salt|hash")
    try:
        salt = base64.b64decode(salt_text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError("hashed host name's salt is not base64") from exc
    if len(salt) != _SHA1_BYTES:
        raise DecodeError(f"hashed host name's salt is {len(salt)} bytes, not {_SHA1_BYTES}")
    return salt


def _split_marker(line: str) -> tuple[Marker, str]:
    if not line.startswith("@"):
        return Marker.NONE, line
    # hostfile.c check_markers: the marker ends at the first space, else the first tab.
    end = line.find(" ")
    if end < 0:
        end = line.find("\t")
    if end < 0:
        raise DecodeError("marker with nothing after it")
    try:
        marker = Marker(line[:end])
    except ValueError as exc:
        raise DecodeError(f"unknown marker {line[: min(end, 32)]!r}") from exc
    rest = line[end:].lstrip(" \t")
    if rest.startswith("@"):
        raise DecodeError("more than one marker")
    return marker, rest


def _parse_line(line_number: int, line: str) -> Entry | None:
    line = line.lstrip(" \t")
    if not line or line.startswith("#"):
        return None
    marker, rest = _split_marker(line)
    fields = _WHITESPACE.split(rest, maxsplit=1)
    if len(fields) < 2 or not fields[1] or fields[1].startswith("#"):
        raise DecodeError("no key after the host names")
    hosts, key_text = fields
    salt = _hashed_salt(hosts) if hosts.startswith("|") else b""
    key = ssh_keys.parse_public_key_line(key_text)
    return Entry(
        line_number=line_number, marker=marker, hosts=hosts, key=key, salt=salt, literals=_literals(hosts)
    )


def _literals(hosts: str) -> frozenset[str] | None:
    subs = hosts.split(",")
    if (
        hosts.startswith("|")
        or any(c in hosts for c in "*?!")
        or any(len(s) >= _MAX_SUBPATTERN_CHARS for s in subs)
    ):
        return None
    return frozenset(ascii_lower(sub) for sub in subs)


def parse(text: str) -> KnownHosts:
    """Return the usable lines of an ssh_known_hosts text; bad lines are skipped and counted."""
    entries: list[Entry] = []
    problems: list[Problem] = []
    skipped = 0
    # OpenSSH reads lines up to "\n" only; a "\r" before it is dropped as CRLF files are common.
    lines = text.split("\n")
    truncated = len(lines) > MAX_LINES
    for number, line in enumerate(lines[:MAX_LINES], start=1):
        line = line.removesuffix("\r")
        try:
            if len(line) > MAX_LINE_CHARS:
                raise DecodeError(f"line is longer than {MAX_LINE_CHARS} characters")
            entry = _parse_line(number, line)
        except DecodeError as exc:
            skipped += 1
            if len(problems) < MAX_REPORTED_PROBLEMS:
                problems.append(Problem(number, str(exc)))
            continue
        if entry is not None:
            entries.append(entry)
    return KnownHosts(entries=tuple(entries), skipped=skipped, problems=tuple(problems), truncated=truncated)


@dataclass(frozen=True, slots=True)
class Listing:
    """What the writer writes: one host, known by `names`, holds `key` (on `port`)."""

    names: tuple[str, ...]
    key: PublicKey
    port: int = DEFAULT_PORT

    def __post_init__(self) -> None:
        if not self.names:
            raise ValueError("a known_hosts line needs at least one name")
        for name in self.names:
            if not _WRITABLE_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a host name or address that known_hosts can list")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is outside 1..65535")


def format_line(listing: Listing) -> str:
    """One plain (not hashed) known_hosts line: "name,address ssh-ed25519 AAAA...", no newline."""
    hosts = ",".join(host_port(name, listing.port) for name in listing.names)
    return f"{hosts} {listing.key.to_line()}"


def format_known_hosts(listings: Iterable[Listing]) -> str:
    """A known_hosts text listing every host key in `listings`, one line each."""
    return "".join(format_line(listing) + "\n" for listing in listings)
