"""core/trust/verdicts.py: every rogue from the issue is refused; genuine and CA-certified servers pass.

The site is real OpenSSH output: host keys, a host CA and a certificate made by ssh-keygen, a
known_hosts text as ltsp-update-sshkeys would merge it. Servers sign with the private key
files ssh-keygen wrote, loaded by core/trust/ssh_keys.py.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from ltsp_mesh.core.codec import load_query, txt
from ltsp_mesh.core.config.client_settings import Trust
from ltsp_mesh.core.record import ServerRecord
from ltsp_mesh.core.trust import known_hosts, signed_reply, signing, ssh_keys, verdicts
from ltsp_mesh.core.trust.known_hosts import KnownHosts
from ltsp_mesh.core.trust.signed_reply import SignedReply
from ltsp_mesh.core.trust.verdicts import Freshness, Outcome, Peer, Reason, Verdict, Via
from ltsp_mesh.errors import DecodeError, TrustError
from tests import records

from .openssh import NOW, T2025, OpenSSH, openssh

__all__ = ["openssh"]

GENUINE = Peer("10.0.0.5")  # app1: its key is listed in known_hosts
CERTIFIED = Peer("10.0.1.6")  # app2: known only through the site's host CA
ROGUE = Peer("10.0.0.66")
ROGUE_IN_CA_RANGE = Peer("10.0.1.66")
INSTANCE = "app1 [52:54:00:12:34:56]._ltsp._tcp.local."
HOST = "app1-525400123456.local."
NONCE = bytes(range(16))


@dataclass(frozen=True)
class Site:
    genuine: ed25519.Ed25519PrivateKey
    certified: ed25519.Ed25519PrivateKey
    rogue: ed25519.Ed25519PrivateKey
    certificate: bytes
    known_hosts_text: str
    known: KnownHosts

    def record(self, key: ed25519.Ed25519PrivateKey, server_id: str = "app1") -> ServerRecord:
        fingerprint = ssh_keys.ed25519_public_key(key.public_key()).fingerprint
        return records.record(
            server_id=server_id, cpus=4, load_per_cpu=0.0, mem_percent=10, capacity=4, host_key_fp=fingerprint
        )


@pytest.fixture(scope="module")
def site(openssh: OpenSSH) -> Site:
    genuine, certified, rogue, ca = (
        openssh.key(n) for n in ("app1-host", "app2-host", "rogue-host", "site-ca")
    )
    cert_line = openssh.certify(ca, certified, principals="app2,10.0.1.6")
    text = f"app1,10.0.0.5 {genuine.line}\n@cert-authority 10.0.1.* {ca.line}\n"
    return Site(
        genuine=ssh_keys.load_private_key(genuine.private_text),
        certified=ssh_keys.load_private_key(certified.private_text),
        rogue=ssh_keys.load_private_key(rogue.private_text),
        certificate=base64.b64decode(cert_line.split()[1]),
        known_hosts_text=text,
        known=known_hosts.parse(text),
    )


def announce(
    site: Site,
    key: ed25519.Ed25519PrivateKey,
    *,
    now: float = NOW,
    instance: str = INSTANCE,
    host: str = HOST,
) -> txt.TxtProperties:
    return signing.sign_txt(
        txt.encode(site.record(key)), instance=instance, host=host, ssh_port=22, key=key, now=now
    )


def check_txt(
    site: Site,
    properties: txt.TxtProperties,
    peer: Peer,
    *,
    now: float = NOW,
    instance: str = INSTANCE,
    host: str = HOST,
    known: KnownHosts | None = None,
) -> Verdict:
    return verdicts.check_txt(
        properties, instance=instance, host=host, peer=peer, known_hosts=known or site.known, now=now
    )


def answer(
    site: Site,
    key: ed25519.Ed25519PrivateKey,
    *,
    nonce: bytes = NONCE,
    now: float = NOW,
    certificate: bytes = b"",
) -> SignedReply:
    """What a server sends back, as the client decodes it."""
    request = load_query.Request(load_query.Op.STATS, nonce)
    datagram = signed_reply.reply_to(
        request, signed_reply.CERT_REQUEST_SIZE_BYTES, site.record(key), now, key=key, certificate=certificate
    )
    assert datagram is not None
    return signed_reply.decode(datagram)


def check_reply(
    site: Site,
    signed: SignedReply,
    peer: Peer,
    *,
    nonce: bytes = NONCE,
    now: float = NOW,
    known: KnownHosts | None = None,
) -> Verdict:
    return verdicts.check_reply(signed, nonce=nonce, peer=peer, known_hosts=known or site.known, now=now)


def rejected(verdict: Verdict, reason: Reason) -> bool:
    return verdict.outcome is Outcome.REJECTED and verdict.reason is reason and not verdict.accepted


# Genuine servers are accepted.


def test_a_genuine_txt_is_accepted_by_its_listed_key(site: Site) -> None:
    verdict = check_txt(site, announce(site, site.genuine), GENUINE)
    assert verdict.accepted and verdict.via is Via.KNOWN_KEY
    assert verdict.key_fingerprint == site.record(site.genuine).host_key_fp


def test_a_genuine_reply_is_accepted_by_its_listed_key(site: Site) -> None:
    verdict = check_reply(site, answer(site, site.genuine), GENUINE)
    assert verdict.accepted and verdict.via is Via.KNOWN_KEY


def test_a_server_with_a_ca_signed_certificate_is_accepted_without_its_own_line(site: Site) -> None:
    assert site.known.lookup(["10.0.1.6"]).keys == ()
    verdict = check_reply(site, answer(site, site.certified, certificate=site.certificate), CERTIFIED)
    assert verdict.accepted and verdict.via is Via.CERTIFICATE


def test_a_certified_servers_txt_is_deferred_to_its_reply(site: Site) -> None:
    verdict = check_txt(site, announce(site, site.certified), CERTIFIED)
    assert verdict.outcome is Outcome.DEFERRED and verdict.reason is Reason.CA_ONLY
    assert verdicts.worth_querying(Trust.KNOWN_HOSTS, verdict)
    assert not verdicts.admits(Trust.KNOWN_HOSTS, verdict)


def test_a_certificate_is_not_needed_when_the_key_is_listed(site: Site, openssh: OpenSSH) -> None:
    # The certificate comes from a CA nobody trusts, but the key itself is listed.
    other_ca = openssh.key("untrusted-ca")
    line = openssh.certify(other_ca, openssh.key("app1-host"), principals="10.0.0.5")
    cert = base64.b64decode(line.split()[1])
    verdict = check_reply(site, answer(site, site.genuine, certificate=cert), GENUINE)
    assert verdict.accepted and verdict.via is Via.KNOWN_KEY


def test_a_hashed_known_hosts_entry_is_honoured(site: Site, openssh: OpenSSH) -> None:
    hashed = known_hosts.parse(openssh.hash_known_hosts(site.known_hosts_text))
    assert all(e.hashed for e in hashed.entries if e.marker is known_hosts.Marker.NONE)
    assert check_reply(site, answer(site, site.genuine), GENUINE, known=hashed).accepted
    assert check_txt(site, announce(site, site.genuine), GENUINE, known=hashed).accepted


def test_a_server_on_another_ssh_port_is_looked_up_as_bracketed_address(site: Site, openssh: OpenSSH) -> None:
    known = known_hosts.parse(f"[10.0.0.5]:2222 {openssh.key('app1-host').line}\n")
    assert check_reply(
        site, answer(site, site.genuine), dataclasses.replace(GENUINE, ssh_port=2222), known=known
    ).accepted
    assert rejected(check_reply(site, answer(site, site.genuine), GENUINE, known=known), Reason.UNKNOWN_KEY)


def test_the_client_and_server_codecs_and_checks_work_end_to_end(site: Site) -> None:
    request = load_query.encode_request(
        load_query.Request(load_query.Op.STATS, NONCE), verdicts.request_size(site.known, GENUINE)
    )
    decoded = load_query.decode_request(request)
    datagram = signed_reply.reply_to(
        decoded, len(request), site.record(site.genuine), NOW + 0.01, key=site.genuine
    )
    assert datagram is not None
    verdict = verdicts.check_reply(
        signed_reply.decode(datagram), nonce=NONCE, peer=GENUINE, known_hosts=site.known, now=NOW + 0.02
    )
    assert verdict.accepted


# Every rogue from the issue is refused.


def test_an_unsigned_txt_is_rejected(site: Site) -> None:
    assert rejected(check_txt(site, txt.encode(site.record(site.rogue)), ROGUE), Reason.UNSIGNED)


def test_an_unsigned_reply_is_rejected(site: Site) -> None:
    unsigned = SignedReply(load_query.Reply(site.record(site.rogue), NONCE, NOW))
    assert rejected(check_reply(site, unsigned, ROGUE), Reason.UNSIGNED)


def test_a_txt_signed_by_a_key_not_in_known_hosts_is_rejected(site: Site) -> None:
    assert rejected(check_txt(site, announce(site, site.rogue), ROGUE), Reason.UNKNOWN_KEY)


def test_a_reply_signed_by_a_key_not_in_known_hosts_is_rejected(site: Site) -> None:
    assert rejected(check_reply(site, answer(site, site.rogue), ROGUE), Reason.UNKNOWN_KEY)


def test_a_rogue_on_a_genuine_address_with_its_own_key_is_rejected(site: Site) -> None:
    assert rejected(check_txt(site, announce(site, site.rogue), GENUINE), Reason.UNKNOWN_KEY)
    assert rejected(check_reply(site, answer(site, site.rogue), GENUINE), Reason.UNKNOWN_KEY)


def test_a_rogue_claiming_the_genuine_fingerprint_is_told_apart_as_a_bad_signature(site: Site) -> None:
    forged = load_query.Reply(site.record(site.genuine), NONCE, NOW)
    signature = signing.sign(site.rogue, signing.REPLY_NAMESPACE, signed_reply.reply_message(forged))
    assert rejected(check_reply(site, SignedReply(forged, signature), GENUINE), Reason.BAD_SIGNATURE)


def test_a_genuine_txt_replayed_under_another_instance_is_rejected(site: Site) -> None:
    captured = announce(site, site.genuine)
    verdict = check_txt(site, captured, GENUINE, instance="rogue [52:54:00:66:66:66]._ltsp._tcp.local.")
    assert rejected(verdict, Reason.BAD_SIGNATURE)
    assert rejected(
        check_txt(site, captured, GENUINE, host="rogue-525400666666.local."), Reason.BAD_SIGNATURE
    )


def test_a_genuine_txt_replayed_from_another_address_is_rejected(site: Site) -> None:
    assert rejected(check_txt(site, announce(site, site.genuine), ROGUE), Reason.UNKNOWN_KEY)


def test_a_replayed_reply_with_an_old_nonce_is_rejected(site: Site) -> None:
    captured = answer(site, site.genuine, nonce=bytes(16))
    assert rejected(check_reply(site, captured, GENUINE, nonce=NONCE), Reason.WRONG_NONCE)


def test_a_genuine_reply_relayed_by_a_rogue_is_rejected(site: Site) -> None:
    # The rogue forwards the client's request to app1 and app1's signed answer back.
    assert rejected(check_reply(site, answer(site, site.genuine), ROGUE), Reason.UNKNOWN_KEY)


def test_a_certified_reply_relayed_by_a_rogue_in_the_cas_range_is_rejected(site: Site) -> None:
    relayed = answer(site, site.certified, certificate=site.certificate)
    assert rejected(check_reply(site, relayed, ROGUE_IN_CA_RANGE), Reason.CERT_WRONG_PRINCIPAL)


def test_a_rogue_certificate_for_another_key_is_rejected(site: Site) -> None:
    forged = answer(site, site.rogue, certificate=site.certificate)
    assert rejected(check_reply(site, forged, CERTIFIED), Reason.BAD_SIGNATURE)


def test_a_rogue_without_a_certificate_in_the_cas_range_is_rejected(site: Site) -> None:
    assert check_txt(site, announce(site, site.rogue), ROGUE_IN_CA_RANGE).outcome is Outcome.DEFERRED
    assert rejected(check_reply(site, answer(site, site.rogue), ROGUE_IN_CA_RANGE), Reason.UNKNOWN_KEY)


def test_a_certificate_from_an_untrusted_ca_is_rejected(site: Site, openssh: OpenSSH) -> None:
    line = openssh.certify(openssh.key("untrusted-ca"), openssh.key("rogue-host"), principals="10.0.1.66")
    cert = base64.b64decode(line.split()[1])
    verdict = check_reply(site, answer(site, site.rogue, certificate=cert), ROGUE_IN_CA_RANGE)
    assert rejected(verdict, Reason.CERT_UNTRUSTED_CA)


def test_an_expired_certificate_is_rejected(site: Site) -> None:
    late = T2025 + 10
    verdict = check_reply(
        site, answer(site, site.certified, certificate=site.certificate, now=late), CERTIFIED, now=late
    )
    assert rejected(verdict, Reason.CERT_EXPIRED)


def test_a_malformed_certificate_is_rejected(site: Site) -> None:
    damaged = dataclasses.replace(answer(site, site.certified), certificate=site.certificate[:-1])
    assert rejected(check_reply(site, damaged, CERTIFIED), Reason.CERT_MALFORMED)


@pytest.mark.parametrize("age_s", [-301.0, 1201.0, 5000.0])
def test_a_txt_with_a_stale_or_future_timestamp_is_rejected(site: Site, age_s: float) -> None:
    assert rejected(check_txt(site, announce(site, site.genuine, now=NOW - age_s), GENUINE), Reason.STALE)


@pytest.mark.parametrize("age_s", [-299.0, 0.0, 1199.0])
def test_a_txt_inside_its_freshness_window_is_accepted(site: Site, age_s: float) -> None:
    assert check_txt(site, announce(site, site.genuine, now=NOW - age_s), GENUINE).accepted


@pytest.mark.parametrize("skew_s,accepted", [(-301.0, False), (-299.0, True), (299.0, True), (301.0, False)])
def test_a_reply_timestamp_must_be_within_the_clock_skew(site: Site, skew_s: float, accepted: bool) -> None:
    verdict = check_reply(site, answer(site, site.genuine, now=NOW - skew_s), GENUINE)
    assert verdict.accepted is accepted
    assert accepted or verdict.reason is Reason.STALE


def test_a_malformed_txt_signature_is_rejected(site: Site) -> None:
    broken = {**announce(site, site.genuine), b"sig": b"A" * 10}
    assert rejected(check_txt(site, broken, GENUINE), Reason.MALFORMED)


# Revocation.


def test_a_revoked_host_key_is_rejected_even_when_listed(site: Site, openssh: OpenSSH) -> None:
    known = known_hosts.parse(site.known_hosts_text + f"@revoked * {openssh.key('app1-host').line}\n")
    assert rejected(check_reply(site, answer(site, site.genuine), GENUINE, known=known), Reason.REVOKED)
    assert rejected(check_txt(site, announce(site, site.genuine), GENUINE, known=known), Reason.REVOKED)


def test_a_revoked_ca_is_rejected(site: Site, openssh: OpenSSH) -> None:
    known = known_hosts.parse(site.known_hosts_text + f"@revoked * {openssh.key('site-ca').line}\n")
    verdict = check_reply(
        site, answer(site, site.certified, certificate=site.certificate), CERTIFIED, known=known
    )
    assert rejected(verdict, Reason.REVOKED)


def test_a_revoked_certified_key_is_rejected(site: Site, openssh: OpenSSH) -> None:
    known = known_hosts.parse(site.known_hosts_text + f"@revoked 10.0.1.6 {openssh.key('app2-host').line}\n")
    verdict = check_reply(
        site, answer(site, site.certified, certificate=site.certificate), CERTIFIED, known=known
    )
    assert rejected(verdict, Reason.REVOKED)


# Modes and helpers.


@pytest.mark.parametrize(
    "text,mode",
    [
        ("", Trust.ANY),
        ("# no keys\n", Trust.ANY),
        ("@revoked * {key}\n", Trust.ANY),
        ("app1 {key}\n", Trust.KNOWN_HOSTS),
        ("@cert-authority * {key}\n", Trust.KNOWN_HOSTS),
    ],
)
def test_auto_means_known_hosts_when_the_image_has_keys(openssh: OpenSSH, text: str, mode: Trust) -> None:
    known = known_hosts.parse(text.format(key=openssh.key("app1-host").line))
    assert verdicts.effective_mode(Trust.AUTO, known) is mode


def test_explicit_modes_are_kept_whatever_known_hosts_holds(site: Site) -> None:
    assert verdicts.effective_mode(Trust.ANY, site.known) is Trust.ANY
    assert verdicts.effective_mode(Trust.KNOWN_HOSTS, KnownHosts()) is Trust.KNOWN_HOSTS


def test_any_admits_a_rejected_server_and_known_hosts_does_not(site: Site) -> None:
    verdict = check_reply(site, answer(site, site.rogue), ROGUE)
    assert verdicts.admits(Trust.ANY, verdict) and not verdicts.admits(Trust.KNOWN_HOSTS, verdict)
    assert verdicts.worth_querying(Trust.ANY, verdict) and not verdicts.worth_querying(
        Trust.KNOWN_HOSTS, verdict
    )


def test_admits_refuses_an_unresolved_auto(site: Site) -> None:
    with pytest.raises(ValueError):
        verdicts.admits(Trust.AUTO, check_reply(site, answer(site, site.genuine), GENUINE))


def test_require_raises_trust_error_naming_the_reason(site: Site) -> None:
    check_reply(site, answer(site, site.genuine), GENUINE).require()
    with pytest.raises(TrustError, match="wrong nonce"):
        check_reply(site, answer(site, site.genuine), GENUINE, nonce=bytes(16)).require()


def test_request_size_grows_only_for_a_host_known_through_a_ca(site: Site) -> None:
    assert verdicts.request_size(site.known, GENUINE) == load_query.REQUEST_SIZE_BYTES
    assert verdicts.request_size(site.known, CERTIFIED) == signed_reply.CERT_REQUEST_SIZE_BYTES
    assert verdicts.request_size(site.known, ROGUE) == load_query.REQUEST_SIZE_BYTES


@pytest.mark.parametrize("kwargs", [{"address": "app1"}, {"address": "10.0.0.5", "ssh_port": 0}])
def test_peer_refuses_what_is_not_an_address_and_port(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Peer(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"max_skew_s": -1.0}, {"txt_max_age_s": float("nan")}])
def test_freshness_refuses_impossible_windows(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Freshness(**kwargs)


def test_a_stricter_freshness_is_honoured(site: Site) -> None:
    verdict = verdicts.check_reply(
        answer(site, site.genuine, now=NOW - 5),
        nonce=NONCE,
        peer=GENUINE,
        known_hosts=site.known,
        now=NOW,
        freshness=Freshness(max_skew_s=1.0),
    )
    assert rejected(verdict, Reason.STALE)


def test_no_single_bit_change_to_a_genuine_reply_is_accepted_unless_meaningless(site: Site) -> None:
    request = load_query.Request(load_query.Op.STATS, NONCE)
    datagram = signed_reply.reply_to(
        request,
        signed_reply.CERT_REQUEST_SIZE_BYTES,
        site.record(site.certified),
        NOW,
        key=site.certified,
        certificate=site.certificate,
    )
    assert datagram is not None
    original = signed_reply.decode(datagram)
    for bit in range(len(datagram) * 8):
        changed = bytearray(datagram)
        changed[bit // 8] ^= 1 << (bit % 8)
        try:
            decoded = signed_reply.decode(bytes(changed))
        except DecodeError:
            continue
        # The signature covers values, not bytes: a flip that re-encodes the same value (the
        # load 0.0 as float64 0xcb becoming the integer 0 as uint64 0xcf) is the same reply.
        if check_reply(site, decoded, CERTIFIED).accepted:
            assert decoded == original, f"bit {bit} changed the reply and was accepted"
