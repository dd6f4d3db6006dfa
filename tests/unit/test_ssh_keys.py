"""core/trust/ssh_keys.py and core/codec/ssh_wire.py: OpenSSH keys, checked against ssh-keygen's own files."""

from __future__ import annotations

import base64
import subprocess

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.codec import ssh_wire
from ltsp_mesh.core.trust import signing, ssh_keys
from ltsp_mesh.errors import ConfigError, DecodeError, TrustError

from .openssh import OpenSSH, openssh
from .strategies import PROPERTY

__all__ = ["openssh"]


def test_parse_public_key_line_reads_ssh_keygen_pub_file(openssh: OpenSSH) -> None:
    pair = openssh.key("host")
    key = ssh_keys.parse_public_key_line(pair.public_line)
    assert (key.key_type, key.comment, key.is_ed25519) == ("ssh-ed25519", "host@test", True)
    assert key.to_line() == " ".join(pair.public_line.split()[:2])


def test_fingerprint_matches_ssh_keygen_l(openssh: OpenSSH) -> None:
    for name, key_type in (("host", "ed25519"), ("rsa-host", "rsa"), ("ecdsa-host", "ecdsa")):
        pair = openssh.key(name, key_type)
        assert pair.public.fingerprint == openssh.fingerprint(pair) == ssh_keys.fingerprint(pair.public_line)


def test_public_keys_compare_without_their_comments(openssh: OpenSSH) -> None:
    pair = openssh.key("host")
    renamed = pair.public_line.replace("host@test", "another comment")
    assert ssh_keys.parse_public_key_line(renamed) == pair.public


@pytest.mark.parametrize("key_type", ["rsa", "ecdsa", "dsa"])
def test_parse_public_key_line_reads_other_plain_key_types(openssh: OpenSSH, key_type: str) -> None:
    try:
        pair = openssh.key(f"{key_type}-host", key_type)
    except subprocess.CalledProcessError:  # this OpenSSH may no longer make DSA keys
        pytest.skip(f"ssh-keygen cannot make {key_type} keys here")
    assert ssh_keys.parse_public_key_line(pair.public_line).key_type == pair.public_line.split()[0]


def test_parse_public_key_line_refuses_a_type_that_is_not_the_blobs(openssh: OpenSSH) -> None:
    blob = openssh.key("host").public_line.split()[1]
    with pytest.raises(DecodeError, match="says 'ssh-rsa'"):
        ssh_keys.parse_public_key_line(f"ssh-rsa {blob}")


def test_parse_public_key_line_refuses_a_certificate(openssh: OpenSSH) -> None:
    cert = openssh.certify(openssh.key("ca"), openssh.key("host"))
    with pytest.raises(DecodeError, match="not a plain key type"):
        ssh_keys.parse_public_key_line(cert)


@pytest.mark.parametrize(
    "line", ["", "ssh-ed25519", "ssh-ed25519 !!!", "ssh-ed25519 AAAA AAAA", "x " + "A" * 20000]
)
def test_parse_public_key_line_refuses_malformed_lines(line: str) -> None:
    with pytest.raises(DecodeError):
        ssh_keys.parse_public_key_line(line)


def test_load_private_key_reads_ssh_keygen_ed25519_key(openssh: OpenSSH) -> None:
    pair = openssh.key("host")
    key = ssh_keys.load_private_key(pair.private_text)
    assert ssh_keys.ed25519_public_key(key.public_key()) == pair.public


def test_load_private_key_refuses_an_encrypted_key_naming_the_passphrase(openssh: OpenSSH) -> None:
    pair = openssh.key("encrypted", "ed25519", "secret")
    with pytest.raises(ConfigError, match=r"encrypted.*passphrase"):
        ssh_keys.load_private_key(pair.private_text)


def test_load_private_key_refuses_an_rsa_key_naming_its_type(openssh: OpenSSH) -> None:
    with pytest.raises(ConfigError, match="ssh-rsa key; ltsp-mesh signs with Ed25519 only"):
        ssh_keys.load_private_key(openssh.key("rsa-host", "rsa").private_text)


def test_load_private_key_refuses_a_pem_file(openssh: OpenSSH) -> None:
    pair = openssh.key("pem-host", "ecdsa", "", "-m", "PEM")
    with pytest.raises(ConfigError, match="not an OpenSSH private key file"):
        ssh_keys.load_private_key(pair.private_text)


def test_load_private_key_refuses_a_public_key_file(openssh: OpenSSH) -> None:
    with pytest.raises(ConfigError):
        ssh_keys.load_private_key(openssh.key("host").public_line)


def test_load_private_key_refuses_a_key_whose_halves_differ(openssh: OpenSSH) -> None:
    lines = openssh.key("host").private_text.splitlines()
    data = bytearray(base64.b64decode("".join(lines[1:-1])))
    data[-40] ^= 0x01  # inside the private section's copy of the public key
    text = "\n".join([lines[0], base64.b64encode(bytes(data)).decode(), lines[-1]])
    with pytest.raises(ConfigError):
        ssh_keys.load_private_key(text)


@given(text=st.text(max_size=300))
@PROPERTY
def test_load_private_key_raises_only_config_error_on_any_text(text: str) -> None:
    try:
        ssh_keys.load_private_key(text)
    except ConfigError:
        pass


