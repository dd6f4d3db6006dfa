"""core/trust/tsig_key.py: a BIND key file (tsig-keygen, ddns-confgen -q) -> one TSIG key, or a clear error."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.trust import tsig_key
from ltsp_mesh.core.trust.tsig_key import TsigKey
from ltsp_mesh.errors import ConfigError

from .strategies import PROPERTY

WHERE = "/etc/ltsp/ltsp-mesh.key"
SECRET = "2z9RK0ujjPZ5aTQTf3W1BIRAruhmWYEVwR82ue9ZHFM="
# What `tsig-keygen ltsp-mesh` printed (BIND 9.18, Debian 12).
TSIG_KEYGEN = f'key "ltsp-mesh" {{\n\talgorithm hmac-sha256;\n\tsecret "{SECRET}";\n}};\n'
# What `ddns-confgen -q -z school.example` printed.
DDNS_CONFGEN_Q = f'key "ddns-key.school.example" {{\n\talgorithm hmac-sha256;\n\tsecret "{SECRET}";\n}};\n'


def test_parse_reads_what_tsig_keygen_writes() -> None:
    key = tsig_key.parse(TSIG_KEYGEN, WHERE)
    assert key == TsigKey(name="ltsp-mesh", algorithm="hmac-sha256", secret=base64.b64decode(SECRET))


def test_parse_reads_what_ddns_confgen_q_writes() -> None:
    assert tsig_key.parse(DDNS_CONFGEN_Q, WHERE).name == "ddns-key.school.example"


def test_parse_allows_bind_comments_and_an_unquoted_name() -> None:
    text = f'# made for the LTSP servers\n/* a\nblock */ key LTSP-Mesh. {{ // the name\n algorithm HMAC-SHA512;\n secret "{SECRET}";\n}};\n'
    key = tsig_key.parse(text, WHERE)
    assert (key.name, key.algorithm) == ("ltsp-mesh", "hmac-sha512")


def test_parse_maps_the_old_md5_algorithm_name() -> None:
    text = f'key k {{ algorithm hmac-md5.sig-alg.reg.int; secret "{SECRET}"; }};'
    assert tsig_key.parse(text, WHERE).algorithm == "hmac-md5"


def test_parse_allows_whitespace_inside_the_secret() -> None:
    text = f'key k {{ algorithm hmac-sha256; secret "{SECRET[:20]} {SECRET[20:]}"; }};'
    assert tsig_key.parse(text, WHERE).secret == base64.b64decode(SECRET)


def test_secret_never_shows_in_the_repr() -> None:
    assert SECRET not in repr(tsig_key.parse(TSIG_KEYGEN, WHERE))
    assert "secret" not in repr(tsig_key.parse(TSIG_KEYGEN, WHERE))


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("", None, "holds no key"),
        ("# only a comment\n", None, "holds no key"),
        ("key k {\n algorithm hmac-sha256;\n};\n", 1, "has no secret"),
        (f'key k {{\n secret "{SECRET}";\n}};\n', 1, "has no algorithm"),
        ('key k {\n algorithm hmac-sha256;\n secret "not base64!";\n};', 3, "not base64"),
        ('key k {\n algorithm hmac-sha256;\n secret "";\n};', 3, "secret is empty"),
        (f'key k {{\n algorithm hmac-sha3;\n secret "{SECRET}";\n}};', 2, "not one of"),
        (f'key k {{\n algorithm hmac-sha256;\n secret "{SECRET}";\n}}', 4, "ends early"),
        (f'key k {{\n algorithm hmac-sha256;\n secret "{SECRET}";\n port 53;\n}};', 4, "not a key clause"),
        ("update-policy {\n grant k zonesub ANY;\n};", 1, "expected a key statement"),
        (
            f'\n\nkey k {{ algorithm hmac-sha256; secret "{SECRET}"; }};\nnsupdate -k <keyfile>\n',
            4,
            "found 'nsupdate'",
        ),
        ("/* never closed\nkey k {};", 1, "never closed"),
        ('key "k {};', 1, "never closed"),
        (f'key "bad name" {{ algorithm hmac-sha256; secret "{SECRET}"; }};', 1, "not a valid key name"),
        (f'key k ( algorithm hmac-sha256; secret "{SECRET}"; }};', 1, "expected '{'"),
    ],
)
def test_parse_names_the_file_the_line_and_the_problem(text: str, line: int | None, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        tsig_key.parse(text, WHERE)
    message = str(caught.value)
    assert message.startswith(WHERE + (f" line {line}:" if line else ":")), message
    assert words in message


def test_parse_refuses_two_keys_and_says_where_they_are() -> None:
    text = TSIG_KEYGEN + "\n" + DDNS_CONFGEN_Q
    with pytest.raises(ConfigError, match=r"holds 2 keys \(lines 1, 6\)"):
        tsig_key.parse(text, WHERE)


def test_the_whole_ddns_confgen_output_is_refused_with_the_fix() -> None:
    # Without -q, ddns-confgen also prints an update-policy statement for named.conf.
    text = (
        "# To activate this key, place the following in named.conf:\n"
        + DDNS_CONFGEN_Q
        + "update-policy {\n\t  grant ddns-key.school.example zonesub ANY;\n};\n"
    )
    with pytest.raises(
        ConfigError, match=r"line 6: expected a key statement, found 'update-policy'; .*tsig-keygen"
    ):
        tsig_key.parse(text, WHERE)


@pytest.mark.parametrize(
    ("name", "algorithm", "secret"),
    [
        ("Upper", "hmac-sha256", b"x"),
        ("k.", "hmac-sha256", b"x"),
        ("k", "sha256", b"x"),
        ("k", "hmac-sha256", b""),
    ],
)
def test_key_values_are_checked_on_construction(name: str, algorithm: str, secret: bytes) -> None:
    with pytest.raises(ValueError):
        TsigKey(name=name, algorithm=algorithm, secret=secret)


@PROPERTY
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_config_error(text: str) -> None:
    try:
        tsig_key.parse(text, WHERE)
    except ConfigError as exc:
        assert str(exc).startswith(WHERE)


@PROPERTY
@given(st.binary(min_size=1, max_size=64), st.sampled_from(tsig_key.ALGORITHMS))
def test_written_keys_read_back(secret: bytes, algorithm: str) -> None:
    text = f'key "k" {{ algorithm {algorithm}; secret "{base64.b64encode(secret).decode()}"; }};'
    assert tsig_key.parse(text, WHERE) == TsigKey("k", algorithm, secret)
