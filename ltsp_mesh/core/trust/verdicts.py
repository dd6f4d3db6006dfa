"""Whether a server that announced itself or answered a query may be listed: pure verdicts.

A server proves itself the way it does to ssh: with its host key, found in the image's
ssh_known_hosts for the address the client will print (a plain line, by name, address or
hashed), or certified for that address by a CA listed there (@cert-authority). Anything else is
a rogue under LDM_LB_TRUST=known-hosts: unsigned, signed by a key not listed, listed @revoked,
a bad signature, a certificate that does not vouch for the host, a reply to another request
(wrong nonce), or a timestamp outside the window below.

Freshness (the defaults of `Freshness`, and why):
- A reply is bound to the client's fresh random nonce, which is what makes a captured reply
  useless; its timestamp must also lie within `max_skew_s` (300 s) of the client's clock,
  the default clock skew Kerberos tolerates (MIT krb5 `clockskew`): thin clients set their
  clock from the server at boot, so a larger gap means a broken clock or an old reply.
- A TXT record has no nonce: its `ts` must be no more than `max_skew_s` ahead of the client's
  clock and no more than `txt_max_age_s` (900 s) plus `max_skew_s` behind it. The daemon
  re-signs every TXT_RESIGN_INTERVAL_S (300 s, one TXT update in 5 minutes, far inside RFC
  6762's ten a minute), so a genuine record is at most 300 s old and the window leaves two
  missed refreshes of slack. A replayed TXT is no threat beyond that window anyway: it only
  makes the client query an address, and the reply to that query must be signed afresh.
- A TXT record cannot carry a certificate (it would not fit in 400 bytes), so a server known
  only through a CA gets the DEFERRED outcome from its TXT: worth querying, not yet trusted.
"""

from __future__ import annotations

import enum
import hmac
import ipaddress
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.core.codec import load_query
from ltsp_mesh.core.config.client_settings import Trust
from ltsp_mesh.core.trust import signed_reply, signing, ssh_cert
from ltsp_mesh.core.trust.known_hosts import DEFAULT_PORT, KnownHosts, Match
from ltsp_mesh.core.trust.signed_reply import SignedReply
from ltsp_mesh.core.trust.ssh_cert import CertProblem
from ltsp_mesh.core.trust.ssh_keys import PublicKey
from ltsp_mesh.errors import DecodeError, TrustError

DEFAULT_MAX_SKEW_S: Final = 300.0
DEFAULT_TXT_MAX_AGE_S: Final = 900.0
TXT_RESIGN_INTERVAL_S: Final = 300.0
# A host with more Ed25519 keys than this listed is not worth trying them all for.
MAX_KEYS_TRIED: Final = 16


