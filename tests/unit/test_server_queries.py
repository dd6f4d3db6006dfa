"""core/server/queries.py: the server's decision on one direct query, rule by rule."""

from __future__ import annotations

import dataclasses

import msgpack
from cryptography.hazmat.primitives.asymmetric import ed25519

from ltsp_mesh.core.codec import load_query
from ltsp_mesh.core.server import cookies, queries
from ltsp_mesh.core.server.claims import ClaimState, Verdict
from ltsp_mesh.core.server.cookies import CookieSecret
from ltsp_mesh.core.server.pending import PendingLedger
from ltsp_mesh.core.server.queries import Instant, Query, QueryState
from ltsp_mesh.core.trust import known_hosts, signed_reply
from tests import records

KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
SECRET = CookieSecret(bytes(range(100, 132)))
CLIENT = "10.0.0.200"
NONCE = bytes(range(16))
NOW = Instant(monotonic=50.0, wall=1_720_000_000.0)
RECORD = records.record(pending=0)


def state(*, draining: bool = False, signed: bool = False, ttl_s: float = 900.0) -> QueryState:
    claims = ClaimState.new(PendingLedger(ttl_s=ttl_s), known_hosts.KnownHosts(), strict=False, secret=SECRET)
    return QueryState(RECORD, draining, claims, queries.Signer(KEY) if signed else None)


def query(op: load_query.Op = load_query.Op.STATS, cookie: bytes = b"", pad_to: int = 512) -> Query:
    request = load_query.Request(op, NONCE, cookie=cookie)
    return Query(request, load_query.encode_request(request, pad_to=pad_to), CLIENT)


def reply_of(outcome: queries.Outcome) -> load_query.Reply:
    assert outcome.reply is not None
    return load_query.decode_reply(outcome.reply)


def test_a_stats_reply_carries_the_record_and_the_nonce() -> None:
    outcome, _ = queries.handle(query(), state(), NOW)
    reply = reply_of(outcome)
    assert (reply.record, reply.nonce, reply.timestamp) == (RECORD, NONCE, NOW.wall)


def test_a_stats_query_has_no_claim_verdict() -> None:
    outcome, _ = queries.handle(query(), state(), NOW)
    assert outcome.verdict is None


def test_a_reply_carries_a_cookie_for_the_source() -> None:
    reply = reply_of(queries.handle(query(), state(), NOW)[0])
    assert cookies.check(SECRET, CLIENT, reply.cookie, NOW.monotonic) is cookies.Check.VALID


def test_a_claim_with_the_cookie_from_a_reply_counts() -> None:
    st_ = state()
    cookie = reply_of(queries.handle(query(), st_, NOW)[0]).cookie
    outcome, after = queries.handle(query(load_query.Op.CLAIM, cookie), st_, NOW)
    assert outcome.verdict is Verdict.NEW and after.claims.ledger.count(NOW.monotonic) == 1


def test_a_counted_claim_shows_in_the_pend_of_its_own_reply() -> None:
    st_ = state()
    cookie = cookies.make(SECRET, CLIENT, NOW.monotonic)
    outcome, after = queries.handle(query(load_query.Op.CLAIM, cookie), st_, NOW)
    assert reply_of(outcome).record.pending == 1 and after.record.pending == 1


def test_a_claim_without_a_cookie_is_refused_and_still_answered() -> None:
    outcome, after = queries.handle(query(load_query.Op.CLAIM), state(), NOW)
    assert outcome.verdict is Verdict.COOKIE_MISSING
    assert reply_of(outcome).record.pending == 0 and after.claims.ledger.count(NOW.monotonic) == 0


def test_a_draining_server_refuses_the_claim() -> None:
    cookie = cookies.make(SECRET, CLIENT, NOW.monotonic)
    outcome, _ = queries.handle(query(load_query.Op.CLAIM, cookie), state(draining=True), NOW)
    assert outcome.verdict is Verdict.REFUSED_DRAINING and reply_of(outcome).record.pending == 0


def test_expired_claims_leave_pend_with_the_next_query() -> None:
    st_ = state(ttl_s=10.0)
    cookie = cookies.make(SECRET, CLIENT, NOW.monotonic)
    _, st_ = queries.handle(query(load_query.Op.CLAIM, cookie), st_, NOW)
    later = dataclasses.replace(NOW, monotonic=NOW.monotonic + 10.0)
    outcome, after = queries.handle(query(), st_, later)
    assert reply_of(outcome).record.pending == 0 and after.record.pending == 0


def test_a_malformed_relay_is_its_own_verdict() -> None:
    fields = load_query.unpack_map(query(load_query.Op.CLAIM).datagram, "test")
    fields.update({"c": "10.0.0.9", "rsig": b"short"})
    datagram = bytes(msgpack.packb(fields))
    outcome, _ = queries.handle(Query(load_query.decode_request(datagram), datagram, CLIENT), state(), NOW)
    assert outcome.verdict is Verdict.RELAY_MALFORMED


def test_a_reply_is_signed_with_the_host_key() -> None:
    outcome, _ = queries.handle(query(), state(signed=True), NOW)
    assert outcome.reply is not None
    assert signed_reply.verify_signature(signed_reply.decode(outcome.reply), KEY.public_key())


def test_a_signed_reply_carries_the_cookie_too() -> None:
    outcome, _ = queries.handle(query(), state(signed=True), NOW)
    assert outcome.reply is not None
    cookie = signed_reply.decode(outcome.reply).reply.cookie
    assert cookies.check(SECRET, CLIENT, cookie, NOW.monotonic) is cookies.Check.VALID


def test_an_unpadded_request_gets_no_reply() -> None:
    outcome, _ = queries.handle(query(pad_to=0), state(signed=True), NOW)
    assert outcome.reply is None


def test_no_reply_is_larger_than_its_request() -> None:
    for pad_to in range(0, 600, 7):
        q = query(pad_to=pad_to)
        for signed in (False, True):
            outcome, _ = queries.handle(q, state(signed=signed), NOW)
            assert outcome.reply is None or len(outcome.reply) <= len(q.datagram)
