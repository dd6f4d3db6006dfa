"""core/broker/view.py: the broker's view, its picks in flight, and when it must refresh."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.broker.view import (
    ANSWER_TTL_S,
    FRESH_S,
    MAX_PICKS,
    PICK_HOLD_S,
    REFRESH_AHEAD_S,
    MeshView,
)
from tests.unit.fleet import server

A, B = server("a", pending=1), server("b")


def view_of(*answers: object, now: float = 0.0) -> MeshView:
    view = MeshView()
    view.refreshed([(a.discovered.instance, a) for a in answers], now)  # type: ignore[attr-defined]
    return view


def pending(view: MeshView, now: float) -> dict[str, int]:
    return {key.split(".")[0]: a.record.pending for key, a in view.servers(now)}


def test_a_pick_counts_as_pending_at_once() -> None:
    view = view_of(A, B)
    view.pick("10.0.0.9", A.discovered.instance, 0.1)
    assert pending(view, 0.1) == {"a": 2, "b": 0}


def test_a_client_that_asks_again_moves_its_pick_and_never_counts_twice() -> None:
    view = view_of(A, B)
    view.pick("10.0.0.9", A.discovered.instance, 0.1)
    view.pick("10.0.0.9", A.discovered.instance, 0.2)
    assert pending(view, 0.2) == {"a": 2, "b": 0}
    view.pick("10.0.0.9", B.discovered.instance, 0.3)
    assert pending(view, 0.3) == {"a": 1, "b": 1}


def test_an_acknowledged_claim_replaces_the_pick_with_the_servers_own_count() -> None:
    view = view_of(A, B)
    view.pick("10.0.0.9", B.discovered.instance, 0.1)
    view.acknowledge("10.0.0.9", B.discovered.instance, server("b", pending=1), 0.2)
    assert pending(view, 0.2) == {"a": 1, "b": 1}


def test_a_pick_with_no_answer_is_dropped_after_the_hold_time() -> None:
    view = view_of(A, B)
    view.pick("10.0.0.9", B.discovered.instance, 0.1)
    assert pending(view, 0.1 + PICK_HOLD_S - 0.01)["b"] == 1
    assert pending(view, 0.1 + PICK_HOLD_S)["b"] == 0


def test_a_server_missing_from_a_refresh_is_gone_with_its_picks() -> None:
    view = view_of(A, B)
    view.pick("10.0.0.9", B.discovered.instance, 0.1)
    view.refreshed([(A.discovered.instance, A)], 0.5)
    assert pending(view, 0.5) == {"a": 1}
    assert view.in_flight(0.5) == {}


def test_a_late_answer_puts_a_server_back() -> None:
    view = view_of(A)
    view.observe(B.discovered.instance, B, 0.1)
    assert set(pending(view, 0.1)) == {"a", "b"}


def test_a_server_whose_last_answer_is_older_than_its_ttl_is_never_handed_out() -> None:
    view = view_of(A, B)
    assert set(pending(view, ANSWER_TTL_S)) == {"a", "b"}
    assert pending(view, ANSWER_TTL_S + 0.01) == {}


def test_a_broker_asked_after_a_quiet_minute_lists_only_servers_that_answered_since() -> None:
    view = view_of(A, B)
    view.observe(A.discovered.instance, A, 60.0)  # its refresh has heard from a, not yet from b
    assert pending(view, 60.1) == {"a": 1}


def test_a_claims_reply_keeps_its_server_listed_for_another_ttl() -> None:
    view = view_of(A, B)
    view.acknowledge("10.0.0.9", B.discovered.instance, B, ANSWER_TTL_S - 0.5)
    assert set(pending(view, ANSWER_TTL_S + 0.5)) == {"b"}


def test_a_goodbye_removes_a_server_at_once() -> None:
    view = view_of(A, B)
    view.forget(A.discovered.instance, 0.1)
    assert set(pending(view, 0.1)) == {"b"}


def test_picking_a_server_outside_the_view_is_a_bug() -> None:
    with pytest.raises(ValueError):
        view_of(A).pick("10.0.0.9", "nowhere", 0.1)


def test_picks_in_flight_are_bounded() -> None:
    view = MeshView(max_picks=3)
    view.refreshed([(A.discovered.instance, A)], 0.0)
    assert all(view.pick(f"10.0.0.{i}", A.discovered.instance, 0.1) for i in range(3))
    assert not view.pick("10.0.0.99", A.discovered.instance, 0.1)
    assert view.pick("10.0.0.1", A.discovered.instance, 0.2)  # a client already counted may move
    assert MAX_PICKS >= 1400  # Rudolfo's whole site fits


def test_a_new_view_must_refresh_before_it_answers() -> None:
    view = MeshView()
    assert view.needs_refresh(0.0) and not view.fresh(0.0)


def test_the_refresh_starts_ahead_of_the_view_going_stale() -> None:
    view = view_of(A, now=10.0)
    assert view.fresh(10.0 + REFRESH_AHEAD_S) and view.needs_refresh(10.0 + REFRESH_AHEAD_S)
    assert not view.needs_refresh(10.0 + REFRESH_AHEAD_S - 0.01)
    assert not view.fresh(10.0 + FRESH_S)


def test_time_going_back_is_a_bug() -> None:
    view = view_of(A, now=5.0)
    with pytest.raises(ValueError):
        view.servers(4.0)


@given(st.lists(st.tuples(st.integers(0, 20), st.sampled_from("ab"), st.integers(0, 50)), max_size=60))
def test_in_flight_picks_never_exceed_the_clients_that_picked(picks: list[tuple[int, str, int]]) -> None:
    view = view_of(A, B)
    now = 0.0
    for client, name, step_ms in picks:
        now += step_ms / 1000
        view.pick(f"10.0.0.{client}", server(name).discovered.instance, now)
        counts = view.in_flight(now)
        assert sum(counts.values()) <= len({c for c, _, _ in picks})


OPS = st.lists(
    st.tuples(
        st.sampled_from(["pick", "ack", "refresh_without_b", "refresh_all", "forget_a"]),
        st.integers(0, 6),
        st.sampled_from("ab"),
        st.integers(0, 600),
    ),
    max_size=80,
)


@given(OPS)
def test_the_kept_counts_always_equal_the_picks_recounted_from_scratch(
    ops: list[tuple[str, int, str, int]],
) -> None:
    view = view_of(A, B)
    picks: dict[str, tuple[str, float]] = {}  # the model: client -> (server, when)
    servers = {"a": A, "b": B}
    answered_at = {"a": 0.0, "b": 0.0}
    now = 0.0
    for op, client_n, name, step_ms in ops:
        now += step_ms / 1000
        client, key = f"10.0.0.{client_n}", server(name).discovered.instance
        picks = {c: p for c, p in picks.items() if now - p[1] < PICK_HOLD_S}
        if op == "pick" and name in servers:
            view.pick(client, key, now)
            picks[client] = (name, now)
        elif op == "ack":
            view.acknowledge(client, key, None, now)
            if picks.get(client, ("", 0.0))[0] == name:
                del picks[client]
        elif op in ("refresh_without_b", "refresh_all"):
            servers = {"a": A} if op == "refresh_without_b" else {"a": A, "b": B}
            view.refreshed([(s.discovered.instance, s) for s in servers.values()], now)
            answered_at = dict.fromkeys(servers, now)
            picks = {c: p for c, p in picks.items() if p[0] in servers}
        elif op == "forget_a":
            view.forget(A.discovered.instance, now)
            servers.pop("a", None)
            picks = {c: p for c, p in picks.items() if p[0] != "a"}
        expected = {
            n: base.record.pending + sum(1 for p in picks.values() if p[0] == n)
            for n, base in servers.items()
            if now - answered_at[n] <= ANSWER_TTL_S
        }
        assert pending(view, now) == expected
