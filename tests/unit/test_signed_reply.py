"""core/trust/signed_reply.py: the `sig` and `cert` reply fields, and the padding they need."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.codec import load_query
from ltsp_mesh.core.record import ServerRecord
from ltsp_mesh.core.trust import signed_reply, ssh_cert, ssh_keys
from ltsp_mesh.core.trust.signed_reply import SignedReply
from ltsp_mesh.errors import DecodeError
from tests import records

from .strategies import PROPERTY, extreme_records, msgpack_objects, packed, replies

KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
CA = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34)))
NONCE = bytes(range(16))
RECORD = records.record(
    load_per_cpu=0.52,
    mem_percent=45,
    sessions=12,
    pending=2,
    host_key_fp="SHA256:nk66K+YVPC8ikwssL4uEHNHSZ5xd492nCBVRE6seZ90",
)
REPLY = load_query.Reply(record=RECORD, nonce=NONCE, timestamp=1_720_000_000.25)
CERT = ssh_cert.issue_certificate(
    CA,
    ssh_keys.ed25519_public_key(KEY.public_key()),
    key_id="app1",
    principals=["app1", "10.0.0.5"],
    valid_after=0,
    valid_before=2**64 - 1,
    nonce=bytes(32),
)


def test_encode_then_decode_round_trips_with_and_without_a_certificate() -> None:
    for certificate in (b"", CERT):
        signed = signed_reply.decode(signed_reply.encode(REPLY, KEY, certificate))
        assert (signed.reply, signed.certificate, signed.signed) == (REPLY, certificate, True)
        assert signed_reply.verify_signature(signed, KEY.public_key())


def test_an_unsigned_reply_decodes_as_unsigned() -> None:
    signed = signed_reply.decode(load_query.encode_reply(REPLY))
    assert (signed.reply, signed.signed, signed.certificate) == (REPLY, False, b"")
    assert not signed_reply.verify_signature(signed, KEY.public_key())


def test_a_signed_reply_is_still_read_by_the_plain_reply_decoder() -> None:
    assert load_query.decode_reply(signed_reply.encode(REPLY, KEY, CERT)) == REPLY


def test_the_signature_does_not_verify_with_another_key() -> None:
    other = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(5, 37)))
    signed = signed_reply.decode(signed_reply.encode(REPLY, KEY))
    assert not signed_reply.verify_signature(signed, other.public_key())


@pytest.mark.parametrize(
    "field,value",
    [
        ("ts", 1_720_000_001.25),
        ("n", bytes(16)),
        ("ses", 13),
        ("load", 0.53),
        ("st", "drain"),
        ("hk", ""),
    ],
)
def test_the_signature_covers_every_field(field: str, value: Any) -> None:
    fields = msgpack.unpackb(signed_reply.encode(REPLY, KEY), raw=False)
    fields[field] = value
    assert not signed_reply.verify_signature(signed_reply.decode(packed(fields)), KEY.public_key())


def test_the_signature_survives_an_integer_load_and_timestamp_on_the_wire() -> None:
    reply = dataclasses.replace(
        REPLY, record=dataclasses.replace(RECORD, load_per_cpu=1), timestamp=1_720_000_000
    )
    fields = msgpack.unpackb(signed_reply.encode(reply, KEY), raw=False)
    fields.update(load=1, ts=1_720_000_000)  # another encoder may send whole numbers as integers
    assert signed_reply.verify_signature(signed_reply.decode(packed(fields)), KEY.public_key())


def test_the_signature_does_not_depend_on_the_maps_key_order() -> None:
    fields = msgpack.unpackb(signed_reply.encode(REPLY, KEY), raw=False)
    reordered = dict(reversed(list(fields.items())))
    assert signed_reply.verify_signature(signed_reply.decode(packed(reordered)), KEY.public_key())


@pytest.mark.parametrize(
    "field,value", [("sig", bytes(63)), ("sig", "text"), ("cert", "text"), ("cert", bytes(1025))]
)
def test_decode_refuses_malformed_sig_and_cert_fields(field: str, value: Any) -> None:
    fields = msgpack.unpackb(signed_reply.encode(REPLY, KEY), raw=False)
    fields[field] = value
    with pytest.raises(DecodeError, match=repr(field)):
        signed_reply.decode(packed(fields))


def test_signed_reply_refuses_a_signature_of_the_wrong_length() -> None:
    with pytest.raises(ValueError):
        SignedReply(REPLY, bytes(10))


def test_reply_to_sends_the_certificate_when_the_request_is_padded_for_it() -> None:
    request = load_query.Request(load_query.Op.STATS, NONCE)
    datagram = signed_reply.reply_to(
        request, signed_reply.CERT_REQUEST_SIZE_BYTES, RECORD, REPLY.timestamp, key=KEY, certificate=CERT
    )
    assert datagram is not None and signed_reply.decode(datagram).certificate == CERT


def test_reply_to_leaves_the_certificate_out_of_an_ordinary_sized_reply() -> None:
    request = load_query.Request(load_query.Op.STATS, NONCE)
    datagram = signed_reply.reply_to(
        request, load_query.REQUEST_SIZE_BYTES, RECORD, REPLY.timestamp, key=KEY, certificate=CERT + bytes(0)
    )
    assert datagram is not None and len(datagram) <= load_query.REQUEST_SIZE_BYTES
    decoded = signed_reply.decode(datagram)
    assert decoded.signed and decoded.certificate == b"" and decoded.reply == REPLY


def test_reply_to_stays_silent_when_even_the_signed_reply_is_larger_than_the_request() -> None:
    request = load_query.Request(load_query.Op.STATS, NONCE)
    assert signed_reply.reply_to(request, 200, RECORD, REPLY.timestamp, key=KEY) is None


@given(record=extreme_records())
@PROPERTY
def test_the_largest_signed_reply_fits_the_ordinary_padding(record: ServerRecord) -> None:
    reply = load_query.Reply(record=record, nonce=bytes(load_query.NONCE_MAX_BYTES), timestamp=2.0**40 + 0.5)
    assert len(signed_reply.encode(reply, KEY)) <= load_query.REQUEST_SIZE_BYTES


@given(record=extreme_records())
@PROPERTY
def test_the_largest_reply_with_a_certificate_fits_the_certificate_padding(record: ServerRecord) -> None:
    reply = load_query.Reply(record=record, nonce=bytes(load_query.NONCE_MAX_BYTES), timestamp=2.0**40 + 0.5)
    largest = SignedReply(reply, bytes(64), bytes(ssh_cert.MAX_CERT_BYTES))
    assert len(signed_reply.encode_signed(largest)) <= signed_reply.CERT_REQUEST_SIZE_BYTES
    assert signed_reply.CERT_REQUEST_SIZE_BYTES < load_query.MAX_DATAGRAM_BYTES
    assert (
        len(
            load_query.encode_request(
                load_query.Request(load_query.Op.STATS, bytes(32)), signed_reply.CERT_REQUEST_SIZE_BYTES
            )
        )
        == signed_reply.CERT_REQUEST_SIZE_BYTES
    )


@given(reply=replies())
@PROPERTY
def test_encode_then_decode_round_trips_any_reply(reply: load_query.Reply) -> None:
    signed = signed_reply.decode(signed_reply.encode(reply, KEY))
    assert signed.reply == reply and signed_reply.verify_signature(signed, KEY.public_key())


@given(obj=msgpack_objects)
@PROPERTY
def test_decode_raises_only_decode_error_on_any_msgpack(obj: Any) -> None:
    try:
        signed_reply.decode(packed(obj))
    except DecodeError:
        pass


@given(data=st.binary(max_size=600))
@PROPERTY
def test_decode_raises_only_decode_error_on_any_bytes(data: bytes) -> None:
    try:
        signed_reply.decode(data)
    except DecodeError:
        pass