class Outcome(enum.StrEnum):
    """What a verdict says."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DEFERRED = "deferred"  # a TXT of a host known only through a CA: the signed reply decides


class Via(enum.StrEnum):
    """How an accepted server proved itself."""

    KNOWN_KEY = "known host key"
    CERTIFICATE = "host certificate"


class Reason(enum.StrEnum):
    """Why a server was not accepted."""

    UNSIGNED = "unsigned"
    MALFORMED = "malformed signature"
    WRONG_NONCE = "wrong nonce"
    UNKNOWN_KEY = "unknown key"
    BAD_SIGNATURE = "bad signature"
    REVOKED = "revoked key"
    STALE = "stale timestamp"
    CA_ONLY = "known only through a CA"
    CERT_MALFORMED = "malformed certificate"
    CERT_UNTRUSTED_CA = "certificate from an untrusted CA"
    CERT_BAD_SIGNATURE = "certificate with a bad CA signature"
    CERT_UNSUPPORTED = "certificate signed with an unsupported algorithm"
    CERT_NOT_HOST = "not a host certificate"
    CERT_NOT_YET_VALID = "certificate not valid yet"
    CERT_EXPIRED = "certificate expired"
    CERT_NO_PRINCIPALS = "certificate without principals"
    CERT_WRONG_PRINCIPAL = "certificate for another host"
    CERT_CRITICAL_OPTIONS = "certificate with critical options"


_CERT_REASONS: Final[dict[CertProblem, Reason]] = {
    CertProblem.UNTRUSTED_CA: Reason.CERT_UNTRUSTED_CA,
    CertProblem.BAD_SIGNATURE: Reason.CERT_BAD_SIGNATURE,
    CertProblem.UNSUPPORTED: Reason.CERT_UNSUPPORTED,
    CertProblem.NOT_HOST: Reason.CERT_NOT_HOST,
    CertProblem.NOT_YET_VALID: Reason.CERT_NOT_YET_VALID,
    CertProblem.EXPIRED: Reason.CERT_EXPIRED,
    CertProblem.NO_PRINCIPALS: Reason.CERT_NO_PRINCIPALS,
    CertProblem.WRONG_PRINCIPAL: Reason.CERT_WRONG_PRINCIPAL,
    CertProblem.CRITICAL_OPTIONS: Reason.CERT_CRITICAL_OPTIONS,
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a TXT record or reply is trusted, how, or why not; `detail` is for people."""

    outcome: Outcome
    detail: str
    via: Via | None = None
    reason: Reason | None = None
    key_fingerprint: str = ""

    @property
    def accepted(self) -> bool:
        """True when the server proved itself."""
        return self.outcome is Outcome.ACCEPTED

    def require(self) -> None:
        """Raise TrustError (with the reason and detail) unless the verdict accepts."""
        if not self.accepted:
            raise TrustError(f"{self.reason or self.outcome}: {self.detail}")


def _reject(reason: Reason, detail: str, key: PublicKey | None = None) -> Verdict:
    return Verdict(Outcome.REJECTED, detail, reason=reason, key_fingerprint=key.fingerprint if key else "")


_UNSIGNED_TXT: Final = _reject(Reason.UNSIGNED, "the TXT record has no signature")


@dataclass(frozen=True, slots=True)
class Freshness:
    """How far a signed timestamp may be from the client's clock (see the module docstring)."""

    max_skew_s: float = DEFAULT_MAX_SKEW_S
    txt_max_age_s: float = DEFAULT_TXT_MAX_AGE_S

    def __post_init__(self) -> None:
        for name in ("max_skew_s", "txt_max_age_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}={value!r} is not a non-negative number of seconds")


@dataclass(frozen=True, slots=True)
class Peer:
    """The server as ssh will see it: the address the client queried and will print, its SSH
    port, and any other names the client will hand to ssh for it (normally none).

    Keys are looked up for these names only, never for names the server announces about
    itself: a rogue could claim a genuine server's name and relay its signed replies.
    """

    address: str
    ssh_port: int = DEFAULT_PORT
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        ipaddress.ip_address(self.address)  # ValueError: the caller passed something else
        if not 1 <= self.ssh_port <= 65535:
            raise ValueError(f"ssh_port {self.ssh_port} is outside 1..65535")

    @property
    def lookup_names(self) -> tuple[str, ...]:
        """The names to look up in known_hosts and match against certificate principals."""
        return (self.address, *self.names)


def _no_signer(candidates: Sequence[PublicKey], claimed_fp: str, what: str, names: str) -> Verdict:
    if not candidates:
        return _reject(Reason.UNKNOWN_KEY, f"known_hosts lists no Ed25519 key for {names}")
    if claimed_fp and claimed_fp in {k.fingerprint for k in candidates}:
        return _reject(Reason.BAD_SIGNATURE, f"the {what}'s signature does not verify with {claimed_fp}")
    return _reject(
        Reason.UNKNOWN_KEY,
        f"the {what} is signed by a key known_hosts does not list for {names}"
        + (f" (it claims {claimed_fp})" if claimed_fp else ""),
    )


def check_txt_form(properties: Mapping[bytes, bytes | None]) -> Verdict | None:
    """The refusal of a TXT record that no key can accept, whatever its address (unsigned, or a
    malformed signature); None when it carries a well-formed signature for `check_txt` to judge.

    A flood of unsigned services is refused at this price, once a service, not once an address.
    """
    try:
        signature = signing.read_txt_signature(properties)
    except DecodeError as exc:
        return _reject(Reason.MALFORMED, str(exc))
    return _UNSIGNED_TXT if signature is None else None


