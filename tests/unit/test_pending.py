"""core/server/pending.py: claims are counted, expire, settle on a session, and cannot be inflated."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltsp_mesh.core.server.pending import DEFAULT_CLAIM_TTL_S, ClaimOutcome, PendingLedger, client_key

T0 = 1000.0


def test_a_claim_is_counted() -> None:
    ledger = PendingLedger()
    assert ledger.claim("10.0.0.5", T0) is ClaimOutcome.NEW
    assert ledger.count(T0) == 1


def test_a_claim_expires_after_the_ttl() -> None:
    ledger = PendingLedger(ttl_s=300.0)
    ledger.claim("10.0.0.5", T0)
    assert ledger.count(T0 + 299.9) == 1
    assert ledger.count(T0 + 300.0) == 0


def test_default_ttl_covers_a_lesson_change_but_not_a_lesson() -> None:
    # From the greeter appearing (a logout) to the next login, up to twenty minutes; a phantom
    # claim must not outlive a lesson.
    assert 600.0 <= DEFAULT_CLAIM_TTL_S <= 1800.0


def test_claims_from_different_clients_add_up() -> None:
    ledger = PendingLedger()
    for i in range(5):
        ledger.claim(f"10.0.0.{i}", T0 + i)
    assert ledger.count(T0 + 5) == 5


def test_one_client_repeating_its_claim_10000_times_counts_once() -> None:
    ledger = PendingLedger()
    outcomes = {ledger.claim("10.0.0.5", T0 + i / 100) for i in range(10_000)}
    assert outcomes == {ClaimOutcome.NEW, ClaimOutcome.RENEWED}
    assert ledger.count(T0 + 100) == 1


def test_a_repeated_claim_renews_the_expiry() -> None:
    ledger = PendingLedger(ttl_s=300.0)
    ledger.claim("10.0.0.5", T0)
    assert ledger.claim("10.0.0.5", T0 + 200) is ClaimOutcome.RENEWED
    assert ledger.count(T0 + 450) == 1
    assert ledger.count(T0 + 500) == 0


def test_renewal_keeps_expiry_order_for_the_other_claims() -> None:
    ledger = PendingLedger(ttl_s=100.0)
    ledger.claim("a", T0)
    ledger.claim("b", T0 + 10)
    ledger.claim("a", T0 + 50)
    assert ledger.clients(T0 + 120) == ("a",)


def test_a_session_from_the_client_settles_its_claim() -> None:
    ledger = PendingLedger()
    ledger.claim("10.0.0.5", T0)
    ledger.claim("10.0.0.6", T0)
    assert ledger.settle(["10.0.0.5", "", "10.0.0.5"]) == 1
    assert ledger.clients(T0) == ("10.0.0.6",)


def test_a_session_from_another_host_settles_nothing() -> None:
    ledger = PendingLedger()
    ledger.claim("10.0.0.5", T0)
    assert ledger.settle(["10.0.0.50", "ws5"]) == 0
    assert ledger.count(T0) == 1


def test_ipv4_mapped_source_matches_the_utmp_ipv4_host() -> None:
    ledger = PendingLedger()
    ledger.claim("::ffff:10.0.0.5", T0)
    assert ledger.settle(["10.0.0.5"]) == 1


def test_client_key_spells_each_client_one_way() -> None:
    assert client_key(" ::FFFF:10.0.0.5 ") == "10.0.0.5"
    assert client_key("2001:DB8:0:0::1") == "2001:db8::1"
    assert client_key("WS5.Example") == "ws5.example"


def test_a_full_ledger_refuses_new_clients_but_renews_existing_ones() -> None:
    ledger = PendingLedger(max_claims=3)
    for i in range(3):
        ledger.claim(f"10.0.0.{i}", T0)
    assert ledger.claim("10.0.0.9", T0 + 1) is ClaimOutcome.REFUSED_FULL
    assert ledger.claim("10.0.0.1", T0 + 1) is ClaimOutcome.RENEWED
    assert ledger.count(T0 + 1) == 3


def test_expired_claims_make_room_in_a_full_ledger() -> None:
    ledger = PendingLedger(ttl_s=10.0, max_claims=1)
    ledger.claim("a", T0)
    assert ledger.claim("b", T0 + 10) is ClaimOutcome.NEW


def test_time_going_backwards_is_a_value_error() -> None:
    ledger = PendingLedger()
    ledger.claim("a", T0)
    with pytest.raises(ValueError, match="monotonic"):
        ledger.count(T0 - 1)


@pytest.mark.parametrize("kwargs", [{"ttl_s": 0.0}, {"ttl_s": float("inf")}, {"max_claims": 0}])
def test_bad_parameters_are_value_errors(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        PendingLedger(**kwargs)  # type: ignore[arg-type]


def test_an_empty_client_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a source address"):
        PendingLedger().claim("", T0)


operations = st.lists(
    st.tuples(
        st.sampled_from(["claim", "settle", "count"]),
        st.sampled_from(["a", "b", "c", "d", "e"]),
        st.floats(0.0, 120.0),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations, st.integers(1, 5))
def test_count_matches_a_simple_model(ops: list[tuple[str, str, float]], cap: int) -> None:
    ttl = 100.0
    ledger = PendingLedger(ttl_s=ttl, max_claims=cap)
    model: dict[str, float] = {}
    now = T0
    for op, client, step in ops:
        now += step
        model = {c: t for c, t in model.items() if t > now}
        if op == "claim":
            if client in model or len(model) < cap:
                model[client] = now + ttl
            ledger.claim(client, now)
        elif op == "settle":
            model.pop(client, None)
            ledger.settle([client])
        assert ledger.count(now) == len(model) <= cap


def test_holds_tells_a_live_claim_from_an_expired_one() -> None:
    ledger = PendingLedger(ttl_s=10.0)
    ledger.claim("10.0.0.5", T0)
    assert ledger.holds("10.0.0.5", T0 + 9.9) and not ledger.holds("10.0.0.6", T0 + 9.9)
    assert not ledger.holds("10.0.0.5", T0 + 10.0)
