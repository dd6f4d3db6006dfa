"""core/trust/signing.py: SSHSIG-framed Ed25519 signatures and the canonical bytes of a signed TXT."""

from __future__ import annotations

import base64
import textwrap

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.codec import txt
from ltsp_mesh.core.codec.ssh_wire import string, uint32
from ltsp_mesh.core.record import ServerRecord
from ltsp_mesh.core.trust import signing, ssh_keys
from ltsp_mesh.errors import DecodeError

from .openssh import OpenSSH, openssh
from .strategies import PROPERTY, extreme_records, records

__all__ = ["openssh"]

KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
INSTANCE = "app1 [52:54:00:12:34:56]._ltsp._tcp.local."
HOST = "app1-525400123456.local."
NOW = 1_720_000_000.75
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
}


def signed_txt(properties: txt.TxtProperties = PROPERTIES, **names: str) -> txt.TxtProperties:
    return signing.sign_txt(
        properties,
        instance=names.get("instance", INSTANCE),
        host=names.get("host", HOST),
        ssh_port=22,
        key=KEY,
        now=NOW,
    )


def txt_verifies(
    properties: txt.TxtProperties, instance: str = INSTANCE, host: str = HOST, port: int = 22
) -> bool:
    signature = signing.read_txt_signature(properties)
    assert signature is not None
    message = signing.txt_message(properties, instance=instance, host=host, ssh_port=port)
    return signing.verify(KEY.public_key(), signing.TXT_NAMESPACE, message, signature.signature)


def armored(public: ssh_keys.PublicKey, namespace: str, signature: bytes) -> str:
    """The armored SSHSIG file (PROTOCOL.sshsig) that carries a raw Ed25519 signature."""
    blob = (
        b"SSHSIG"
        + uint32(1)
        + string(public.blob)
        + string(namespace.encode())
        + string(b"")
        + string(b"sha512")
        + string(ssh_keys.ed25519_signature_blob(signature))
    )
    body = "\n".join(textwrap.wrap(base64.b64encode(blob).decode(), 76))
    return f"-----BEGIN SSH SIGNATURE-----\n{body}\n-----END SSH SIGNATURE-----\n"


def test_ssh_keygen_accepts_our_signature_in_its_namespace_only(openssh: OpenSSH) -> None:
    pair = openssh.key("signer")
    key = ssh_keys.load_private_key(pair.private_text)
    signature = signing.sign(key, signing.TXT_NAMESPACE, b"announced")
    sig_file = armored(pair.public, signing.TXT_NAMESPACE, signature)
    assert openssh.check_novalidate(sig_file, signing.TXT_NAMESPACE, b"announced")
    assert not openssh.check_novalidate(sig_file, signing.TXT_NAMESPACE, b"announcee")
    assert not openssh.check_novalidate(
        armored(pair.public, signing.REPLY_NAMESPACE, signature), signing.REPLY_NAMESPACE, b"announced"
    )


def test_verify_accepts_what_ssh_keygen_signed(openssh: OpenSSH) -> None:
    pair = openssh.key("signer")
    blob = openssh.sign(pair, signing.REPLY_NAMESPACE, b"a reply")
    raw = blob[-signing.SIGNATURE_BYTES :]
    assert signing.verify(pair.public.ed25519(), signing.REPLY_NAMESPACE, b"a reply", raw)
    assert not signing.verify(pair.public.ed25519(), signing.TXT_NAMESPACE, b"a reply", raw)


@given(message=st.binary(max_size=300))
@PROPERTY
def test_sign_then_verify_round_trips(message: bytes) -> None:
    signature = signing.sign(KEY, signing.REPLY_NAMESPACE, message)
    assert signing.verify(KEY.public_key(), signing.REPLY_NAMESPACE, message, signature)
    assert not signing.verify(OTHER.public_key(), signing.REPLY_NAMESPACE, message, signature)


