"""OpenSSH keys as values: public key lines and blobs, the SHA256 fingerprint, the host's own
private key file, and the check of an SSH signature made by a public key.

The formats are OpenSSH's: a public key line is "type base64-blob [comment]" (sshd(8),
AUTHORIZED_KEYS and SSH_KNOWN_HOSTS FILE FORMAT); a blob is the RFC 4253 section 6.6 encoding;
a private key file is "openssh-key-v1" (OpenSSH's PROTOCOL.key). ltsp-mesh signs only with
Ed25519, so only an unencrypted Ed25519 private key is loaded; signatures are checked for the
key types a certificate authority may use (CA keys sign host certificates).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ltsp_mesh.core.codec.ssh_wire import Reader, string
from ltsp_mesh.errors import ConfigError, DecodeError, TrustError

ED25519: Final = "ssh-ed25519"
ED25519_KEY_BYTES: Final = 32
ED25519_SIGNATURE_BYTES: Final = 64
_ECDSA_CURVES: Final[dict[str, tuple[ec.EllipticCurve, hashes.HashAlgorithm]]] = {
    # RFC 5656 section 6.2.1: the hash follows the curve size.
    "nistp256": (ec.SECP256R1(), hashes.SHA256()),
    "nistp384": (ec.SECP384R1(), hashes.SHA384()),
    "nistp521": (ec.SECP521R1(), hashes.SHA512()),
}
# RFC 8332: RSA signatures with SHA-2. The SHA-1 "ssh-rsa" signature is refused, as OpenSSH
# 8.8 and later refuse it by default (its CASignatureAlgorithms no longer lists it).
_RSA_SIGNATURES: Final[dict[str, hashes.HashAlgorithm]] = {
    "rsa-sha2-256": hashes.SHA256(),
    "rsa-sha2-512": hashes.SHA512(),
}
# Plain (not certificate) key types whose blobs this module can take apart. Others are refused
# as OpenSSH refuses a type it does not know.
_PLAIN_TYPES: Final = frozenset(
    {ED25519, "ssh-rsa", "ssh-dss", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"}
    | {f"ecdsa-sha2-{curve}" for curve in _ECDSA_CURVES}
)
MAX_KEY_LINE_CHARS: Final = 16 * 1024  # OpenSSH's SSH_MAX_PUBKEY_BYTES
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_FIELD_SEPARATOR = re.compile(r"[ \t]+")
_PRIVATE_BEGIN: Final = "-----BEGIN OPENSSH PRIVATE KEY-----"
_PRIVATE_END: Final = "-----END OPENSSH PRIVATE KEY-----"
_PRIVATE_MAGIC: Final = b"openssh-key-v1\x00"


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An SSH public key: its type name and RFC 4253 blob; the comment is not part of its identity."""

    key_type: str
    blob: bytes
    comment: str = field(default="", compare=False)

    @property
    def fingerprint(self) -> str:
        """The "SHA256:..." fingerprint `ssh-keygen -l` prints."""
        return fingerprint_blob(self.blob)

    @property
    def is_ed25519(self) -> bool:
        """True for an Ed25519 key, the only type ltsp-mesh servers sign with."""
        return self.key_type == ED25519

    def to_line(self) -> str:
        """The key as "type base64" (no comment), as known_hosts and .pub files hold it."""
        return f"{self.key_type} {base64.b64encode(self.blob).decode()}"

    def ed25519(self) -> ed25519.Ed25519PublicKey:
        """The key for signature checks; ValueError (misuse) when it is not an Ed25519 key."""
        if not self.is_ed25519:
            raise ValueError(f"{self.key_type} key is not an Ed25519 key")
        return ed25519.Ed25519PublicKey.from_public_bytes(self.blob[-ED25519_KEY_BYTES:])


