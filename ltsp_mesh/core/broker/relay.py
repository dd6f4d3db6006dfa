"""Claims a broker relays for a thin client: the signed request, and whom a server believes.

A broker that hands a server out claims it on the client's behalf: a UDP 377 `claim` whose `c`
names the client's address, plus three optional fields, ignored by servers that predate them:

    rts    float: when the broker signed it (unix seconds)
    rsig   bin, 64 bytes: the broker's host key signature (CLAIM_NAMESPACE) of
           msgpack [wire version, "claim", nonce, client, rts]
    rcert  bin: the broker's host certificate, when it has one (a CA site)

The request is padded like every other, so the reply is never larger than the claim. The
server counts it for the client only when the broker is a mesh member: a key its own known
hosts list for the broker's address signed it, within the clock skew trust allows. With no
known hosts at all (trust any), it counts within the relaying source's claim rate limits.
Pure; `admit` is the server's whole decision for a claim, rule by rule.
"""

from __future__ import annotations

import enum
import ipaddress
import math
from dataclasses import dataclass
from typing import Any, Final

import msgpack
from cryptography.hazmat.primitives.asymmetric import ed25519

from ltsp_mesh.core.codec import load_query
from ltsp_mesh.core.ratelimit import RateLimiter
from ltsp_mesh.core.server.pending import ClaimOutcome, PendingLedger
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
    client: str, nonce: bytes, now: float, *, key: ed25519.Ed25519PrivateKey | None, certificate: bytes = b""
) -> bytes:
    """The datagram claiming for `client`, signed by `key` when there is one, padded so that
    the signed reply (with a certificate, when the server has one) fits under it."""
    request = load_query.Request(load_query.Op.CLAIM, nonce, client=client)
    fields: dict[str, Any] = {"op": request.op.value, "n": nonce, "c": client, TS_FIELD: float(now)}
    if key is not None:
        fields[SIG_FIELD] = signing.sign(key, CLAIM_NAMESPACE, claim_message(request, now))
        if certificate:
            fields[CERT_FIELD] = certificate
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


# A broker relays its clients' claims: a storm of 1000 logins through one broker to 30 servers
# is about 35 claims per server in seconds. Generous, but bounded: a compromised member (or,
# under trust any, any host) can raise `pend` no faster than this.
MEMBER_CLAIMS_PER_S: Final = 50.0
MEMBER_CLAIMS_BURST: Final = 200.0
# One client claims once per login screen; a storm of 1400 clients over two minutes sends a
# server about one new claim a second. Ten a second overall, with bursts, is plenty.
CLAIMS_PER_SOURCE_PER_S: Final = 0.2
CLAIMS_BURST: Final = 3.0
CLAIMS_PER_S: Final = 10.0


class Verdict(enum.StrEnum):
    """What became of one claim: the counter the responder bumps is `claims_` + the value."""

    NEW = "new"
    RENEWED = "renewed"
    REFUSED_FULL = "refused_full"
    REFUSED_DRAINING = "refused_draining"
    RATE_LIMITED = "rate_limited"
    RELAY_MALFORMED = "relay_malformed"
    RELAY_UNTRUSTED = "relay_untrusted"


@dataclass
class ClaimState:
    """What a server keeps to decide claims: the ledger and the budgets (mutable, pure)."""

    ledger: PendingLedger
    direct: RateLimiter
    members: RateLimiter
    known_hosts: KnownHosts
    # True when the site lists host keys (known-hosts trust): relayed claims must then come
    # from members. `known_hosts` may list the server itself beside them either way.
    strict: bool

    @classmethod
    def new(cls, ledger: PendingLedger, known_hosts: KnownHosts, *, strict: bool) -> ClaimState:
        """The budgets above around `ledger`, believing members listed in `known_hosts`."""
        return cls(
            ledger,
            RateLimiter(
                per_source_per_s=CLAIMS_PER_SOURCE_PER_S,
                per_source_burst=CLAIMS_BURST,
                global_per_s=CLAIMS_PER_S,
            ),
            RateLimiter(
                per_source_per_s=MEMBER_CLAIMS_PER_S,
                per_source_burst=MEMBER_CLAIMS_BURST,
                global_per_s=10 * MEMBER_CLAIMS_PER_S,
            ),
            known_hosts,
            strict,
        )


def admit(
    request: load_query.Request,
    relayed: RelayedClaim | None,
    *,
    source: str,
    draining: bool,
    state: ClaimState,
    now: float,
    wall_now: float,
) -> Verdict:
    """Decide one claim from `source` at `now` (monotonic; `wall_now` checks signatures).

    Rules, in order:
    1. A draining server takes no claim.
    2. A claim naming no client (or its own source) is the client's own: keyed by `source`.
    3. A relayed claim must name an IP address and spends the relaying broker's budget (a
       broker relays a whole storm); under known-hosts trust it must be signed by a member.
    4. Renewing a live claim spends no budget (it never raises `pend`); a new one does.
    5. The ledger then counts it, one per client.
    """
    if draining:
        return Verdict.REFUSED_DRAINING
    client, budget = source, state.direct
    if request.client and request.client != source:
        try:
            client = str(ipaddress.ip_address(request.client))
        except ValueError:
            return Verdict.RELAY_MALFORMED
        if state.strict and (
            relayed is None
            or not check(relayed, broker=source, known_hosts=state.known_hosts, now=wall_now).accepted
        ):
            return Verdict.RELAY_UNTRUSTED
        budget = state.members
    if not state.ledger.holds(client, now) and not budget.allow(source, now):
        return Verdict.RATE_LIMITED
    outcome = state.ledger.claim(client, now)
    return {
        ClaimOutcome.NEW: Verdict.NEW,
        ClaimOutcome.RENEWED: Verdict.RENEWED,
        ClaimOutcome.REFUSED_FULL: Verdict.REFUSED_FULL,
    }[outcome]
