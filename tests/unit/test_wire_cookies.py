"""The claim cookie on the wire (`ck`, core/codec/load_query.py): an optional field both ways."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given

from ltsp_mesh.core.codec import load_query
from ltsp_mesh.core.record import ServerRecord
from ltsp_mesh.core.server import cookies
from ltsp_mesh.core.trust import signed_reply, ssh_cert
from ltsp_mesh.core.trust.signed_reply import SignedReply
from ltsp_mesh.errors import DecodeError

from .strategies import PROPERTY, SAMPLE_RECORD, extreme_records, packed

KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
NONCE = bytes(range(16))
COOKIE = bytes(range(cookies.COOKIE_BYTES))
NOW = 1_700_000_000.25


def claim(cookie: bytes = COOKIE) -> load_query.Request:
    return load_query.Request(load_query.Op.CLAIM, NONCE, cookie=cookie)


def test_a_claims_cookie_round_trips() -> None:
    assert load_query.decode_request(load_query.encode_request(claim())).cookie == COOKIE


def test_a_claim_with_a_cookie_is_padded_like_every_request() -> None:
    assert len(load_query.encode_request(claim())) == load_query.REQUEST_SIZE_BYTES


def test_a_request_without_a_cookie_has_no_ck_field() -> None:
    fields = msgpack.unpackb(load_query.encode_request(claim(b"")), raw=False)
    assert load_query.COOKIE_FIELD not in fields


def test_a_replys_cookie_round_trips() -> None:
    reply = load_query.Reply(record=SAMPLE_RECORD, nonce=NONCE, timestamp=NOW, cookie=COOKIE)
    assert load_query.decode_reply(load_query.encode_reply(reply)) == reply


def test_the_cookie_is_only_an_added_field_for_readers_that_predate_it() -> None:
    plain = load_query.Reply(record=SAMPLE_RECORD, nonce=NONCE, timestamp=NOW)
    with_cookie: dict[str, Any] = msgpack.unpackb(
        load_query.encode_reply(load_query.Reply(SAMPLE_RECORD, NONCE, NOW, cookie=COOKIE)), raw=False
    )
    assert with_cookie.pop(load_query.COOKIE_FIELD) == COOKIE
    assert with_cookie == msgpack.unpackb(load_query.encode_reply(plain), raw=False)


@pytest.mark.parametrize("value", ["text", 5, True, bytes(load_query.COOKIE_MAX_BYTES + 1)])
def test_a_malformed_cookie_in_a_request_is_a_decode_error(value: Any) -> None:
    fields = msgpack.unpackb(load_query.encode_request(claim()), raw=False)
    fields[load_query.COOKIE_FIELD] = value
    with pytest.raises(DecodeError, match="'ck'"):
        load_query.decode_request(packed(fields))


@pytest.mark.parametrize("value", ["text", 5, bytes(load_query.COOKIE_MAX_BYTES + 1)])
def test_a_malformed_cookie_in_a_reply_is_a_decode_error(value: Any) -> None:
    reply = load_query.Reply(SAMPLE_RECORD, NONCE, NOW, cookie=COOKIE)
    fields = msgpack.unpackb(load_query.encode_reply(reply), raw=False)
    fields[load_query.COOKIE_FIELD] = value
    with pytest.raises(DecodeError, match="'ck'"):
        load_query.decode_reply(packed(fields))


def test_a_cookie_longer_than_the_bound_is_refused_on_construction() -> None:
    with pytest.raises(ValueError):
        claim(bytes(load_query.COOKIE_MAX_BYTES + 1))


def test_reply_to_carries_the_cookie() -> None:
    datagram = load_query.reply_to(claim(), load_query.REQUEST_SIZE_BYTES, SAMPLE_RECORD, NOW, cookie=COOKIE)
    assert datagram is not None and load_query.decode_reply(datagram).cookie == COOKIE


def test_reply_to_leaves_out_the_cookie_rather_than_the_reply() -> None:
    bare = load_query.encode_reply(load_query.Reply(SAMPLE_RECORD, NONCE, NOW))
    datagram = load_query.reply_to(claim(), len(bare), SAMPLE_RECORD, NOW, cookie=COOKIE)
    assert datagram == bare


def test_the_signature_does_not_cover_the_cookie() -> None:
    # Clients that predate cookies check the same signed message, with the cookie beside it.
    signed = signed_reply.reply_to(
        claim(), load_query.REQUEST_SIZE_BYTES, SAMPLE_RECORD, NOW, key=KEY, cookie=COOKIE
    )
    assert signed is not None
    decoded = signed_reply.decode(signed)
    assert decoded.reply.cookie == COOKIE and signed_reply.verify_signature(decoded, KEY.public_key())


def test_a_signed_reply_keeps_its_certificate_before_its_cookie() -> None:
    certificate = bytes(ssh_cert.MAX_CERT_BYTES)
    reply = load_query.Reply(SAMPLE_RECORD, NONCE, NOW)
    with_cert = signed_reply.encode_signed(SignedReply(reply, bytes(64), certificate))
    datagram = signed_reply.reply_to(
        claim(), len(with_cert), SAMPLE_RECORD, NOW, key=KEY, certificate=certificate, cookie=COOKIE
    )
    assert datagram is not None
    decoded = signed_reply.decode(datagram)
    assert decoded.certificate == certificate and decoded.reply.cookie == b""


@given(record=extreme_records())
@PROPERTY
def test_the_largest_signed_reply_with_a_cookie_fits_the_ordinary_padding(record: ServerRecord) -> None:
    reply = load_query.Reply(
        record=record, nonce=bytes(load_query.NONCE_MAX_BYTES), timestamp=2.0**40 + 0.5, cookie=COOKIE
    )
    assert len(signed_reply.encode(reply, KEY)) <= load_query.REQUEST_SIZE_BYTES
