"""core/trust/known_hosts.py: ssh_known_hosts parsing and lookup, checked against `ssh-keygen -F`."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.trust import known_hosts
from ltsp_mesh.core.trust.known_hosts import KnownHosts, Listing, Marker

from .openssh import OpenSSH, openssh
from .strategies import PROPERTY

__all__ = ["openssh"]

# Every shape of line the format allows, with the names to look up in it. Line numbers are
# what ssh-keygen -F reports, so the file's layout matters: keep the comment first.
TEMPLATE = """\
# ssh_known_hosts for the tests
app1,10.0.0.5 {k1}
*.example.org,!bad.example.org {k2}
10.0.0.? {k3}
[10.0.0.7]:2222 {k4}
@cert-authority 10.0.1.* {k5}
@revoked * {k6}
APP2 {k7}
[app3]:* {k8}
\t  app4\t{k1} with a comment

not a key line
@unknown-marker host {k2}
@revoked @cert-authority host {k2}
host-without-key
10.0.2.1 ssh-ed25519 not-base64
10.0.3.1 ssh-rsa {k1b64}
a?c*,!abc {k3}
"""
NAMES = [
    "app1",
    "APP1",
    "10.0.0.5",
    "x.example.org",
    "bad.example.org",
    "10.0.0.7",
    "[10.0.0.7]:2222",
    "10.0.1.3",
    "app2",
    "[app3]:2222",
    "app3",
    "app4",
    "10.0.3.1",
    "abc",
    "abbbc",
    "ac",
    "nothing",
    "10.0.0.10",
    "10.0.2.1",
]


@pytest.fixture(scope="module")
def sample(openssh: OpenSSH) -> str:
    keys = {f"k{i}": openssh.key(f"kh{i}").line for i in range(1, 9)}
    return TEMPLATE.format(**keys, k1b64=keys["k1"].split()[1])


def our_lines(parsed: KnownHosts, name: str) -> list[tuple[int, str]]:
    """What this module finds for one literal name, in ssh-keygen -F's terms."""
    labels = {Marker.NONE: "", Marker.CERT_AUTHORITY: "CA", Marker.REVOKED: "REVOKED"}
    return [
        (e.line_number, labels[e.marker]) for e in parsed.entries if e.matches(known_hosts.ascii_lower(name))
    ]


@pytest.mark.parametrize("name", NAMES)
def test_lookup_finds_the_lines_ssh_keygen_finds(openssh: OpenSSH, sample: str, name: str) -> None:
    assert our_lines(known_hosts.parse(sample), name) == openssh.find(name, sample)


@pytest.mark.parametrize("name", ["app1", "10.0.0.5", "[10.0.0.7]:2222", "10.0.0.9"])
def test_lookup_finds_hashed_lines_as_ssh_keygen_does(openssh: OpenSSH, sample: str, name: str) -> None:
    plain = "\n".join(line for line in sample.splitlines()[:4])  # hashing keeps plain lines only
    hashed = openssh.hash_known_hosts(plain + f"\n10.0.0.9 {openssh.key('kh9').line}\n")
    assert "|1|" in hashed
    expected = openssh.find(name, hashed)
    assert our_lines(known_hosts.parse(hashed), name) == expected
    assert expected or name == "[10.0.0.7]:2222"


def test_parse_skips_and_counts_bad_lines_with_their_numbers(sample: str) -> None:
    parsed = known_hosts.parse(sample)
    assert parsed.skipped == 6
    assert [p.line_number for p in parsed.problems] == [12, 13, 14, 15, 16, 17]
    assert "unknown marker" in parsed.problems[1].problem


def test_parse_does_not_count_comments_and_blank_lines() -> None:
    parsed = known_hosts.parse("# a comment\n\n   \n\t# indented comment\n")
    assert (parsed.entries, parsed.skipped) == ((), 0)


def test_parse_reads_crlf_lines(openssh: OpenSSH) -> None:
    parsed = known_hosts.parse(f"app1 {openssh.key('kh1').line}\r\napp2 {openssh.key('kh2').line}\r\n")
    assert [e.hosts for e in parsed.entries] == ["app1", "app2"]


