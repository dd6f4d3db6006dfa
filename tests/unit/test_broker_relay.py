"""core/broker/relay.py: the claim a broker relays for its client, on the wire."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.broker import relay
from ltsp_mesh.core.codec import load_query
from ltsp_mesh.errors import DecodeError

MEMBER_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
CLIENT = "10.0.0.200"
NONCE = bytes(range(16))
WALL = 1_720_000_000.0
COOKIE = bytes(range(16))


def relayed(client: str = CLIENT, cookie: bytes = b"") -> bytes:
    return relay.encode(client, NONCE, WALL, key=MEMBER_KEY, cookie=cookie)


def test_a_relayed_claim_is_padded_like_every_request() -> None:
    assert len(relayed()) == load_query.REQUEST_SIZE_BYTES


def test_an_old_server_reads_a_relayed_claim_as_a_plain_claim() -> None:
    request = load_query.decode_request(relayed())
    assert request.op is load_query.Op.CLAIM and request.client == CLIENT


def test_a_relayed_claim_carries_the_brokers_cookie() -> None:
    datagram = relayed(cookie=COOKIE)
    assert load_query.decode_request(datagram).cookie == COOKIE
    assert len(datagram) == load_query.REQUEST_SIZE_BYTES


def test_the_cookie_is_outside_the_signature() -> None:
    # Servers that predate cookies check the same signed message.
    with_cookie = relay.decode(relayed(cookie=COOKIE), load_query.decode_request(relayed(cookie=COOKIE)))
    without = relay.decode(relayed(), load_query.decode_request(relayed()))
    assert with_cookie is not None and without is not None
    assert with_cookie.signature == without.signature


def test_a_plain_claim_relays_nothing() -> None:
    plain = load_query.encode_request(load_query.Request(load_query.Op.CLAIM, NONCE))
    assert relay.decode(plain, load_query.decode_request(plain)) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rts", "soon"),
        ("rts", True),
        ("rsig", "abc"),
        ("rsig", b"x" * 10),
        ("rcert", 5),
        ("rts", float("nan")),
    ],
)
def test_malformed_relay_fields_are_a_decode_error(field: str, value: Any) -> None:
    fields: dict[str, Any] = msgpack.unpackb(relayed(), raw=False)
    fields[field] = value
    data = msgpack.packb(fields)
    with pytest.raises(DecodeError):
        relay.decode(data, load_query.decode_request(data))


@given(st.binary(max_size=600))
def test_any_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    try:
        request = load_query.decode_request(data)
        relay.decode(data, request)
    except DecodeError:
        pass
