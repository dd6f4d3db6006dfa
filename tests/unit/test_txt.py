"""core/codec/txt.py: ServerRecord <-> TXT properties <-> TXT RDATA, the DNS-SD contract of DESIGN.md."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.codec import txt
from ltsp_mesh.core.record import ServerRecord, ServerState
from ltsp_mesh.errors import DecodeError

from .strategies import PROPERTY, SAMPLE_RECORD, extreme_records, records

RECORD = SAMPLE_RECORD
PROPERTIES: txt.TxtProperties = {
    b"v": b"1",
    b"id": b"0123456789abcdef",
    b"cpu": b"8",
    b"load": b"0.52",
    b"mem": b"45",
    b"swap": b"0",
    b"ses": b"12",
    b"pend": b"2",
    b"cap": b"8",
    b"st": b"up",
    b"q": b"377",
    b"hk": b"SHA256:nk66K+YVPC8ikwssL4uEHNHSZ5xd492nCBVRE6seZ90",
}
DRAINING = dataclasses.replace(
    RECORD, swapping=True, state=ServerState.DRAIN, host_key_fp="", load_per_cpu=3.0
)
DRAINING_PROPERTIES = {
    **{k: v for k, v in PROPERTIES.items() if k != b"hk"},
    b"swap": b"1",
    b"st": b"drain",
    b"load": b"3.00",
}
KNOWN_CASES = [(RECORD, PROPERTIES), (DRAINING, DRAINING_PROPERTIES)]


def with_property(key: bytes, value: bytes | None) -> txt.TxtProperties:
    return {**PROPERTIES, key: value}


def without(key: bytes) -> txt.TxtProperties:
    return {k: v for k, v in PROPERTIES.items() if k != key}


# --- record <-> properties: known cases, both directions ---------------------------------------


@pytest.mark.parametrize(("record", "properties"), KNOWN_CASES, ids=["up", "drain"])
def test_encode_writes_the_documented_keys(record: ServerRecord, properties: txt.TxtProperties) -> None:
    assert txt.encode(record) == properties


@pytest.mark.parametrize(("record", "properties"), KNOWN_CASES, ids=["up", "drain"])
def test_decode_reads_the_documented_keys(record: ServerRecord, properties: txt.TxtProperties) -> None:
    assert txt.decode(properties) == record


def test_encode_puts_the_version_key_first() -> None:
    assert next(iter(txt.encode(RECORD))) == b"v"


def test_encode_leaves_out_hk_when_there_is_no_host_key() -> None:
    assert b"hk" not in txt.encode(dataclasses.replace(RECORD, host_key_fp=""))


def test_encode_writes_load_with_two_decimals() -> None:
    # TXT load is a coarse hint (DESIGN.md): finer figures come from the direct query.
    assert txt.encode(dataclasses.replace(RECORD, load_per_cpu=0.256))[b"load"] == b"0.26"


@given(records())
@PROPERTY
def test_decode_inverts_encode(record: ServerRecord) -> None:
    assert txt.decode(txt.encode(record)) == record


@given(records())
@PROPERTY
def test_encode_stays_under_400_bytes(record: ServerRecord) -> None:
    assert len(txt.encode_rdata(txt.encode(record))) < txt.MAX_TXT_BYTES


@given(extreme_records())
@PROPERTY
def test_encode_of_records_at_the_field_bounds_stays_under_400_bytes(record: ServerRecord) -> None:
    assert len(txt.encode_rdata(txt.encode(record))) < txt.MAX_TXT_BYTES


@given(records())
@PROPERTY
def test_record_survives_txt_rdata(record: ServerRecord) -> None:
    assert txt.decode(txt.decode_rdata(txt.encode_rdata(txt.encode(record)))) == record


# --- decode: what it accepts -------------------------------------------------------------------


def test_decode_reads_keys_in_any_case() -> None:
    shouted = {key.upper(): value for key, value in PROPERTIES.items()}
    assert txt.decode(shouted) == RECORD


def test_decode_takes_the_first_of_keys_that_differ_only_in_case() -> None:
    properties = {b"SES": b"99", **PROPERTIES}
    assert txt.decode(properties).sessions == 99


def test_decode_ignores_unknown_keys() -> None:
    # Later schema versions may add keys; this reader must still understand the ones it knows.
    assert txt.decode({**PROPERTIES, b"future": b"x", b"flag": None}) == RECORD


def test_decode_reads_hk_without_a_value_as_no_host_key() -> None:
    assert txt.decode(with_property(b"hk", None)).host_key_fp == ""


@pytest.mark.parametrize(
    ("text", "value"), [(b"0", 0.0), (b"0.5", 0.5), (b"1.2345", 1.2345), (b"1000", 1000.0)]
)
def test_decode_reads_load_as_a_decimal(text: bytes, value: float) -> None:
    assert txt.decode(with_property(b"load", text)).load_per_cpu == value


# --- decode: what it refuses -------------------------------------------------------------------


def test_decode_rejects_txt_without_version() -> None:
    with pytest.raises(DecodeError, match="'v'"):
        txt.decode(without(b"v"))


def test_decode_rejects_an_unknown_schema_version() -> None:
    with pytest.raises(DecodeError, match="version 2"):
        txt.decode(with_property(b"v", b"2"))


def test_decode_rejects_an_empty_txt_record() -> None:
    with pytest.raises(DecodeError):
        txt.decode({})


@pytest.mark.parametrize(
    "key", [b"v", b"id", b"cpu", b"load", b"mem", b"swap", b"ses", b"pend", b"cap", b"st", b"q"]
)
def test_decode_rejects_a_missing_required_key(key: bytes) -> None:
    with pytest.raises(DecodeError, match=repr(key.decode())):
        txt.decode(without(key))


@pytest.mark.parametrize("key", [b"v", b"id", b"cpu", b"load", b"swap", b"st", b"q"])
def test_decode_rejects_a_required_key_without_a_value(key: bytes) -> None:
    with pytest.raises(DecodeError):
        txt.decode(with_property(key, None))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (b"v", b"01"),
        (b"v", b"one"),
        (b"cpu", b""),
        (b"cpu", b"-1"),
        (b"cpu", b"+8"),
        (b"cpu", b" 8"),
        (b"cpu", b"8.0"),
        (b"cpu", b"0x8"),
        (b"cpu", b"\xd9\xa8"),  # ARABIC-INDIC DIGIT EIGHT: a digit to str.isdigit, not to us
        (b"ses", b"12345678901"),
        (b"load", b"0.5e1"),
        (b"load", b"nan"),
        (b"load", b"inf"),
        (b"load", b"-0.5"),
        (b"load", b".5"),
        (b"load", b"0.12345"),
        (b"load", b"1,5"),
    ],
)
def test_decode_rejects_a_value_that_is_not_a_plain_number(key: bytes, value: bytes) -> None:
    with pytest.raises(DecodeError, match=repr(key.decode())):
        txt.decode(with_property(key, value))


@pytest.mark.parametrize("value", [b"", b"2", b"true", b"yes", b"01"])
def test_decode_rejects_swap_other_than_0_or_1(value: bytes) -> None:
    with pytest.raises(DecodeError, match="swap"):
        txt.decode(with_property(b"swap", value))


@pytest.mark.parametrize("value", [b"", b"UP", b"down", b"drain ", b"\xff"])
def test_decode_rejects_an_unknown_state(value: bytes) -> None:
    with pytest.raises(DecodeError, match="st"):
        txt.decode(with_property(b"st", value))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (b"cpu", b"0"),
        (b"cpu", b"4097"),
        (b"mem", b"101"),
        (b"cap", b"0"),
        (b"q", b"0"),
        (b"q", b"65536"),
        (b"load", b"1000.01"),
        (b"ses", b"100001"),
        (b"id", b""),
        (b"id", b"a b"),
    ],
)
def test_decode_rejects_a_value_out_of_range(key: bytes, value: bytes) -> None:
    with pytest.raises(DecodeError, match="out of range"):
        txt.decode(with_property(key, value))


@pytest.mark.parametrize("key", [b"id", b"hk"])
def test_decode_rejects_text_that_is_not_ascii(key: bytes) -> None:
    with pytest.raises(DecodeError, match="ASCII"):
        txt.decode(with_property(key, "caf\u00e9".encode()))


# --- decode: never anything but DecodeError ----------------------------------------------------

KNOWN_KEYS = st.sampled_from(list(PROPERTIES)).flatmap(lambda k: st.sampled_from([k, k.upper(), k.title()]))
PLAUSIBLE_VALUES = st.one_of(
    st.none(),
    st.binary(max_size=20),
    st.integers(-5, 2**40).map(lambda n: str(n).encode()),
    st.floats(allow_nan=True).map(lambda f: str(f).encode()),
    st.sampled_from([b"up", b"drain", b"0", b"1", b"1.00", b"65535", b"99999999999"]),
)


@given(st.dictionaries(st.one_of(KNOWN_KEYS, st.binary(max_size=6)), PLAUSIBLE_VALUES, max_size=16))
@PROPERTY
def test_decode_raises_only_decode_error_on_arbitrary_properties(properties: txt.TxtProperties) -> None:
    try:
        record = txt.decode(properties)
    except DecodeError:
        return
    assert isinstance(record, ServerRecord)


@given(records(), st.sampled_from(list(PROPERTIES)), st.one_of(st.none(), PLAUSIBLE_VALUES), st.booleans())
@PROPERTY
def test_decode_raises_only_decode_error_on_a_mutated_record(
    record: ServerRecord, key: bytes, value: bytes | None, delete: bool
) -> None:
    properties = txt.encode(record)
    if delete:
        properties.pop(key, None)
    else:
        properties[key] = value
    try:
        decoded = txt.decode(properties)
    except DecodeError:
        return
    assert isinstance(decoded, ServerRecord)


# --- properties <-> RDATA ----------------------------------------------------------------------


def test_encode_rdata_writes_length_prefixed_strings_in_order() -> None:
    assert txt.encode_rdata({b"v": b"1", b"flag": None, b"e": b""}).hex() == "03763d3104666c616702653d"


@pytest.mark.parametrize(
    ("rdata", "properties"),
    [
        (b"", {}),
        (b"\x00", {}),  # RFC 6763 6.1: an empty TXT record is one empty string
        (b"\x03v=1", {b"v": b"1"}),
        (b"\x04flag", {b"flag": None}),  # a key without '=' is a boolean attribute
        (b"\x02e=", {b"e": b""}),  # a key with '=' and nothing after has an empty value
        (b"\x05a=b=c", {b"a": b"b=c"}),  # only the first '=' separates
        (b"\x03V=1", {b"v": b"1"}),  # keys are case-insensitive
        (b"\x03v=1\x03v=2", {b"v": b"1"}),  # RFC 6763 6.4: the first occurrence wins
        (b"\x03V=1\x03v=2", {b"v": b"1"}),
        (b"\x02=x\x03v=1", {b"v": b"1"}),  # RFC 6763 6.4: a string starting with '=' is ignored
        (b"\x00\x03v=1\x00", {b"v": b"1"}),
    ],
)
def test_decode_rdata_reads_rfc6763_strings(rdata: bytes, properties: txt.TxtProperties) -> None:
    assert txt.decode_rdata(rdata) == properties


@pytest.mark.parametrize("rdata", ["01", "03763d", "03763d3105", "ff" + "61" * 254])
def test_decode_rdata_rejects_truncated_rdata(rdata: str) -> None:
    with pytest.raises(DecodeError, match="truncated"):
        txt.decode_rdata(bytes.fromhex(rdata))


@pytest.mark.parametrize(
    "properties",
    [{b"": b"x"}, {b"a=b": b"c"}, {b"k": b"x" * 254}, {b"k" * 256: None}],
    ids=["empty key", "key with =", "item over 255 bytes", "key over 255 bytes"],
)
def test_encode_rdata_refuses_what_txt_strings_cannot_hold(properties: txt.TxtProperties) -> None:
    with pytest.raises(ValueError):
        txt.encode_rdata(properties)


def test_encode_rdata_takes_a_255_byte_item() -> None:
    assert len(txt.encode_rdata({b"k": b"x" * 253})) == 256


RDATA_KEYS = st.binary(min_size=1, max_size=20).filter(lambda k: b"=" not in k).map(bytes.lower)


@given(st.dictionaries(RDATA_KEYS, st.one_of(st.none(), st.binary(max_size=200))))
@PROPERTY
def test_decode_rdata_inverts_encode_rdata(properties: txt.TxtProperties) -> None:
    assert txt.decode_rdata(txt.encode_rdata(properties)) == properties


@given(st.binary(max_size=600))
@PROPERTY
def test_decode_rdata_raises_only_decode_error_on_arbitrary_bytes(rdata: bytes) -> None:
    try:
        properties = txt.decode_rdata(rdata)
    except DecodeError:
        return
    assert all(isinstance(k, bytes) and k for k in properties)


@given(st.binary(max_size=600))
@PROPERTY
def test_decoding_arbitrary_rdata_as_a_record_raises_only_decode_error(rdata: bytes) -> None:
    try:
        txt.decode(txt.decode_rdata(rdata))
    except DecodeError:
        pass