@given(data=st.binary(max_size=300))
@PROPERTY
def test_load_private_key_raises_only_config_error_on_any_armored_bytes(data: bytes) -> None:
    text = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + base64.b64encode(b"openssh-key-v1\x00" + data).decode()
    try:
        ssh_keys.load_private_key(text + "\n-----END OPENSSH PRIVATE KEY-----\n")
    except ConfigError:
        pass


def test_load_private_key_raises_only_config_error_for_any_flipped_bit(openssh: OpenSSH) -> None:
    lines = openssh.key("host").private_text.splitlines()
    data = base64.b64decode("".join(lines[1:-1]))
    loaded = 0
    for bit in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        text = "\n".join([lines[0], base64.b64encode(bytes(flipped)).decode(), lines[-1]])
        try:
            ssh_keys.load_private_key(text)
            loaded += 1  # the check values and the comment are not protected by anything
        except ConfigError:
            pass
    assert loaded < len(data)


@given(line=st.text(max_size=200))
@PROPERTY
def test_parse_public_key_line_raises_only_decode_error(line: str) -> None:
    try:
        ssh_keys.parse_public_key_line(line)
    except DecodeError:
        pass


@given(blob=st.binary(max_size=200))
@PROPERTY
def test_decode_public_blob_raises_only_decode_error(blob: bytes) -> None:
    try:
        ssh_keys.decode_public_blob(blob)
    except DecodeError:
        pass


@given(blob=st.binary(max_size=120), data=st.binary(max_size=40))
@PROPERTY
def test_verify_signature_raises_only_decode_or_trust_error(blob: bytes, data: bytes) -> None:
    key = ssh_keys.ed25519_public_key(ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key())
    try:
        assert not ssh_keys.verify_signature(key, blob, data)
    except (DecodeError, TrustError):
        pass


@pytest.mark.parametrize("name,key_type", [("host", "ed25519"), ("ecdsa-host", "ecdsa"), ("rsa-host", "rsa")])
def test_verify_signature_checks_what_ssh_keygen_signed(openssh: OpenSSH, name: str, key_type: str) -> None:
    pair = openssh.key(name, key_type)
    signature = openssh.sign(pair, "test-namespace", b"message")
    data = signing.sshsig_data("test-namespace", b"message")
    assert ssh_keys.verify_signature(pair.public, signature, data)
    assert not ssh_keys.verify_signature(pair.public, signature, data + b"!")


@pytest.mark.parametrize("curve", ["nistp384", "nistp521"])
def test_verify_signature_checks_the_larger_ecdsa_curves(openssh: OpenSSH, curve: str) -> None:
    bits = curve.removeprefix("nistp")
    pair = openssh.key(f"ecdsa{bits}-host", "ecdsa", "", "-b", bits)
    signature = openssh.sign(pair, "ns", b"m")
    assert ssh_keys.verify_signature(pair.public, signature, signing.sshsig_data("ns", b"m"))


def test_verify_signature_refuses_sha1_rsa_signatures(openssh: OpenSSH) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.public_key().public_numbers()
    blob = ssh_wire.string(b"ssh-rsa") + _mpint(numbers.e) + _mpint(numbers.n)
    key = ssh_keys.decode_public_blob(blob)
    signature = private.sign(b"data", padding.PKCS1v15(), hashes.SHA1())
    with pytest.raises(TrustError, match="ssh-rsa signature"):
        ssh_keys.verify_signature(key, ssh_wire.string(b"ssh-rsa") + ssh_wire.string(signature), b"data")


def test_verify_signature_refuses_a_signature_of_another_algorithm(openssh: OpenSSH) -> None:
    pair = openssh.key("host")
    with pytest.raises(TrustError):
        ssh_keys.verify_signature(
            pair.public, ssh_wire.string(b"rsa-sha2-256") + ssh_wire.string(bytes(64)), b"x"
        )


def _mpint(value: int) -> bytes:
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return ssh_wire.string(raw)


@pytest.mark.parametrize(
    "raw,expected",
    [(b"", 0), (b"\x7f", 127), (b"\x00\x80", 128), (b"\xff", -1), (b"\x80", -128), (b"\x01\x00", 256)],
)
def test_reader_reads_mpints_in_twos_complement(raw: bytes, expected: int) -> None:
    assert ssh_wire.Reader(ssh_wire.string(raw), "test").mpint("m") == expected


@pytest.mark.parametrize("raw", [b"\x00\x01", b"\xff\xff"])
def test_reader_refuses_mpints_with_needless_leading_bytes(raw: bytes) -> None:
    with pytest.raises(DecodeError, match="needless"):
        ssh_wire.Reader(ssh_wire.string(raw), "test").mpint("m")


def test_reader_refuses_a_string_longer_than_its_input() -> None:
    with pytest.raises(DecodeError, match="truncated in its s"):
        ssh_wire.Reader(ssh_wire.uint32(10) + b"abc", "test").string("s")


def test_reader_done_refuses_trailing_bytes() -> None:
    reader = ssh_wire.Reader(ssh_wire.string(b"a") + b"!", "test")
    reader.string("s")
    with pytest.raises(DecodeError, match="1 bytes of trailing data"):
        reader.done()