@given(message=st.binary(min_size=1, max_size=100), data=st.data())
@PROPERTY
def test_any_single_bit_change_to_a_signed_message_fails(message: bytes, data: st.DataObject) -> None:
    signature = signing.sign(KEY, signing.TXT_NAMESPACE, message)
    bit = data.draw(st.integers(0, len(message) * 8 - 1))
    changed = bytearray(message)
    changed[bit // 8] ^= 1 << (bit % 8)
    assert not signing.verify(KEY.public_key(), signing.TXT_NAMESPACE, bytes(changed), signature)


def test_verify_refuses_a_signature_of_the_wrong_length() -> None:
    assert not signing.verify(KEY.public_key(), signing.TXT_NAMESPACE, b"m", bytes(63))


def test_sshsig_data_refuses_an_empty_namespace() -> None:
    with pytest.raises(ValueError):
        signing.sshsig_data("", b"m")


def test_sign_txt_adds_ts_then_sig_last_and_keeps_the_version_first() -> None:
    signed = signed_txt()
    assert next(iter(signed)) == b"v"
    assert list(signed)[-2:] == [b"ts", b"sig"]
    assert signed[b"ts"] == b"1720000000"
    assert len(signed[b"sig"] or b"") == signing.SIG_CHARS


def test_sign_txt_verifies_under_the_names_it_was_signed_for() -> None:
    signed = signed_txt()
    assert txt_verifies(signed)
    assert txt_verifies(
        signed, instance=INSTANCE.upper().rstrip("."), host=HOST.upper()
    )  # DNS names ignore case


@pytest.mark.parametrize(
    "change",
    [
        {"instance": "rogue [52:54:00:99:99:99]._ltsp._tcp.local."},
        {"host": "rogue-525400999999.local."},
        {"port": 2222},
    ],
)
def test_a_signed_txt_does_not_verify_under_another_name_or_port(change: dict[str, object]) -> None:
    assert not txt_verifies(signed_txt(), **change)  # type: ignore[arg-type]


def test_sign_txt_replaces_an_old_ts_and_sig() -> None:
    again = signing.sign_txt(signed_txt(), instance=INSTANCE, host=HOST, ssh_port=22, key=KEY, now=NOW + 300)
    assert again[b"ts"] == b"1720000300" and txt_verifies(again)
    assert list(again).count(b"sig") == 1


@given(record=records())
@PROPERTY
def test_a_signed_txt_still_decodes_to_its_record(record: ServerRecord) -> None:
    signed = signed_txt(txt.encode(record))
    assert txt.decode(txt.decode_rdata(txt.encode_rdata(signed))) == record


@given(record=extreme_records())
@PROPERTY
def test_the_largest_signed_txt_fits_the_txt_limit(record: ServerRecord) -> None:
    far_future = signing.sign_txt(
        txt.encode(record),
        instance="x" * 63 + "._ltsp._tcp.local.",
        host=HOST,
        ssh_port=65535,
        key=KEY,
        now=9_999_999_999,
    )
    assert len(txt.encode_rdata(far_future)) <= txt.MAX_TXT_BYTES


def test_sign_txt_refuses_a_record_over_the_limit() -> None:
    with pytest.raises(ValueError, match="over the 400-byte limit"):
        signed_txt({**PROPERTIES, b"x": b"y" * 200, b"z": b"y" * 100})


def test_txt_message_ignores_key_order_and_key_case() -> None:
    shuffled = dict(reversed(list(PROPERTIES.items())))
    shouted = {k.upper(): v for k, v in PROPERTIES.items()}
    messages = {
        signing.txt_message(p, instance=INSTANCE, host=HOST, ssh_port=22)
        for p in (PROPERTIES, shuffled, shouted)
    }
    assert len(messages) == 1


def test_txt_message_tells_a_bare_key_from_an_empty_value() -> None:
    bare = signing.txt_message({b"k": None}, instance=INSTANCE, host=HOST, ssh_port=22)
    empty = signing.txt_message({b"k": b""}, instance=INSTANCE, host=HOST, ssh_port=22)
    assert bare != empty


def test_txt_message_leaves_out_sig_but_covers_ts() -> None:
    base = signing.txt_message(PROPERTIES, instance=INSTANCE, host=HOST, ssh_port=22)
    assert (
        signing.txt_message({**PROPERTIES, b"sig": b"x"}, instance=INSTANCE, host=HOST, ssh_port=22) == base
    )
    assert signing.txt_message({**PROPERTIES, b"ts": b"1"}, instance=INSTANCE, host=HOST, ssh_port=22) != base


def test_txt_message_keeps_the_first_of_two_keys_that_differ_in_case() -> None:
    # txt.decode_rdata keeps the first as well (RFC 6763 section 6.4), so both ends agree.
    first = signing.txt_message({b"ses": b"1", b"SES": b"99"}, instance=INSTANCE, host=HOST, ssh_port=22)
    assert first == signing.txt_message({b"ses": b"1"}, instance=INSTANCE, host=HOST, ssh_port=22)


def test_read_txt_signature_is_none_for_an_unsigned_txt() -> None:
    assert signing.read_txt_signature(PROPERTIES) is None
    assert signing.read_txt_signature({**PROPERTIES, b"ts": b"1"}) is None


@pytest.mark.parametrize(
    "change,problem",
    [
        ({b"ts": None}, "'ts'"),
        ({b"ts": b"01"}, "'ts'"),
        ({b"ts": b"12345678901"}, "'ts'"),
        ({b"sig": None}, "'sig'"),
        ({b"sig": b"A" * 85}, "'sig'"),
        ({b"sig": b"A" * 86 + b"=="}, "'sig'"),
        ({b"sig": b"A" * 85 + b"B"}, "canonical"),
        ({b"sig": b"A" * 85 + b"-"}, "'sig'"),
    ],
)
def test_read_txt_signature_refuses_malformed_values(change: txt.TxtProperties, problem: str) -> None:
    with pytest.raises(DecodeError, match=problem):
        signing.read_txt_signature({**signed_txt(), **change})


def test_a_changed_figure_in_a_signed_txt_fails() -> None:
    assert not txt_verifies({**signed_txt(), b"load": b"0.01"})
    assert not txt_verifies({**signed_txt(), b"extra": b"1"})


@given(data=st.data())
@PROPERTY
def test_any_single_bit_change_to_a_signed_txt_fails_or_means_the_same(data: st.DataObject) -> None:
    rdata = txt.encode_rdata(signed_txt())
    bit = data.draw(st.integers(0, len(rdata) * 8 - 1))
    changed = bytearray(rdata)
    changed[bit // 8] ^= 1 << (bit % 8)
    try:
        properties = txt.decode_rdata(bytes(changed))
        signature = signing.read_txt_signature(properties)
    except DecodeError:
        return
    if signature is None:
        return
    message = signing.txt_message(properties, instance=INSTANCE, host=HOST, ssh_port=22)
    if signing.verify(KEY.public_key(), signing.TXT_NAMESPACE, message, signature.signature):
        # Only a change that RFC 6763 says means nothing may verify: a key's letter case.
        original = txt.decode_rdata(rdata)
        assert {k.lower(): v for k, v in properties.items()} == original
