"""Claims a broker relays for a thin client: the signed request, and whom a server believes.

A broker that hands a server out claims it on the client's behalf: a UDP 377 `claim` whose `c`
names the client's address, plus optional fields, ignored by servers that predate them:

    rts    float: when the broker signed it (unix seconds)
    rsig   bin, 64 bytes: the broker's host key signature (CLAIM_NAMESPACE) of
           msgpack [wire version, "claim", nonce, client, rts]
    rcert  bin: the broker's host certificate, when it has one (a CA site)
    ck     bin: the claim cookie the server gave the broker's own address (core/server/cookies.py)

The request is padded like every other, so the reply is never larger than the claim. The
server counts it for the client when the broker is a mesh member: a key its own known hosts
list for the broker's address signed it, within the clock skew trust allows. With no known
hosts at all (trust any), a claim no member signed counts when it carries the cookie for the
relaying address, within that source's claim rate limits. A client's own claim always needs
the cookie for its own address. Pure; core/server/claims.py holds the server's decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import msgpack
from cryptography.hazmat.primitives.asymmetric import ed25519

from ltsp_mesh.core.codec import load_query
from ltsp_mesh.core.trust import signed_reply, signing, verdicts
from ltsp_mesh.core.trust.known_hosts import KnownHosts
from ltsp_mesh.core.trust.ssh_cert import MAX_CERT_BYTES
from ltsp_mesh.errors import DecodeError

CLAIM_NAMESPACE: Final = "ltsp-mesh-claim-v1"
TS_FIELD: Final = "rts"
SIG_FIELD: Final = "rsig"
CERT_FIELD: Final = "rcert"


@dataclass(frozen=True, slots=True)
class RelayedClaim:
    """A claim for `request.client`, with what vouches for the broker that sent it."""

    request: load_query.Request
    timestamp: float
    signature: bytes
    certificate: bytes = b""

    def __post_init__(self) -> None:
        if self.request.op is not load_query.Op.CLAIM or not self.request.client:
            raise ValueError("a relayed claim is a claim that names its client")
        if not math.isfinite(self.timestamp) or self.timestamp < 0:
            raise ValueError(f"timestamp {self.timestamp} is not a time")
        if self.signature and len(self.signature) != signing.SIGNATURE_BYTES:
            raise ValueError(f"a signature is {signing.SIGNATURE_BYTES} bytes")
        if len(self.certificate) > MAX_CERT_BYTES:
            raise ValueError(f"certificate of {len(self.certificate)} bytes is over {MAX_CERT_BYTES}")


def claim_message(request: load_query.Request, timestamp: float) -> bytes:
    """The canonical bytes a relayed claim's signature covers."""
    values = [load_query.WIRE_VERSION, request.op.value, request.nonce, request.client, float(timestamp)]
    return bytes(msgpack.packb(values, use_bin_type=True))


def encode(
    client: str,
    nonce: bytes,
    now: float,
    *,
    key: ed25519.Ed25519PrivateKey | None,
    certificate: bytes = b"",
    cookie: bytes = b"",
) -> bytes:
    """The datagram claiming for `client`, signed by `key` when there is one, with the cookie the
    server gave this broker when there is one, padded so that the signed reply (with a
    certificate, when the server has one) fits under it."""
    request = load_query.Request(load_query.Op.CLAIM, nonce, client=client, cookie=cookie)
    fields: dict[str, Any] = {"op": request.op.value, "n": nonce, "c": client, TS_FIELD: float(now)}
    if key is not None:
        fields[SIG_FIELD] = signing.sign(key, CLAIM_NAMESPACE, claim_message(request, now))
        if certificate:
            fields[CERT_FIELD] = certificate
    if cookie:
        fields[load_query.COOKIE_FIELD] = cookie
    size = signed_reply.CERT_REQUEST_SIZE_BYTES if certificate else load_query.REQUEST_SIZE_BYTES
    body = bytes(msgpack.packb(fields, use_bin_type=True))
    room = size - len(body) - 2  # the key "p" is a 2-byte fixstr
    pad_len = room - 2 if room - 2 < 256 else room - 3  # a bin header is 2 bytes up to 255, then 3
    if pad_len > 0:
        fields["p"] = bytes(pad_len)
    return bytes(msgpack.packb(fields, use_bin_type=True))


def decode(data: bytes, request: load_query.Request) -> RelayedClaim | None:
    """The relayed claim in `data` (already decoded as `request`); None when it relays nothing
    (a client's own claim); DecodeError when its relay fields are malformed."""
    if request.op is not load_query.Op.CLAIM or not request.client:
        return None
    obj = load_query.unpack_map(data, "relayed claim")
    timestamp, signature, certificate = (
        obj.get(TS_FIELD, 0.0),
        obj.get(SIG_FIELD, b""),
        obj.get(CERT_FIELD, b""),
    )
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
        raise DecodeError(f"relayed claim field {TS_FIELD!r} is not a number")
    if not isinstance(signature, bytes) or not isinstance(certificate, bytes):
        raise DecodeError(f"relayed claim fields {SIG_FIELD!r} and {CERT_FIELD!r} must be bin")
    try:
        return RelayedClaim(request, float(timestamp), signature, certificate)
    except ValueError as exc:
        raise DecodeError(f"relayed claim is out of range: {exc}") from exc


def check(claim: RelayedClaim, *, broker: str, known_hosts: KnownHosts, now: float) -> verdicts.Verdict:
    """Whether the broker at address `broker` signed `claim` as a mesh member."""
    signed = verdicts.Signed(
        "relayed claim",
        CLAIM_NAMESPACE,
        claim_message(claim.request, claim.timestamp),
        claim.signature,
        claim.timestamp,
        claim.certificate,
    )
    return verdicts.check_signed(signed, peer=verdicts.Peer(broker), known_hosts=known_hosts, now=now)
