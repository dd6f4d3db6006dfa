"""Signatures by the server's SSH host key, and the canonical bytes of a signed TXT record.

A server signs with its own Ed25519 host key, so trust needs no new secret. The host key also
signs SSH key exchanges, so a signature made here must never be mistaken for one of those, or
for a signature of another ltsp-mesh message: every message is wrapped in OpenSSH's SSHSIG
structure (PROTOCOL.sshsig section 3), whose "SSHSIG" preamble keeps it apart from SSH
authentication and whose namespace keeps TXT and reply signatures apart. The raw Ed25519
signature of that structure is what travels; `ssh-keygen -Y check-novalidate` can check one.

The TXT signature covers the instance name and the mDNS host name (from the PTR and SRV
records, which the verifier has), the SSH port (SRV), and every TXT key but `sig`, `ts`
included, in a canonical order, so a captured TXT cannot be replayed under another name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from ltsp_mesh.core.codec import txt
from ltsp_mesh.core.codec.ssh_wire import string, uint32
from ltsp_mesh.errors import DecodeError

TXT_NAMESPACE: Final = "ltsp-mesh-txt-v1"
REPLY_NAMESPACE: Final = "ltsp-mesh-reply-v1"
SIGNATURE_BYTES: Final = 64
TS_KEY: Final = b"ts"
SIG_KEY: Final = b"sig"
# 64 bytes are 86 base64 characters without padding; the TXT limit of 400 bytes leaves room
# for this and `ts` beside the largest record txt.encode can produce (about 230 bytes).
SIG_CHARS: Final = 86
# Ten digits of unix seconds last until the year 2286; the TXT codec reads no more.
_TS = re.compile(rb"0|[1-9][0-9]{0,9}")
_SIG = re.compile(rb"[A-Za-z0-9+/]{86}")
_SSHSIG_HASH: Final = "sha512"


def sshsig_data(namespace: str, message: bytes) -> bytes:
    """The bytes actually signed for `message` in `namespace` (PROTOCOL.sshsig section 3)."""
    if not namespace:
        raise ValueError("an SSHSIG namespace must not be empty")
    return (
        b"SSHSIG"
        + string(namespace.encode())
        + string(b"")  # reserved
        + string(_SSHSIG_HASH.encode())
        + string(hashlib.sha512(message).digest())
    )


def sign(key: ed25519.Ed25519PrivateKey, namespace: str, message: bytes) -> bytes:
    """The 64-byte Ed25519 signature of `message` in `namespace`."""
    return key.sign(sshsig_data(namespace, message))


def verify(key: ed25519.Ed25519PublicKey, namespace: str, message: bytes, signature: bytes) -> bool:
    """True when `signature` is `key`'s signature of `message` in `namespace`."""
    if len(signature) != SIGNATURE_BYTES:
        return False
    try:
        key.verify(signature, sshsig_data(namespace, message))
    except InvalidSignature:
        return False
    return True


def dns_name(name: str) -> bytes:
    """`name` as the TXT signature binds it: no final dot, ASCII letters lowered (RFC 4343)."""
    return name.rstrip(".").encode("utf-8", "surrogateescape").lower()


def _normalized(properties: Mapping[bytes, bytes | None]) -> dict[bytes, bytes | None]:
    # The same reading as txt.decode and txt.decode_rdata: keys are case-insensitive and the
    # first occurrence of a key wins (RFC 6763 section 6.4).
    normalized: dict[bytes, bytes | None] = {}
    for key, value in properties.items():
        normalized.setdefault(key.lower(), value)
    return normalized


def txt_message(
    properties: Mapping[bytes, bytes | None], *, instance: str, host: str, ssh_port: int
) -> bytes:
    """The canonical bytes a TXT signature covers: names, port, then every key but `sig`, sorted."""
    if not 0 <= ssh_port <= 65535:
        raise ValueError(f"ssh_port {ssh_port} is outside 0..65535")
    items = sorted((k, v) for k, v in _normalized(properties).items() if k != SIG_KEY)
    out = [string(dns_name(instance)), string(dns_name(host)), uint32(ssh_port), uint32(len(items))]
    for key, value in items:
        # A key with no "=" differs from one with an empty value (RFC 6763 section 6.4).
        out.append(string(key) + (b"\x00" if value is None else b"\x01" + string(value)))
    return b"".join(out)


def encode_signature(signature: bytes) -> bytes:
    """A signature as the `sig` TXT value: base64 without padding."""
    return base64.b64encode(signature).rstrip(b"=")


def sign_txt(
    properties: Mapping[bytes, bytes | None],
    *,
    instance: str,
    host: str,
    ssh_port: int,
    key: ed25519.Ed25519PrivateKey,
    now: float,
) -> txt.TxtProperties:
    """`properties` with `ts` (whole seconds of `now`) and `sig` added, in that order, last.

    Raises ValueError when the signed record would exceed the TXT size limit.
    """
    signed: txt.TxtProperties = {
        k: v for k, v in _normalized(properties).items() if k not in (TS_KEY, SIG_KEY)
    }
    signed[TS_KEY] = str(int(now)).encode()
    message = txt_message(signed, instance=instance, host=host, ssh_port=ssh_port)
    signed[SIG_KEY] = encode_signature(sign(key, TXT_NAMESPACE, message))
    size = len(txt.encode_rdata(signed))
    if size > txt.MAX_TXT_BYTES:
        raise ValueError(f"signed TXT record would be {size} bytes, over the {txt.MAX_TXT_BYTES}-byte limit")
    return signed


@dataclass(frozen=True, slots=True)
class TxtSignature:
    """What a signed TXT record carries: its timestamp (unix seconds) and signature."""

    timestamp: int
    signature: bytes


def read_txt_signature(properties: Mapping[bytes, bytes | None]) -> TxtSignature | None:
    """The signature in TXT `properties`; None when it has no `sig`; DecodeError when malformed."""
    normalized = _normalized(properties)
    if SIG_KEY not in normalized:
        return None
    sig_text, ts_text = normalized[SIG_KEY], normalized.get(TS_KEY)
    if sig_text is None or not _SIG.fullmatch(sig_text):
        raise DecodeError(f"TXT key 'sig' is not {SIG_CHARS} base64 characters")
    if ts_text is None or not _TS.fullmatch(ts_text):
        raise DecodeError("TXT key 'ts' is missing or not whole unix seconds beside 'sig'")
    try:
        signature = base64.b64decode(sig_text + b"==", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError("TXT key 'sig' is not base64") from exc
    # Only the canonical spelling is accepted, so each signature has one TXT form.
    if encode_signature(signature) != sig_text:
        raise DecodeError("TXT key 'sig' is not canonical base64")
    return TxtSignature(timestamp=int(ts_text), signature=signature)