def check_txt(
    properties: Mapping[bytes, bytes | None],
    *,
    instance: str,
    host: str,
    peer: Peer,
    known_hosts: KnownHosts,
    now: float,
    freshness: Freshness = Freshness(),
) -> Verdict:
    """The verdict on a TXT record announced by `instance` on `host`, for the address in `peer`."""
    try:
        signature = signing.read_txt_signature(properties)
    except DecodeError as exc:
        return _reject(Reason.MALFORMED, str(exc))
    if signature is None:
        return _UNSIGNED_TXT
    names = ", ".join(peer.lookup_names)
    match = known_hosts.lookup(peer.lookup_names, peer.ssh_port)
    candidates = _candidates(match)
    message = signing.txt_message(properties, instance=instance, host=host, ssh_port=peer.ssh_port)
    signer = next(
        (k for k in candidates if _verifies(k, signing.TXT_NAMESPACE, message, signature.signature)), None
    )
    if signer is None:
        if match.authorities:
            return Verdict(
                Outcome.DEFERRED,
                f"only a CA is trusted for {names}; the reply must bring a certificate",
                reason=Reason.CA_ONLY,
            )
        claimed = next((v for k, v in properties.items() if k.lower() == b"hk" and v), b"")
        return _no_signer(candidates, claimed.decode("ascii", "replace"), "TXT record", names)
    if match.is_revoked(signer):
        return _reject(
            Reason.REVOKED, f"the TXT record is signed by {signer.fingerprint}, revoked for {names}", signer
        )
    age_s = now - signature.timestamp
    if not -freshness.max_skew_s <= age_s <= freshness.txt_max_age_s + freshness.max_skew_s:
        return _reject(Reason.STALE, f"the TXT record's timestamp is {age_s:+.0f} s from this clock", signer)
    return Verdict(
        Outcome.ACCEPTED,
        f"TXT signed by {signer.fingerprint}, listed for {names}",
        via=Via.KNOWN_KEY,
        key_fingerprint=signer.fingerprint,
    )


def check_reply(
    signed: SignedReply,
    *,
    nonce: bytes,
    peer: Peer,
    known_hosts: KnownHosts,
    now: float,
    freshness: Freshness = Freshness(),
) -> Verdict:
    """The verdict on a decoded reply from `peer.address` to the request that carried `nonce`."""
    if not hmac.compare_digest(signed.reply.nonce, nonce):
        return _reject(Reason.WRONG_NONCE, "the reply does not carry the nonce of the request")
    return check_signed(
        Signed(
            "reply",
            signing.REPLY_NAMESPACE,
            signed_reply.reply_message(signed.reply),
            signed.signature,
            signed.reply.timestamp,
            signed.certificate,
            signed.reply.record.host_key_fp,
        ),
        peer=peer,
        known_hosts=known_hosts,
        now=now,
        freshness=freshness,
    )


@dataclass(frozen=True, slots=True)
class Signed:
    """A signed message from a peer: what it is (for people), its namespace and canonical bytes,
    the signature, the signed timestamp, the host certificate it came with (b"": none) and the
    key fingerprint it claims (for a clearer message when the signature does not verify)."""

    what: str
    namespace: str
    message: bytes
    signature: bytes
    timestamp: float
    certificate: bytes = b""
    claimed_fp: str = ""


