"""core/server/claims.py: a server's decision on one claim, rule by rule."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from ltsp_mesh.core.broker import relay
from ltsp_mesh.core.codec import load_query
from ltsp_mesh.core.server import claims, cookies
from ltsp_mesh.core.server.claims import ClaimState, Verdict
from ltsp_mesh.core.server.cookies import CookieSecret
from ltsp_mesh.core.server.pending import PendingLedger
from ltsp_mesh.core.trust import known_hosts, ssh_keys

MEMBER_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ROGUE_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
MEMBER, ROGUE, CLIENT = "10.0.0.5", "10.0.0.66", "10.0.0.200"
NONCE = bytes(range(16))
WALL = 1_720_000_000.0
SECRET = CookieSecret(bytes(range(100, 132)))
SITE = known_hosts.parse(
    known_hosts.format_known_hosts(
        [known_hosts.Listing((MEMBER,), ssh_keys.ed25519_public_key(MEMBER_KEY.public_key()))]
    )
)


def state(strict: bool = True) -> ClaimState:
    return ClaimState.new(
        PendingLedger(ttl_s=900),
        SITE if strict else known_hosts.KnownHosts(),
        strict=strict,
        secret=SECRET,
    )


def cookie_for(source: str, now: float = 1.0) -> bytes:
    return cookies.make(SECRET, source, now)


def claim(datagram: bytes, source: str, st_: ClaimState, now: float = 1.0, draining: bool = False) -> Verdict:
    request = load_query.decode_request(datagram)
    return claims.admit(
        request,
        relay.decode(datagram, request),
        source=source,
        draining=draining,
        state=st_,
        now=now,
        wall_now=WALL,
    )


def relayed(
    client: str = CLIENT,
    key: ed25519.Ed25519PrivateKey | None = MEMBER_KEY,
    at: float = WALL,
    nonce: bytes = NONCE,
    cookie: bytes = b"",
) -> bytes:
    return relay.encode(client, nonce, at, key=key, cookie=cookie)


def plain(cookie: bytes = b"") -> bytes:
    return load_query.encode_request(load_query.Request(load_query.Op.CLAIM, NONCE, cookie=cookie))


# -- rule 1: draining ---------------------------------------------------------------------
def test_a_draining_server_takes_no_claim() -> None:
    st_ = state()
    assert claim(relayed(), MEMBER, st_, draining=True) is Verdict.REFUSED_DRAINING
    assert claim(plain(cookie_for(CLIENT)), CLIENT, st_, draining=True) is Verdict.REFUSED_DRAINING
    assert st_.ledger.count(1.0) == 0


# -- rule 2: a client's own claim needs its cookie ----------------------------------------
def test_a_plain_claim_with_its_cookie_is_keyed_by_its_source() -> None:
    st_ = state()
    assert claim(plain(cookie_for(CLIENT)), CLIENT, st_) is Verdict.NEW
    assert st_.ledger.clients(1.0) == (CLIENT,)


def test_a_plain_claim_without_a_cookie_is_refused() -> None:
    st_ = state()
    assert claim(plain(), CLIENT, st_) is Verdict.COOKIE_MISSING
    assert st_.ledger.count(1.0) == 0


def test_a_cookie_made_for_another_address_is_refused() -> None:
    st_ = state()
    assert claim(plain(cookie_for(ROGUE)), CLIENT, st_) is Verdict.COOKIE_INVALID
    assert st_.ledger.count(1.0) == 0


def test_a_cookie_from_another_server_process_is_refused() -> None:
    other = cookies.make(CookieSecret(bytes(32)), CLIENT, 1.0)
    assert claim(plain(other), CLIENT, state()) is Verdict.COOKIE_INVALID


def test_a_cookie_outlives_one_window_but_not_two() -> None:
    made = cookie_for(CLIENT, now=1.0)
    assert claim(plain(made), CLIENT, state(), now=1.0 + cookies.WINDOW_S) is Verdict.NEW
    assert claim(plain(made), CLIENT, state(), now=1.0 + 2 * cookies.WINDOW_S) is Verdict.COOKIE_INVALID


def test_a_claim_naming_its_own_source_is_the_clients_own() -> None:
    st_ = state()
    assert claim(relayed(client=ROGUE, key=None, cookie=cookie_for(ROGUE)), ROGUE, st_) is Verdict.NEW
    assert st_.ledger.clients(1.0) == (ROGUE,)


def test_a_claim_naming_its_own_source_needs_its_cookie() -> None:
    assert claim(relayed(client=ROGUE, key=None), ROGUE, state()) is Verdict.COOKIE_MISSING


def test_spoofed_claims_count_nothing_and_spend_no_budget() -> None:
    # 120 sources that never saw a reply: none counts, and the global claim budget is intact
    # for the honest client that follows.
    st_ = state(strict=False)
    verdicts = [claim(plain(), f"10.0.3.{i}", st_) for i in range(120)]
    assert set(verdicts) == {Verdict.COOKIE_MISSING} and st_.ledger.count(1.0) == 0
    assert claim(plain(cookie_for(CLIENT)), CLIENT, st_) is Verdict.NEW


def test_clients_own_claims_keep_the_strict_budget() -> None:
    st_ = state(strict=False)
    verdicts = [claim(plain(cookie_for(f"10.0.2.{i}")), f"10.0.2.{i}", st_) for i in range(20)]
    assert verdicts.count(Verdict.NEW) == int(claims.CLAIMS_PER_S)  # the global cap of plain claims


# -- rule 3: relayed claims ---------------------------------------------------------------
def test_a_members_claim_counts_for_the_client_not_the_broker() -> None:
    st_ = state()
    assert claim(relayed(), MEMBER, st_) is Verdict.NEW
    assert st_.ledger.clients(1.0) == (CLIENT,)


def test_one_member_relays_for_many_clients() -> None:
    st_ = state()
    for i in range(100):
        assert claim(relayed(client=f"10.0.1.{i}"), MEMBER, st_, now=1.0 + i / 100) is Verdict.NEW
    assert st_.ledger.count(3.0) == 100


@pytest.mark.parametrize(
    "datagram",
    [relayed(key=ROGUE_KEY), relayed(key=None)],
    ids=["signed by a key not listed", "unsigned"],
)
def test_a_non_member_cannot_claim_for_others_under_known_hosts_trust(datagram: bytes) -> None:
    st_ = state()
    assert claim(datagram, ROGUE, st_) is Verdict.RELAY_UNTRUSTED
    assert st_.ledger.count(1.0) == 0


def test_under_known_hosts_trust_a_cookie_does_not_stand_for_a_members_signature() -> None:
    assert claim(relayed(key=None, cookie=cookie_for(ROGUE)), ROGUE, state()) is Verdict.RELAY_UNTRUSTED


def test_a_members_signature_from_another_address_is_not_believed() -> None:
    # A rogue replaying a member's signed claim from its own address.
    assert claim(relayed(), ROGUE, state()) is Verdict.RELAY_UNTRUSTED


def test_a_stale_signature_is_not_believed() -> None:
    assert claim(relayed(at=WALL - 3600), MEMBER, state()) is Verdict.RELAY_UNTRUSTED


def test_a_changed_client_breaks_the_signature() -> None:
    fields: dict[str, Any] = msgpack.unpackb(relayed(), raw=False)
    fields["c"] = "10.0.0.201"
    assert claim(msgpack.packb(fields), MEMBER, state()) is Verdict.RELAY_UNTRUSTED


def test_a_relayed_claim_must_name_an_address() -> None:
    assert claim(relayed(client="not-an-address"), MEMBER, state()) is Verdict.RELAY_MALFORMED


def test_under_trust_any_a_relayed_claim_needs_the_relaying_addresss_cookie() -> None:
    st_ = state(strict=False)
    assert claim(relayed(key=None), ROGUE, st_) is Verdict.COOKIE_MISSING
    assert claim(relayed(key=ROGUE_KEY), ROGUE, st_) is Verdict.COOKIE_MISSING
    assert claim(relayed(key=None, cookie=cookie_for(CLIENT)), ROGUE, st_) is Verdict.COOKIE_INVALID
    assert st_.ledger.count(1.0) == 0


def test_under_trust_any_relayed_claims_count_within_the_relaying_sources_budget() -> None:
    st_ = state(strict=False)
    cookie = cookie_for(ROGUE)
    verdicts = [
        claim(relayed(client=f"10.{i // 250}.1.{i % 250}", key=None, cookie=cookie), ROGUE, st_)
        for i in range(300)
    ]
    assert verdicts.count(Verdict.NEW) == int(claims.MEMBER_CLAIMS_BURST)
    assert verdicts[-1] is Verdict.RATE_LIMITED and st_.ledger.count(1.0) == int(claims.MEMBER_CLAIMS_BURST)


def test_a_members_budget_is_bounded_too() -> None:
    st_ = state()
    verdicts = [claim(relayed(client=f"10.{i // 250}.1.{i % 250}"), MEMBER, st_) for i in range(300)]
    assert verdicts.count(Verdict.NEW) == int(claims.MEMBER_CLAIMS_BURST)


# -- rules 4 and 5: renewals and the ledger -----------------------------------------------
def test_repeated_claims_for_one_client_count_once() -> None:
    st_ = state()
    verdicts = [claim(relayed(nonce=bytes([i]) * 16), MEMBER, st_, now=1.0 + i) for i in range(5)]
    assert verdicts == [Verdict.NEW] + [Verdict.RENEWED] * 4 and st_.ledger.count(6.0) == 1


def test_renewing_a_live_claim_spends_no_budget() -> None:
    st_ = state(strict=False)
    for _ in range(20):
        assert claim(relayed(key=None, cookie=cookie_for(ROGUE)), ROGUE, st_) in (
            Verdict.NEW,
            Verdict.RENEWED,
        )


def test_a_full_ledger_refuses_new_clients() -> None:
    st_ = ClaimState.new(PendingLedger(ttl_s=900, max_claims=1), SITE, strict=True, secret=SECRET)
    assert claim(relayed(client="10.0.1.1"), MEMBER, st_) is Verdict.NEW
    assert claim(relayed(client="10.0.1.2"), MEMBER, st_) is Verdict.REFUSED_FULL
