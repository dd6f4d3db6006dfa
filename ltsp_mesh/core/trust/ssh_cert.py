"""OpenSSH host certificates: decode one, and decide whether it vouches for a host.

The format is OpenSSH's PROTOCOL.certkeys ("ssh-ed25519-cert-v01@openssh.com"). Only Ed25519
certificates are read, since ltsp-mesh servers sign with their Ed25519 host key; the CA that
signed one may use any key type ssh_keys.verify_signature checks (Ed25519, ECDSA, RSA/SHA-2).

The checks are the ones OpenSSH's client makes on a host certificate (sshkey.c
sshkey_cert_check_host): a trusted CA's valid signature, type "host", valid_after <= now <
valid_before, a non-empty principal list with one principal (a pattern with * and ?) matching
the host's name, and no critical options (none is defined for host certificates).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.asymmetric import ed25519

from ltsp_mesh.core.codec.ssh_wire import Reader, string, uint32, uint64
from ltsp_mesh.core.trust import ssh_keys
from ltsp_mesh.core.trust.known_hosts import match_pattern
from ltsp_mesh.core.trust.ssh_keys import PublicKey
from ltsp_mesh.errors import DecodeError, TrustError

ED25519_CERT: Final = "ssh-ed25519-cert-v01@openssh.com"
HOST_CERT: Final = 2  # PROTOCOL.certkeys; 1 is a user certificate, which never vouches for a host
# A certificate rides in a signed reply, so it must fit one datagram with the rest of the reply
# (signed_reply.CERT_REQUEST_SIZE_BYTES holds the sum). One signed by an Ed25519 or ECDSA CA
# is 300-400 bytes plus its names; by an RSA-3072 CA about 1,000; by an RSA-4096 CA about
# 1,250, too large: such a site lists its servers' keys in known_hosts instead.
MAX_CERT_BYTES: Final = 1024
_MAX_PRINCIPALS: Final = 256
_MAX_OPTIONS: Final = 64


class CertProblem(enum.StrEnum):
    """Why a host certificate does not vouch for a host."""

    UNTRUSTED_CA = "signed by a CA that is not trusted for this host"
    BAD_SIGNATURE = "the CA's signature on it is not valid"
    UNSUPPORTED = "signed with an algorithm this does not check"
    NOT_HOST = "not a host certificate"
    NOT_YET_VALID = "not valid yet"
    EXPIRED = "expired"
    NO_PRINCIPALS = "lists no principals"
    WRONG_PRINCIPAL = "does not list this host among its principals"
    CRITICAL_OPTIONS = "has critical options, which no host certificate may have"


@dataclass(frozen=True, slots=True)
class Certificate:
    """A decoded OpenSSH certificate; `signed_data` is the part the CA's signature covers."""

    key: PublicKey
    nonce: bytes
    serial: int
    cert_type: int
    key_id: str
    principals: tuple[str, ...]
    valid_after: int
    valid_before: int
    critical_options: tuple[tuple[str, bytes], ...]
    extensions: tuple[tuple[str, bytes], ...]
    ca_key: PublicKey
    signature: bytes
    signed_data: bytes
    blob: bytes


def _options(raw: bytes, what: str) -> tuple[tuple[str, bytes], ...]:
    # PROTOCOL.certkeys: (name, data) pairs, each name at most once, in lexical order.
    reader = Reader(raw, what)
    options: list[tuple[str, bytes]] = []
    while reader.rest_len():
        if len(options) >= _MAX_OPTIONS:
            raise DecodeError(f"certificate has more than {_MAX_OPTIONS} {what}")
        name = reader.text(f"{what} name")
        if options and name <= options[-1][0]:
            raise DecodeError(f"certificate {what} are not in lexical order or repeat {name[:40]!r}")
        options.append((name, reader.string(f"{what} data")))
    return tuple(options)


def decode_certificate(blob: bytes) -> Certificate:
    """Return the Ed25519 certificate in `blob`; DecodeError if it is not one."""
    if len(blob) > MAX_CERT_BYTES:
        raise DecodeError(f"certificate of {len(blob)} bytes is over {MAX_CERT_BYTES}")
    reader = Reader(blob, "certificate")
    cert_type_name = reader.text("key type")
    if cert_type_name != ED25519_CERT:
        raise DecodeError(f"certificate type {cert_type_name[:60]!r} is not {ED25519_CERT}")
    nonce = reader.string("nonce")
    pk = reader.string("Ed25519 key")
    if len(pk) != ssh_keys.ED25519_KEY_BYTES:
        raise DecodeError("certificate's Ed25519 key is not 32 bytes")
    serial = reader.uint64("serial")
    cert_type = reader.uint32("type")
    key_id = reader.text("key id")
    principal_reader = Reader(reader.string("valid principals"), "certificate principals")
    principals: list[str] = []
    while principal_reader.rest_len():
        if len(principals) >= _MAX_PRINCIPALS:
            raise DecodeError(f"certificate lists more than {_MAX_PRINCIPALS} principals")
        principals.append(principal_reader.text("principal"))
    valid_after = reader.uint64("valid after")
    valid_before = reader.uint64("valid before")
    critical = _options(reader.string("critical options"), "critical options")
    extensions = _options(reader.string("extensions"), "extensions")
    reader.string("reserved")
    ca_blob = reader.string("signature key")
    try:
        ca_key = ssh_keys.decode_public_blob(ca_blob)
    except DecodeError as exc:  # a certificate as the CA key is a "chained" one: not allowed
        raise DecodeError(f"certificate's CA key is unusable: {exc}") from exc
    signed_data = reader.consumed
    signature = reader.string("signature")
    reader.done()
    return Certificate(
        key=ssh_keys.ed25519_public_key_from_bytes(pk),
        nonce=nonce,
        serial=serial,
        cert_type=cert_type,
        key_id=key_id,
        principals=tuple(principals),
        valid_after=valid_after,
        valid_before=valid_before,
        critical_options=critical,
        extensions=extensions,
        ca_key=ca_key,
        signature=signature,
        signed_data=signed_data,
        blob=blob,
    )


