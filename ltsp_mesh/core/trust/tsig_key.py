"""A BIND key file -> the one TSIG key (RFC 8945) that signs the daemon's DNS updates.

The file is what `tsig-keygen NAME` or `ddns-confgen -q` writes, and what named.conf includes:

    key "ltsp-mesh" {
        algorithm hmac-sha256;
        secret "2z9RK0ujjPZ5aTQTf3W1BIRAruhmWYEVwR82ue9ZHFM=";
    };

BIND's comment styles (`#`, `//`, `/* */`) are allowed around it. Anything else is refused with
the file and line, rather than guessed at: a key file that is half a named.conf was pasted from
the wrong place. Pure: the shell reads the file and passes its text in.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Final

from ltsp_mesh.errors import ConfigError

# RFC 8945 section 6: the algorithms BIND and dnspython both know. hmac-md5 is still accepted
# (RFC 8945 says MAY) because old Debian Edu zones were keyed with it.
ALGORITHMS: Final = ("hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512")
_ALIASES: Final = {"hmac-md5.sig-alg.reg.int": "hmac-md5"}
_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?\.?", re.ASCII)
_TOKEN = re.compile(r'\s+|#[^\n]*|//[^\n]*|/\*.*?\*/|"[^"\n]*"|[{};]|[^\s{};"#/]+', re.DOTALL)
_HINT: Final = (
    'a key file holds one statement: key "NAME" { algorithm hmac-sha256; secret "..."; }; '
    "(tsig-keygen NAME writes one)"
)


@dataclass(frozen=True, slots=True)
class TsigKey:
    """A TSIG key: its name (lower case, no final dot), algorithm and decoded secret."""

    name: str
    algorithm: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name) or self.name != self.name.lower().rstrip("."):
            raise ValueError(f"TSIG key name {self.name!r} is not a lower-case DNS name without a final dot")
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"TSIG algorithm {self.algorithm!r} is not one of {', '.join(ALGORITHMS)}")
        if not self.secret:
            raise ValueError("a TSIG secret cannot be empty")


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    line: int


def _tokens(text: str, where: str) -> list[_Token]:
    tokens, line, pos = [], 1, 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            rest = text[pos:]
            problem = (
                "a /* comment is never closed"
                if rest.startswith("/*")
                else "a quoted string is never closed"
                if rest.startswith('"')
                else f"cannot read {rest[:20]!r}; {_HINT}"
            )
            raise ConfigError(f"{where} line {line}: {problem}")
        piece = match.group()
        if not (piece[0].isspace() or piece.startswith(("#", "//", "/*"))):
            tokens.append(_Token(piece, line))
        line += piece.count("\n")
        pos = match.end()
    return tokens


class _Reader:
    def __init__(self, tokens: list[_Token], where: str) -> None:
        self.tokens, self.where, self.pos = tokens, where, 0

    def line(self) -> int:
        if self.pos < len(self.tokens):
            return self.tokens[self.pos].line
        return self.tokens[-1].line if self.tokens else 1

    def fail(self, message: str) -> ConfigError:
        return ConfigError(f"{self.where} line {self.line()}: {message}")

    def at_end(self) -> bool:
        return self.pos >= len(self.tokens)

    def next(self, what: str) -> str:
        if self.at_end():
            raise self.fail(f"the file ends early: expected {what}; {_HINT}")
        self.pos += 1
        return self.tokens[self.pos - 1].text

    def expect(self, text: str, what: str) -> None:
        found = self.next(f"{text!r} {what}")
        if found != text:
            raise ConfigError(
                f"{self.where} line {self.tokens[self.pos - 1].line}: expected {text!r} {what}, "
                f"found {found[:40]!r}"
            )


def _unquote(word: str) -> str:
    return word[1:-1] if len(word) >= 2 and word[0] == word[-1] == '"' else word


def _statement(reader: _Reader) -> tuple[TsigKey, int]:
    line = reader.line()
    word = reader.next("a key statement")
    if word != "key":
        raise ConfigError(
            f"{reader.where} line {line}: expected a key statement, found {word[:40]!r}; {_HINT}"
        )
    name = _unquote(reader.next("the key name")).lower().rstrip(".")
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{reader.where} line {line}: {name[:60]!r} is not a valid key name")
    reader.expect("{", "after the key name")
    algorithm = secret = None
    while True:
        clause_line = reader.line()
        clause = reader.next("algorithm, secret or }")
        if clause == "}":
            break
        value = _unquote(reader.next(f"the value of {clause}"))
        reader.expect(";", f"after {clause}")
        if clause == "algorithm":
            algorithm = _ALIASES.get(value.lower(), value.lower())
            if algorithm not in ALGORITHMS:
                raise ConfigError(
                    f"{reader.where} line {clause_line}: algorithm {value!r} is not one of "
                    f"{', '.join(ALGORITHMS)}"
                )
        elif clause == "secret":
            secret = _secret(value, reader.where, clause_line)
        else:
            raise ConfigError(
                f"{reader.where} line {clause_line}: {clause[:40]!r} is not a key clause "
                "(a key has algorithm and secret)"
            )
    reader.expect(";", "after the closing }")
    if algorithm is None or secret is None:
        missing = " and ".join(w for w, v in (("algorithm", algorithm), ("secret", secret)) if v is None)
        raise ConfigError(f"{reader.where} line {line}: key {name!r} has no {missing}")
    return TsigKey(name=name, algorithm=algorithm, secret=secret), line


def _secret(value: str, where: str, line: int) -> bytes:
    compact = "".join(value.split())
    try:
        secret = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"{where} line {line}: the secret is not base64 ({exc})") from exc
    if not secret:
        raise ConfigError(f"{where} line {line}: the secret is empty")
    return secret


def parse(text: str, where: str) -> TsigKey:
    """The one key in a BIND key file's `text`; `where` names the file in every error."""
    reader = _Reader(_tokens(text, where), where)
    if reader.at_end():
        raise ConfigError(f"{where}: holds no key; {_HINT}")
    keys = []
    while not reader.at_end():
        keys.append(_statement(reader))
    if len(keys) > 1:
        lines = ", ".join(str(line) for _, line in keys)
        raise ConfigError(
            f"{where}: holds {len(keys)} keys (lines {lines}); give ltsp-mesh a file with only the "
            "key its DNS updates are signed with"
        )
    return keys[0][0]