def check_signed(
    signed: Signed, *, peer: Peer, known_hosts: KnownHosts, now: float, freshness: Freshness = Freshness()
) -> Verdict:
    """The verdict on a message `peer` signed with its host key: a key known_hosts lists for the
    peer's address, or one a listed CA certified for it; within the clock skew allowed."""
    if not signed.signature:
        return _reject(Reason.UNSIGNED, f"the {signed.what} has no signature")
    names = ", ".join(peer.lookup_names)
    match = known_hosts.lookup(peer.lookup_names, peer.ssh_port)
    via = Via.KNOWN_KEY
    if signed.certificate:
        try:
            cert = ssh_cert.decode_certificate(signed.certificate)
        except DecodeError as exc:
            return _reject(Reason.CERT_MALFORMED, str(exc))
        signer = cert.key
        if not _verifies(signer, signed.namespace, signed.message, signed.signature):
            return _reject(
                Reason.BAD_SIGNATURE,
                f"the {signed.what} is not signed by the key its certificate certifies",
                signer,
            )
        if match.is_revoked(signer) or match.is_revoked(cert.ca_key):
            return _reject(Reason.REVOKED, f"{signer.fingerprint} or its CA is revoked for {names}", signer)
        if signer not in match.keys:
            problem = ssh_cert.check_host_certificate(
                cert, authorities=match.authorities, names=peer.lookup_names, now=now
            )
            if problem is not None:
                return _reject(_CERT_REASONS[problem[0]], problem[1], signer)
            via = Via.CERTIFICATE
    else:
        candidates = _candidates(match)
        found = next(
            (k for k in candidates if _verifies(k, signed.namespace, signed.message, signed.signature)), None
        )
        if found is None:
            return _no_signer(candidates, signed.claimed_fp, signed.what, names)
        signer = found
        if match.is_revoked(signer):
            return _reject(
                Reason.REVOKED,
                f"the {signed.what} is signed by {signer.fingerprint}, revoked for {names}",
                signer,
            )
    skew_s = now - signed.timestamp
    if not math.isfinite(skew_s) or abs(skew_s) > freshness.max_skew_s:
        return _reject(
            Reason.STALE, f"the {signed.what}'s timestamp is {skew_s:+.0f} s from this clock", signer
        )
    return Verdict(
        Outcome.ACCEPTED,
        f"{signed.what} signed by {signer.fingerprint} ({via.value}) for {names}",
        via=via,
        key_fingerprint=signer.fingerprint,
    )


def _candidates(match: Match) -> list[PublicKey]:
    # Revoked keys are tried too, so that a revoked signer is named as such, not as unknown.
    return list(dict.fromkeys(k for k in (*match.keys, *match.revoked) if k.is_ed25519))[:MAX_KEYS_TRIED]


def _verifies(key: PublicKey, namespace: str, message: bytes, signature: bytes) -> bool:
    try:
        public = key.ed25519()
    except ValueError:  # a blob that is no curve point: nothing can verify with it
        return False
    return signing.verify(public, namespace, message, signature)


def request_size(known_hosts: KnownHosts, peer: Peer) -> int:
    """How far to pad a query to `peer`: enough for a certificate only when a CA, and no listed
    Ed25519 key, can vouch for it; the ordinary size otherwise."""
    match = known_hosts.lookup(peer.lookup_names, peer.ssh_port)
    if match.authorities and not any(k.is_ed25519 for k in match.keys):
        return signed_reply.CERT_REQUEST_SIZE_BYTES
    return load_query.REQUEST_SIZE_BYTES


def effective_mode(mode: Trust, known_hosts: KnownHosts) -> Trust:
    """KNOWN_HOSTS or ANY: AUTO is KNOWN_HOSTS when known_hosts lists at least one key or CA."""
    if mode is Trust.AUTO:
        return Trust.KNOWN_HOSTS if known_hosts.usable else Trust.ANY
    return mode


def admits(mode: Trust, verdict: Verdict) -> bool:
    """True when a server with this reply verdict may be listed under `mode` (already effective)."""
    if mode is Trust.AUTO:
        raise ValueError("resolve AUTO with effective_mode() first")
    return mode is Trust.ANY or verdict.accepted


def worth_querying(mode: Trust, txt_verdict: Verdict) -> bool:
    """True when a server with this TXT verdict should get a direct query under `mode`."""
    if mode is Trust.AUTO:
        raise ValueError("resolve AUTO with effective_mode() first")
    return mode is Trust.ANY or txt_verdict.outcome is not Outcome.REJECTED
