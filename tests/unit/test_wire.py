"""core/codec/load_query.py: the UDP 377 msgpack request/reply codecs and the no-amplification rule."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.codec import load_query
from ltsp_mesh.core.record import ServerRecord
from ltsp_mesh.errors import DecodeError

from .strategies import (
    PROPERTY,
    SAMPLE_RECORD,
    TEXT_ALPHABET,
    clock_readings,
    extreme_records,
    msgpack_objects,
    msgpack_scalars,
    nonces,
    packed,
    records,
    replies,
    requests,
)

NONCE = bytes(range(16))
RECORD = SAMPLE_RECORD
REPLY = load_query.Reply(record=RECORD, nonce=NONCE, timestamp=1_700_000_000.25)
REPLY_FIELDS: dict[str, Any] = {
    "v": 1,
    "n": NONCE,
    "ts": 1_700_000_000.25,
    "id": "0123456789abcdef",
    "cpu": 8,
    "load": 0.52,
    "mem": 45,
    "swap": False,
    "ses": 12,
    "pend": 2,
    "cap": 8,
    "st": "up",
    "q": 377,
    "hk": "SHA256:nk66K+YVPC8ikwssL4uEHNHSZ5xd492nCBVRE6seZ90",
}
REQUEST_FIELDS: dict[str, Any] = {"op": "stats", "n": NONCE}


def reply_with(**changes: Any) -> bytes:
    return packed({**REPLY_FIELDS, **changes})


def reply_without(key: str) -> bytes:
    return packed({k: v for k, v in REPLY_FIELDS.items() if k != key})


def request_with(**changes: Any) -> bytes:
    return packed({**REQUEST_FIELDS, **changes})


def stats(nonce: bytes = NONCE) -> load_query.Request:
    return load_query.Request(op=load_query.Op.STATS, nonce=nonce)


# --- Request and Reply values ------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, load_query.NONCE_MIN_BYTES - 1, load_query.NONCE_MAX_BYTES + 1])
def test_request_rejects_a_nonce_of_the_wrong_size(size: int) -> None:
    with pytest.raises(ValueError, match="nonce"):
        load_query.Request(op=load_query.Op.STATS, nonce=bytes(size))


def test_request_rejects_a_client_id_over_64_characters() -> None:
    with pytest.raises(ValueError, match="client"):
        load_query.Request(op=load_query.Op.STATS, nonce=NONCE, client="c" * 65)


@pytest.mark.parametrize("size", [0, load_query.NONCE_MIN_BYTES - 1, load_query.NONCE_MAX_BYTES + 1])
def test_reply_rejects_a_nonce_of_the_wrong_size(size: int) -> None:
    with pytest.raises(ValueError, match="nonce"):
        dataclasses.replace(REPLY, nonce=bytes(size))


@pytest.mark.parametrize("timestamp", [-1.0, math.nan, math.inf])
def test_reply_rejects_a_timestamp_that_is_not_a_time(timestamp: float) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        dataclasses.replace(REPLY, timestamp=timestamp)


# --- requests ----------------------------------------------------------------------------------


@given(requests(client=st.text(TEXT_ALPHABET, max_size=64)))
@PROPERTY
def test_encode_request_pads_to_the_request_size(request: load_query.Request) -> None:
    assert len(load_query.encode_request(request)) == load_query.REQUEST_SIZE_BYTES


@given(requests(), st.integers(0, 2000))
@PROPERTY
def test_encode_request_never_exceeds_the_pad_size_unless_the_request_itself_does(
    request: load_query.Request, pad_to: int
) -> None:
    unpadded = len(load_query.encode_request(request, pad_to=0))
    padded = len(load_query.encode_request(request, pad_to=pad_to))
    if pad_to <= unpadded:
        assert padded == unpadded
    else:
        # msgpack's length headers make a few sizes unreachable: the pad lands at most 4 bytes short.
        assert pad_to - 4 <= padded <= pad_to


def test_encode_request_leaves_a_request_larger_than_the_pad_size_as_it_is() -> None:
    assert load_query.encode_request(stats(), pad_to=10) == packed(REQUEST_FIELDS)


@given(requests())
@PROPERTY
def test_decode_request_inverts_encode_request(request: load_query.Request) -> None:
    assert load_query.decode_request(load_query.encode_request(request)) == request


@given(requests())
@PROPERTY
def test_decode_request_reads_an_unpadded_request(request: load_query.Request) -> None:
    assert load_query.decode_request(load_query.encode_request(request, pad_to=0)) == request


def test_decode_request_ignores_unknown_fields() -> None:
    assert load_query.decode_request(request_with(future=[1, 2, 3])) == stats()


@pytest.mark.parametrize(
    ("datagram", "complaint"),
    [
        (request_with(op="reboot"), "op"),
        (request_with(op=b"stats"), "op"),
        (request_with(op=1), "op"),
        (packed({"n": NONCE}), "op"),
        (packed({"op": "stats"}), "'n'"),
        (request_with(n="0123456789abcdef"), "'n'"),
        (request_with(n=bytes(7)), "nonce"),
        (request_with(n=bytes(33)), "nonce"),
        (request_with(c=b"client"), "'c'"),
        (request_with(c=None), "'c'"),
        (request_with(c="c" * 65), "client"),
        (packed(["stats", NONCE]), "not a map"),
        (packed("stats"), "not a map"),
        (packed(None), "not a map"),
        (b"", "msgpack"),
        (request_with() + b"\x00", "msgpack"),  # trailing data after the map
        (bytes(load_query.MAX_DATAGRAM_BYTES + 1), "over"),
    ],
)
def test_decode_request_rejects_a_malformed_datagram(datagram: bytes, complaint: str) -> None:
    with pytest.raises(DecodeError, match=complaint):
        load_query.decode_request(datagram)


# --- replies -----------------------------------------------------------------------------------


def test_encode_reply_writes_the_documented_fields() -> None:
    assert msgpack.unpackb(load_query.encode_reply(REPLY)) == REPLY_FIELDS


def test_encode_reply_leaves_out_hk_when_there_is_no_host_key() -> None:
    reply = dataclasses.replace(REPLY, record=dataclasses.replace(RECORD, host_key_fp=""))
    assert "hk" not in msgpack.unpackb(load_query.encode_reply(reply))


def test_decode_reply_reads_the_documented_fields() -> None:
    assert load_query.decode_reply(packed(REPLY_FIELDS)) == REPLY


def test_decode_reply_reads_whole_numbers_for_load_and_timestamp() -> None:
    reply = load_query.decode_reply(reply_with(load=1, ts=1_700_000_000))
    assert (reply.record.load_per_cpu, reply.timestamp) == (1.0, 1_700_000_000.0)


def test_decode_reply_ignores_unknown_fields() -> None:
    assert load_query.decode_reply(reply_with(future={"a": 1})) == REPLY


@given(replies())
@PROPERTY
def test_decode_reply_inverts_encode_reply(reply: load_query.Reply) -> None:
    assert load_query.decode_reply(load_query.encode_reply(reply)) == reply


@pytest.mark.parametrize(
    "key", ["v", "n", "ts", "id", "cpu", "load", "mem", "swap", "ses", "pend", "cap", "st", "q"]
)
def test_decode_reply_rejects_a_missing_field(key: str) -> None:
    with pytest.raises(DecodeError):
        load_query.decode_reply(reply_without(key))


@pytest.mark.parametrize(
    "changes",
    [
        {"v": 2},
        {"v": "1"},
        {"v": True},  # bool is an int subclass in Python, but not a version
        {"cpu": True},
        {"cpu": 8.0},
        {"cpu": 0},
        {"cpu": 2**64 - 1},
        {"ses": -1},
        {"load": "0.5"},
        {"load": math.nan},
        {"load": math.inf},
        {"load": -0.5},
        {"swap": 0},
        {"swap": "false"},
        {"st": "down"},
        {"st": b"up"},
        {"q": 0},
        {"id": ""},
        {"id": b"0123"},
        {"id": "a b"},
        {"hk": b"SHA256:x"},
        {"hk": None},
        {"n": "0123456789abcdef"},
        {"n": bytes(4)},
        {"ts": "now"},
        {"ts": -1.0},
        {"ts": math.nan},
    ],
)
def test_decode_reply_rejects_a_field_of_the_wrong_type_or_range(changes: dict[str, Any]) -> None:
    with pytest.raises(DecodeError):
        load_query.decode_reply(reply_with(**changes))


# --- decoding hostile datagrams: DecodeError and nothing else ----------------------------------

# Each of these is a datagram that is short but asks msgpack for something large or deep.
HOSTILE_DATAGRAMS = [
    "dfffffffff",  # map32 claiming 4294967295 entries, with none present
    "dcffff",  # array16 claiming 65535 entries
    "dbffffffff",  # str32 claiming 4 GiB
    "c6ffffffff",  # bin32 claiming 4 GiB
    "c7ff00" + "00" * 8,  # ext8 (type 0): extension types are refused
    "d6ff" + "00" * 4,  # fixext4 type -1: a msgpack timestamp
    "91" * 2000 + "c0",  # 2000 nested one-element arrays
    "81a161" * 400 + "c0",  # 400 nested one-entry maps
    "de0021" + "".join(f"a1{0x40 + k:02x}c0" for k in range(33)),  # 33 entries, one over the limit
    "81c0c0",  # a map with a nil key
    "8101c0",  # a map with an integer key
    "c1",  # the one byte msgpack never uses
    "cb7ff8000000000000",  # a bare NaN
]


@pytest.mark.parametrize("datagram", HOSTILE_DATAGRAMS)
def test_decode_request_rejects_hostile_msgpack(datagram: str) -> None:
    with pytest.raises(DecodeError):
        load_query.decode_request(bytes.fromhex(datagram))


@pytest.mark.parametrize("datagram", HOSTILE_DATAGRAMS)
def test_decode_reply_rejects_hostile_msgpack(datagram: str) -> None:
    with pytest.raises(DecodeError):
        load_query.decode_reply(bytes.fromhex(datagram))


def test_decode_rejects_a_map_with_more_entries_than_any_message_has() -> None:
    huge = {f"k{i}": i for i in range(100)}
    with pytest.raises(DecodeError):
        load_query.decode_request(packed({**REQUEST_FIELDS, **huge}))
    with pytest.raises(DecodeError):
        load_query.decode_reply(packed({**REPLY_FIELDS, **huge}))


def decodes_or_raises_decode_error(datagram: bytes) -> None:
    for decode in (load_query.decode_request, load_query.decode_reply):
        try:
            decode(datagram)
        except DecodeError:
            pass


@given(st.binary(max_size=2000))
@PROPERTY
def test_decode_raises_only_decode_error_on_arbitrary_bytes(datagram: bytes) -> None:
    decodes_or_raises_decode_error(datagram)


@given(msgpack_objects)
@PROPERTY
def test_decode_raises_only_decode_error_on_arbitrary_msgpack(obj: Any) -> None:
    decodes_or_raises_decode_error(packed(obj))


@given(
    st.sampled_from([REQUEST_FIELDS, REPLY_FIELDS]).flatmap(lambda f: st.sampled_from(sorted(f))),
    msgpack_objects,
)
@PROPERTY
def test_decode_raises_only_decode_error_on_a_field_of_any_type(key: str, value: Any) -> None:
    decodes_or_raises_decode_error(request_with(**{key: value}))
    decodes_or_raises_decode_error(reply_with(**{key: value}))


@given(st.integers(0, 300), msgpack_scalars)
@PROPERTY
def test_decode_raises_only_decode_error_on_large_maps(entries: int, value: Any) -> None:
    extra = {f"x{i}": value for i in range(entries)}
    decodes_or_raises_decode_error(packed({**REQUEST_FIELDS, **extra}))
    decodes_or_raises_decode_error(packed({**REPLY_FIELDS, **extra}))


@given(
    st.one_of(requests().map(load_query.encode_request), replies().map(load_query.encode_reply)), st.data()
)
@PROPERTY
def test_decode_rejects_every_truncated_datagram(datagram: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(datagram) - 1))
    for decode in (load_query.decode_request, load_query.decode_reply):
        with pytest.raises(DecodeError):
            decode(datagram[:cut])


@given(replies(), st.data())
@PROPERTY
def test_decode_raises_only_decode_error_on_a_reply_with_flipped_bytes(
    reply: load_query.Reply, data: st.DataObject
) -> None:
    datagram = bytearray(load_query.encode_reply(reply))
    for _ in range(data.draw(st.integers(1, 4))):
        datagram[data.draw(st.integers(0, len(datagram) - 1))] = data.draw(st.integers(0, 255))
    decodes_or_raises_decode_error(bytes(datagram))


# --- answer: the server's decision -------------------------------------------------------------


def test_answer_replies_with_the_record_bound_to_the_request_nonce() -> None:
    datagram = load_query.answer(load_query.encode_request(stats()), RECORD, now=1_700_000_000.25)
    assert datagram is not None
    assert load_query.decode_reply(datagram) == REPLY


@given(records(), nonces(), clock_readings())
@PROPERTY
def test_answer_round_trips_from_client_request_to_client_reply(
    record: ServerRecord, nonce: bytes, now: float
) -> None:
    datagram = load_query.answer(load_query.encode_request(stats(nonce)), record, now)
    assert datagram is not None
    assert load_query.decode_reply(datagram) == load_query.Reply(record=record, nonce=nonce, timestamp=now)


@given(st.one_of(records(), extreme_records()), requests(), clock_readings())
@PROPERTY
def test_answer_is_never_larger_than_a_padded_request(
    record: ServerRecord, request: load_query.Request, now: float
) -> None:
    datagram = load_query.encode_request(dataclasses.replace(request, op=load_query.Op.STATS))
    reply = load_query.answer(datagram, record, now)
    assert reply is not None
    assert len(reply) <= len(datagram)


@given(records(), nonces(), clock_readings())
@PROPERTY
def test_answer_stays_silent_to_an_unpadded_request(record: ServerRecord, nonce: bytes, now: float) -> None:
    assert load_query.answer(load_query.encode_request(stats(nonce), pad_to=0), record, now) is None


@pytest.mark.parametrize(
    "datagram", [b"", b"\xc1", packed([1, 2]), request_with(op="reboot"), request_with(n=b"")]
)
def test_answer_raises_decode_error_for_a_malformed_request(datagram: bytes) -> None:
    with pytest.raises(DecodeError):
        load_query.answer(datagram, RECORD, now=0.0)


@given(st.binary(max_size=1500), clock_readings())
@PROPERTY
def test_answer_raises_only_decode_error_on_arbitrary_bytes(datagram: bytes, now: float) -> None:
    try:
        reply = load_query.answer(datagram, RECORD, now)
    except DecodeError:
        return
    assert reply is None or len(reply) <= len(datagram)


@given(msgpack_objects, clock_readings())
@PROPERTY
def test_answer_raises_only_decode_error_on_arbitrary_msgpack(obj: Any, now: float) -> None:
    datagram = packed(obj)
    try:
        reply = load_query.answer(datagram, RECORD, now)
    except DecodeError:
        return
    assert reply is None or len(reply) <= len(datagram)
