"""Signed UDP 377 replies: the reply of core/codec/load_query.py plus two optional msgpack fields.

    sig   bin, 64 bytes: the server host key's Ed25519 signature (signing.REPLY_NAMESPACE) of
          `reply_message(reply)`, which covers every reply field, the client's nonce included
    cert  bin: the server's OpenSSH host certificate (ssh_cert.py), when it has one, so that a
          site with a host CA needs no known_hosts line per server

A reader that does not know them ignores them (load_query.decode_reply reads only its own keys), so
signing changes no existing field. The signature covers the decoded values in a fixed order,
not the datagram's bytes, so the map's key order and integer widths do not matter.

The no-amplification rule still holds: a reply is sent only when it is no larger than the
request. A signed reply without a certificate fits the ordinary 512-byte request
(load_query.REQUEST_SIZE_BYTES); one with a certificate needs CERT_REQUEST_SIZE_BYTES, so a client
pads to that only for a server it must check through a CA (trust.request_size). A server
sends its certificate when it fits, and otherwise the same reply without it, still signed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Final

import msgpack
from cryptography.hazmat.primitives.asymmetric import ed25519

from ltsp_mesh.core.codec import load_query
from ltsp_mesh.core.record import ServerRecord
from ltsp_mesh.core.trust import signing, ssh_keys
from ltsp_mesh.core.trust.ssh_cert import MAX_CERT_BYTES
from ltsp_mesh.errors import DecodeError

SIG_FIELD: Final = "sig"
CERT_FIELD: Final = "cert"
PUBLIC_KEY_FIELD: Final = "pk"
# An Ed25519 public key blob is 51 bytes; room for the others ssh knows, none for abuse.
MAX_PUBLIC_KEY_BYTES: Final = 128
# The padding a client needs for a reply with a certificate: the largest valid record, a
# 32-byte nonce, the signature and a MAX_CERT_BYTES certificate come to 1,368 bytes
# (tests/unit/test_signed_reply.py computes it); 8 bytes of slack, and still under
# load_query.MAX_DATAGRAM_BYTES and one Ethernet frame with its IP and UDP headers.
CERT_REQUEST_SIZE_BYTES: Final = 1376


@dataclass(frozen=True, slots=True)
class SignedReply:
    """A reply with what vouches for it: a signature (b"" when unsigned) and a certificate (b"" when none)."""

    reply: load_query.Reply
    signature: bytes = b""
    certificate: bytes = b""
    # The public host key (SSH wire blob), sent when the request asked for it: the signature,
    # checked with this key, proves the server holds it.
    public_key: bytes = b""

    def __post_init__(self) -> None:
        if self.signature and len(self.signature) != signing.SIGNATURE_BYTES:
            raise ValueError(f"a signature is {signing.SIGNATURE_BYTES} bytes, not {len(self.signature)}")
        if len(self.certificate) > MAX_CERT_BYTES:
            raise ValueError(f"certificate of {len(self.certificate)} bytes is over {MAX_CERT_BYTES}")
        if len(self.public_key) > MAX_PUBLIC_KEY_BYTES:
            raise ValueError(f"public key of {len(self.public_key)} bytes is over {MAX_PUBLIC_KEY_BYTES}")

    @property
    def signed(self) -> bool:
        """True when the reply carries a signature."""
        return bool(self.signature)


def reply_message(reply: load_query.Reply) -> bytes:
    """The canonical bytes a reply signature covers: a msgpack array of the reply's values.

    Numbers that the codec reads as floats are packed as float64 on both ends, so an integer
    load or timestamp on the wire cannot make the two sides disagree.
    """
    record = reply.record
    values = [
        load_query.WIRE_VERSION,
        reply.nonce,
        float(reply.timestamp),
        record.server_id,
        record.cpus,
        float(record.load_per_cpu),
        record.mem_percent,
        record.swapping,
        record.sessions,
        record.pending,
        record.capacity,
        record.state.value,
        record.query_port,
        record.host_key_fp,
    ]
    return bytes(msgpack.packb(values, use_bin_type=True))


def encode(reply: load_query.Reply, key: ed25519.Ed25519PrivateKey, certificate: bytes = b"") -> bytes:
    """The datagram carrying `reply`, signed by `key`, with `certificate` when not empty."""
    signed = SignedReply(reply, signing.sign(key, signing.REPLY_NAMESPACE, reply_message(reply)), certificate)
    return encode_signed(signed)


def encode_signed(signed: SignedReply) -> bytes:
    """The datagram carrying an already signed reply (or an unsigned one, without `sig`)."""
    fields: dict[str, Any] = msgpack.unpackb(load_query.encode_reply(signed.reply), raw=False)
    if signed.signature:
        fields[SIG_FIELD] = signed.signature
    if signed.certificate:
        fields[CERT_FIELD] = signed.certificate
    if signed.public_key:
        fields[PUBLIC_KEY_FIELD] = signed.public_key
    return bytes(msgpack.packb(fields, use_bin_type=True))


def _extra_fields(data: bytes) -> tuple[Any, Any, Any]:
    obj = load_query.unpack_map(data, "reply")
    return obj.get(SIG_FIELD, b""), obj.get(CERT_FIELD, b""), obj.get(PUBLIC_KEY_FIELD, b"")


def decode(data: bytes) -> SignedReply:
    """The reply in a datagram with its signature and certificate; DecodeError if malformed.

    An unsigned reply decodes with an empty signature: whether to accept it is trust.py's call.
    """
    reply = load_query.decode_reply(data)
    signature, certificate, public_key = _extra_fields(data)
    if not isinstance(signature, bytes) or len(signature) not in (0, signing.SIGNATURE_BYTES):
        raise DecodeError(f"reply field {SIG_FIELD!r} is not {signing.SIGNATURE_BYTES} bytes")
    if not isinstance(certificate, bytes) or len(certificate) > MAX_CERT_BYTES:
        raise DecodeError(
            f"reply field {CERT_FIELD!r} is not a certificate of at most {MAX_CERT_BYTES} bytes"
        )
    if not isinstance(public_key, bytes) or len(public_key) > MAX_PUBLIC_KEY_BYTES:
        raise DecodeError(
            f"reply field {PUBLIC_KEY_FIELD!r} is not a public key of at most {MAX_PUBLIC_KEY_BYTES} bytes"
        )
    return SignedReply(reply, signature, certificate, public_key)


def reply_to(
    request: load_query.Request,
    request_size: int,
    record: ServerRecord,
    now: float,
    *,
    key: ed25519.Ed25519PrivateKey,
    certificate: bytes = b"",
    cookie: bytes = b"",
) -> bytes | None:
    """The signed reply to `request` (which arrived in `request_size` bytes), or None.

    With the certificate and the claim `cookie` when they fit under the no-amplification rule,
    else without the cookie, then without the certificate (a client that cannot check the
    signature cannot use the cookie either); None when even the bare reply would be larger than
    the request. The public key goes along when the request asks for it (`want_key`). The
    signature does not cover the cookie: it is the server's own proof, checked only by itself.
    """
    reply = load_query.Reply(record=record, nonce=request.nonce, timestamp=now)
    signature = signing.sign(key, signing.REPLY_NAMESPACE, reply_message(reply))
    public_key = ssh_keys.ed25519_public_key(key.public_key()).blob if request.want_key else b""
    for cert in (certificate, b"") if certificate else (b"",):
        for with_cookie in (cookie, b"") if cookie else (b"",):
            sent = dataclasses.replace(reply, cookie=with_cookie)
            datagram = encode_signed(SignedReply(sent, signature, cert, public_key))
            if len(datagram) <= request_size:
                return datagram
    return None


def verify_signature(signed: SignedReply, key: ed25519.Ed25519PublicKey) -> bool:
    """True when `signed` carries `key`'s signature of its reply."""
    return bool(signed.signature) and signing.verify(
        key, signing.REPLY_NAMESPACE, reply_message(signed.reply), signed.signature
    )