def fingerprint_blob(blob: bytes) -> str:
    """The "SHA256:..." fingerprint of a key blob: unpadded base64 of its SHA-256."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def fingerprint(public_key_line: str) -> str:
    """Return "SHA256:..." for an OpenSSH public key line ("ssh-ed25519 AAAA... comment").

    Lenient on purpose, as `ssh-keygen -l` is for a .pub file: any base64 blob is hashed,
    whatever its type; `parse_public_key_line` is the strict reader.
    """
    parts = public_key_line.split()
    if len(parts) < 2:
        raise DecodeError("public key line has no key type and key")
    return fingerprint_blob(b64decode(parts[1], "public key"))


def b64decode(text: str, what: str) -> bytes:
    """The bytes of strict (padded, no whitespace) base64 `text`; DecodeError naming `what`."""
    if not _BASE64.fullmatch(text):
        raise DecodeError(f"{what} is not base64")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"{what} is not base64: {exc}") from exc


def ed25519_public_key(key: ed25519.Ed25519PublicKey, comment: str = "") -> PublicKey:
    """The SSH public key value of an Ed25519 key."""
    return ed25519_public_key_from_bytes(_raw(key), comment)


def _raw(key: ed25519.Ed25519PublicKey) -> bytes:
    # public_bytes_raw() needs cryptography 40; Debian 12 has 38, which has this spelling only.
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def ed25519_public_key_from_bytes(raw: bytes, comment: str = "") -> PublicKey:
    """The SSH public key value of 32 raw Ed25519 public key bytes."""
    if len(raw) != ED25519_KEY_BYTES:
        raise ValueError(f"an Ed25519 public key is {ED25519_KEY_BYTES} bytes, not {len(raw)}")
    return PublicKey(ED25519, string(ED25519.encode()) + string(raw), comment)


def decode_public_blob(blob: bytes) -> PublicKey:
    """Return the plain public key in an RFC 4253 blob; DecodeError if it is not one."""
    reader = Reader(blob, "public key")
    key_type = reader.text("key type")
    if key_type not in _PLAIN_TYPES:
        raise DecodeError(f"public key type {key_type[:60]!r} is not a plain key type this reads")
    if key_type in (ED25519, "sk-ssh-ed25519@openssh.com"):
        if len(reader.string("Ed25519 key")) != ED25519_KEY_BYTES:
            raise DecodeError(f"{key_type} key is not {ED25519_KEY_BYTES} bytes")
    elif key_type.startswith(("ecdsa-sha2-", "sk-ecdsa-sha2-")):
        curve = reader.text("curve name")
        if key_type.removeprefix("sk-").removesuffix("@openssh.com") != f"ecdsa-sha2-{curve}":
            raise DecodeError(f"{key_type} key names curve {curve[:20]!r}")
        reader.string("curve point")
    else:
        for name in ("e", "n") if key_type == "ssh-rsa" else ("p", "q", "g", "y"):
            reader.mpint(name)
    if key_type.startswith("sk-"):
        reader.string("application")
    reader.done()
    return PublicKey(key_type, blob)


def parse_public_key_line(line: str) -> PublicKey:
    """Return the key on a "type base64 [comment]" line; DecodeError if the line is not one."""
    if len(line) > MAX_KEY_LINE_CHARS:
        raise DecodeError(f"public key line is longer than {MAX_KEY_LINE_CHARS} characters")
    # OpenSSH separates the fields with spaces and tabs only (sshkey_read).
    parts = _FIELD_SEPARATOR.split(line.strip(" \t\r\n"), maxsplit=2)
    if len(parts) < 2:
        raise DecodeError("public key line has no key type and key")
    key = decode_public_blob(b64decode(parts[1], f"{parts[0][:40]} key"))
    if key.key_type != parts[0]:
        raise DecodeError(f"public key line says {parts[0][:40]!r} but its key is {key.key_type!r}")
    return PublicKey(key.key_type, key.blob, parts[2] if len(parts) == 3 else "")


def load_private_key(text: str) -> ed25519.Ed25519PrivateKey:
    """Return the Ed25519 key in an OpenSSH private key file ("openssh-key-v1").

    Raises ConfigError naming the problem for anything else: another key type, a key
    encrypted with a passphrase (the daemon cannot ask for one), a PEM or PuTTY file.
    """
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) < 3 or lines[0] != _PRIVATE_BEGIN or lines[-1] != _PRIVATE_END:
        raise ConfigError(f"host key is not an OpenSSH private key file (no {_PRIVATE_BEGIN} ... block)")
    try:
        data = b64decode("".join(lines[1:-1]), "private key file")
        return _decode_private(data)
    except DecodeError as exc:
        raise ConfigError(f"host key file is damaged: {exc}") from exc


def _decode_private(data: bytes) -> ed25519.Ed25519PrivateKey:
    if not data.startswith(_PRIVATE_MAGIC):
        raise ConfigError("host key file is not in the openssh-key-v1 format")
    reader = Reader(data[len(_PRIVATE_MAGIC) :], "private key file")
    cipher, kdf = reader.text("cipher name"), reader.text("kdf name")
    reader.string("kdf options")
    if cipher != "none" or kdf != "none":
        raise ConfigError(
            f"host key is encrypted ({cipher[:30]}, {kdf[:30]}): the daemon cannot ask for a passphrase; "
            "use the unencrypted host key sshd uses"
        )
    if (count := reader.uint32("key count")) != 1:
        raise ConfigError(f"host key file holds {count} keys; it must hold exactly one")
    public = decode_public_blob(reader.string("public key"))
    if not public.is_ed25519:
        raise ConfigError(f"host key is a {public.key_type} key; ltsp-mesh signs with Ed25519 only")
    private = Reader(reader.string("private section"), "private key file")
    reader.done()
    if private.uint32("check") != private.uint32("check"):
        raise ConfigError("host key file's check values differ: it is damaged or encrypted")
    if (key_type := private.text("key type")) != ED25519:
        raise ConfigError(f"host key's private part is a {key_type[:40]} key, not {ED25519}")
    pk = private.string("Ed25519 public key")
    secret = private.string("Ed25519 private key")
    private.string("comment")
    padding_bytes = private.rest()
    # PROTOCOL.key: the list is padded with 1, 2, 3, ... to the cipher block size (8 for none).
    if padding_bytes != bytes(range(1, len(padding_bytes) + 1)) or len(padding_bytes) >= 8:
        raise ConfigError("host key file has bad padding")
    if len(secret) != 2 * ED25519_KEY_BYTES or secret[ED25519_KEY_BYTES:] != pk or public.blob[-32:] != pk:
        raise ConfigError("host key file's private and public halves do not match")
    key = ed25519.Ed25519PrivateKey.from_private_bytes(secret[:ED25519_KEY_BYTES])
    if _raw(key.public_key()) != pk:
        raise ConfigError("host key file's private key does not produce its public key")
    return key


def ed25519_signature_blob(signature: bytes) -> bytes:
    """The SSH signature encoding of a raw Ed25519 signature (RFC 8709 section 6)."""
    return string(ED25519.encode()) + string(signature)


def verify_signature(key: PublicKey, signature_blob: bytes, data: bytes) -> bool:
    """True when `signature_blob` (SSH encoding) is `key`'s signature of `data`.

    Raises DecodeError for a malformed signature blob and TrustError for a key or signature
    algorithm this does not check: Ed25519, ECDSA on NIST P-256/384/521 and RSA with SHA-2
    are checked; DSA, SHA-1 RSA ("ssh-rsa") and security-key (sk-) types are refused.
    """
    reader = Reader(signature_blob, "signature")
    algorithm = reader.text("algorithm")
    signature = reader.string("signature")
    reader.done()
    params = Reader(key.blob, "public key")
    params.string("key type")
    try:
        if key.key_type == ED25519 and algorithm == ED25519:
            if len(signature) != ED25519_SIGNATURE_BYTES:
                return False
            key.ed25519().verify(signature, data)
        elif key.key_type.startswith("ecdsa-sha2-") and algorithm == key.key_type:
            curve_name = params.text("curve name")
            if curve_name not in _ECDSA_CURVES:
                raise TrustError(f"ECDSA curve {curve_name[:20]!r} is not supported")
            curve, digest = _ECDSA_CURVES[curve_name]
            point = params.string("curve point")
            numbers = Reader(signature, "ECDSA signature")
            r, s = numbers.mpint("r"), numbers.mpint("s")
            numbers.done()
            if r <= 0 or s <= 0:
                return False
            ecdsa_key = ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
            ecdsa_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(digest))
        elif key.key_type == "ssh-rsa" and algorithm in _RSA_SIGNATURES:
            e, n = params.mpint("e"), params.mpint("n")
            if e < 3 or n < 2**1023:  # OpenSSH's SSH_RSA_MINIMUM_MODULUS_SIZE is 1024 bits
                raise TrustError(f"RSA key of {n.bit_length()} bits is too small to trust")
            rsa_key = rsa.RSAPublicNumbers(e, n).public_key()
            rsa_key.verify(signature, data, padding.PKCS1v15(), _RSA_SIGNATURES[algorithm])
        else:
            raise TrustError(f"a {algorithm[:40]} signature by a {key.key_type} key is not supported")
    except InvalidSignature:
        return False
    except ValueError as exc:  # a point off the curve, an impossible key: no valid signature
        raise DecodeError(f"{key.key_type} key cannot be used: {exc}") from exc
    return True