def test_parse_stops_at_its_line_limit() -> None:
    parsed = known_hosts.parse("#\n" * (known_hosts.MAX_LINES + 5))
    assert parsed.truncated and parsed.skipped == 0


def test_parse_skips_an_overlong_line(openssh: OpenSSH) -> None:
    names = ",".join(f"host{i}" for i in range(known_hosts.MAX_LINE_CHARS // 5))
    parsed = known_hosts.parse(f"{names} {openssh.key('kh1').line}\n")
    assert parsed.skipped == 1 and "longer than" in parsed.problems[0].problem


def test_lookup_sorts_keys_authorities_and_revocations(openssh: OpenSSH, sample: str) -> None:
    match = known_hosts.parse(sample).lookup(["10.0.0.5", "app1"])
    assert match.keys == (openssh.key("kh1").public, openssh.key("kh3").public)
    assert match.authorities == ()
    assert match.revoked == (openssh.key("kh6").public,)
    assert match.is_revoked(openssh.key("kh6").public)
    ca_match = known_hosts.parse(sample).lookup(["10.0.1.200"])
    assert ca_match.authorities == (openssh.key("kh5").public,) and ca_match.keys == ()


def test_lookup_on_another_port_uses_the_bracketed_name(openssh: OpenSSH, sample: str) -> None:
    parsed = known_hosts.parse(sample)
    assert parsed.lookup(["10.0.0.7"], port=2222).keys == (openssh.key("kh4").public,)
    assert parsed.lookup(["10.0.0.7"]).keys == (openssh.key("kh3").public,)
    assert parsed.lookup(["app3"], port=2200).keys == (openssh.key("kh8").public,)


def test_lookup_lowers_the_names_it_is_given(openssh: OpenSSH, sample: str) -> None:
    assert known_hosts.parse(sample).lookup(["App1"]).keys == (openssh.key("kh1").public,)


def test_lookup_refuses_an_impossible_port(sample: str) -> None:
    with pytest.raises(ValueError):
        known_hosts.parse(sample).lookup(["app1"], port=0)


@pytest.mark.parametrize(
    "text,usable",
    [
        ("", False),
        ("# nothing\n", False),
        ("@revoked * {k}\n", False),
        ("app1 {k}\n", True),
        ("@cert-authority * {k}\n", True),
        ("garbage\n", False),
    ],
)
def test_usable_means_a_key_or_ca_line(openssh: OpenSSH, text: str, usable: bool) -> None:
    assert known_hosts.parse(text.format(k=openssh.key("kh1").line)).usable is usable


def test_format_writes_lines_ssh_keygen_finds(openssh: OpenSSH) -> None:
    text = known_hosts.format_known_hosts(
        [
            Listing(("app1", "10.0.0.5"), openssh.key("kh1").public),
            Listing(("app2", "10.0.0.6"), openssh.key("kh2").public, port=2222),
        ]
    )
    assert text.splitlines()[0] == f"app1,10.0.0.5 {openssh.key('kh1').line}"
    assert openssh.find("10.0.0.5", text) == [(1, "")]
    assert openssh.find("app1", text) == [(1, "")]
    assert openssh.find("[10.0.0.6]:2222", text) == [(2, "")]
    assert openssh.find("10.0.0.6", text) == []


def test_format_round_trips_through_parse(openssh: OpenSSH) -> None:
    listing = Listing(("app1", "10.0.0.5"), openssh.key("kh1").public)
    parsed = known_hosts.parse(known_hosts.format_known_hosts([listing]))
    assert parsed.lookup(["10.0.0.5"]).keys == (listing.key,) and parsed.skipped == 0


@pytest.mark.parametrize(
    "name", ["", "a b", "a,b", "*.example.org", "!app1", "app?", "[app1]:22", "#x", "@x", "|1|"]
)
def test_listing_refuses_names_that_are_not_plain_names(openssh: OpenSSH, name: str) -> None:
    with pytest.raises(ValueError):
        Listing((name,), openssh.key("kh1").public)


MATCH_CASES = [
    ("app1", "app1", True),
    ("app1", "app2", False),
    ("app1", "app*", True),
    ("app1", "a?p1", True),
    ("app1", "*", True),
    ("", "*", True),
    ("", "", True),
    ("a", "", False),
    ("app1", "app", False),
    ("app1", "*1", True),
    ("app1", "*2", False),
    ("a.b.c", "*.c", True),
    ("abc", "a*b*c", True),
    ("abbbc", "a*b?c", True),
    ("ac", "a?c", False),
    ("[h]:22", "[h]:*", True),
    ("x", "**", True),
]


@pytest.mark.parametrize("text,pattern,expected", MATCH_CASES)
def test_match_pattern_table(text: str, pattern: str, expected: bool) -> None:
    assert known_hosts.match_pattern(text, pattern) is expected


def _oracle(text: str, pattern: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


@given(text=st.text("ab.*?", max_size=12), pattern=st.text("ab.*?", max_size=8))
@PROPERTY
def test_match_pattern_agrees_with_a_regular_expression(text: str, pattern: str) -> None:
    assert known_hosts.match_pattern(text, pattern) is _oracle(text, pattern)


class _Counted(str):
    """A string that counts how often the matcher reads a character of it."""

    reads = 0

    def __getitem__(self, index: object) -> str:  # type: ignore[override]  # counting, same result
        _Counted.reads += 1
        return str.__getitem__(self, index)  # type: ignore[index]  # the index str itself takes


def test_match_pattern_takes_polynomial_time_on_a_hostile_pattern() -> None:
    # Counted, not timed: a backtracking matcher needs exponentially many reads for 40 stars,
    # this one at most a few per (text, pattern) position pair.
    text, pattern = _Counted("a" * 400), _Counted("*a" * 40 + "b")
    _Counted.reads = 0
    assert not known_hosts.match_pattern(text, pattern)
    assert 0 < _Counted.reads <= 4 * len(text) * len(pattern)


@pytest.mark.parametrize(
    "name,patterns,expected",
    [
        ("a", "a,b", 1),
        ("b", "a,b", 1),
        ("c", "a,b", 0),
        ("a", "*,!a", -1),
        ("a", "!a,*", -1),
        ("b", "*,!a", 1),
        ("a", "!b", 0),
        ("a", "A", 1),
        ("a", "a," + "x" * 1100, 0),
    ],
)
def test_match_pattern_list_follows_openssh(name: str, patterns: str, expected: int) -> None:
    assert known_hosts.match_pattern_list(name, patterns) == expected


LINE_PIECES = st.sampled_from(
    [
        "@cert-authority",
        "@revoked",
        "@",
        "|1|",
        "|",
        "*",
        "!",
        ",",
        "[",
        "]:22",
        " ",
        "\t",
        "#",
        "ssh-ed25519",
        "AAAAC3NzaC1lZDI1NTE5AAAAI",
        "=",
        "\r",
        "\n",
        "app1",
        "10.0.0.5",
    ]
)


@given(text=st.lists(LINE_PIECES, max_size=30).map("".join))
@PROPERTY
def test_parse_never_raises_on_line_shaped_text(text: str) -> None:
    parsed = known_hosts.parse(text)
    parsed.lookup(["app1", "10.0.0.5"])


@given(text=st.text(max_size=400))
@PROPERTY
def test_parse_never_raises_on_any_text(text: str) -> None:
    parsed = known_hosts.parse(text)
    assert parsed.skipped + len(parsed.entries) <= text.count("\n") + 1
    parsed.lookup(["app1"], port=2222)


@given(hosts=st.text("aB.1,*?!", min_size=1, max_size=12), name=st.text("ab.1", max_size=6))
@PROPERTY
def test_the_literal_fast_path_matches_like_the_pattern_matcher(hosts: str, name: str) -> None:
    parsed = known_hosts.parse(
        f"{hosts} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBcsGUYx0dmP3VF1Zg5c2LQhwNDmdLXuC5Nf66pkOJEy\n"
    )
    if parsed.entries:
        entry = parsed.entries[0]
        assert entry.matches(name) is (
            known_hosts.match_pattern_list(known_hosts.ascii_lower(name), hosts) == 1
        )