def issue_certificate(
    ca: ed25519.Ed25519PrivateKey,
    key: PublicKey,
    *,
    key_id: str,
    principals: Sequence[str],
    valid_after: int,
    valid_before: int,
    nonce: bytes,
    serial: int = 0,
    cert_type: int = HOST_CERT,
    critical_options: Sequence[tuple[str, bytes]] = (),
) -> bytes:
    """The blob of an Ed25519 certificate for `key`, signed by the Ed25519 CA key `ca`.

    What `ssh-keygen -s ca -h` makes, for the lab, tests and benchmarks; `nonce` is passed in
    (16 or 32 random bytes) because the core draws no randomness of its own.
    """
    if not key.is_ed25519:
        raise ValueError(f"only Ed25519 keys are certified here, not {key.key_type}")
    options = b"".join(string(name.encode()) + string(data) for name, data in sorted(critical_options))
    body = (
        string(ED25519_CERT.encode())
        + string(nonce)
        + string(key.blob[-ssh_keys.ED25519_KEY_BYTES :])
        + uint64(serial)
        + uint32(cert_type)
        + string(key_id.encode())
        + string(b"".join(string(p.encode()) for p in principals))
        + uint64(valid_after)
        + uint64(valid_before)
        + string(options)
        + string(b"")  # extensions: none is defined for host certificates
        + string(b"")  # reserved
        + string(ssh_keys.ed25519_public_key(ca.public_key()).blob)
    )
    return body + string(ssh_keys.ed25519_signature_blob(ca.sign(body)))


def parse_certificate_line(line: str) -> Certificate:
    """Return the certificate on a "ssh-ed25519-cert-v01@openssh.com base64 [comment]" line."""
    parts = line.strip().split(maxsplit=2)
    if len(parts) < 2 or parts[0] != ED25519_CERT:
        raise DecodeError(f"certificate line does not start with {ED25519_CERT}")
    cert = decode_certificate(ssh_keys.b64decode(parts[1], "certificate"))
    return cert


def check_host_certificate(
    cert: Certificate, *, authorities: Sequence[PublicKey], names: Sequence[str], now: float
) -> tuple[CertProblem, str] | None:
    """None when `cert` vouches for a host called any of `names` at `now`, else why not.

    `authorities` are the CA keys trusted for this host (known_hosts @cert-authority lines
    that match it); `names` are the host's names and addresses as ssh would be given them.
    """
    if cert.ca_key not in authorities:
        return CertProblem.UNTRUSTED_CA, f"CA {cert.ca_key.fingerprint} is not trusted for {', '.join(names)}"
    try:
        if not ssh_keys.verify_signature(cert.ca_key, cert.signature, cert.signed_data):
            return CertProblem.BAD_SIGNATURE, f"CA {cert.ca_key.fingerprint}'s signature does not verify"
    except (TrustError, DecodeError) as exc:
        return CertProblem.UNSUPPORTED, str(exc)
    if cert.cert_type != HOST_CERT:
        return (
            CertProblem.NOT_HOST,
            f"certificate {cert.key_id!r} has type {cert.cert_type}, not host ({HOST_CERT})",
        )
    if now < cert.valid_after:
        return (
            CertProblem.NOT_YET_VALID,
            f"certificate {cert.key_id!r} is valid from {cert.valid_after} (now {now:.0f})",
        )
    if now >= cert.valid_before:
        return (
            CertProblem.EXPIRED,
            f"certificate {cert.key_id!r} expired at {cert.valid_before} (now {now:.0f})",
        )
    if not cert.principals:
        return CertProblem.NO_PRINCIPALS, f"certificate {cert.key_id!r} lists no principals"
    # OpenSSH lower-cases the host name it was given and matches it against each principal,
    # which may hold * and ? wildcards (sshkey_cert_check_host passes wildcard_pattern=1).
    wanted = [name.lower() for name in names]
    if not any(match_pattern(name, principal) for name in wanted for principal in cert.principals):
        listed = ", ".join(cert.principals[:8])
        return (
            CertProblem.WRONG_PRINCIPAL,
            f"certificate {cert.key_id!r} is for {listed}, not {', '.join(names)}",
        )
    if cert.critical_options:
        options = ", ".join(name for name, _ in cert.critical_options)
        return CertProblem.CRITICAL_OPTIONS, f"certificate {cert.key_id!r} has critical options {options}"
    return None
