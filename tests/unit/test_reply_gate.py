"""core/server/reply_gate.py: replies go out only where the kernel can send them now."""

from __future__ import annotations

import pytest

from ltsp_mesh.core.server import reply_gate
from ltsp_mesh.core.server.reply_gate import Reach, ReachCache, Verdict

RESERVE = 100_000


@pytest.mark.parametrize(
    "state",
    [
        reply_gate.NUD_REACHABLE,
        reply_gate.NUD_STALE,
        reply_gate.NUD_DELAY,
        reply_gate.NUD_PROBE,
        reply_gate.NUD_PERMANENT,
        reply_gate.NUD_NOARP,
    ],
)
def test_a_resolved_neighbour_is_resolved(state: int) -> None:
    assert reply_gate.reach_of(state) is Reach.RESOLVED


def test_an_incomplete_neighbour_is_being_resolved() -> None:
    assert reply_gate.reach_of(reply_gate.NUD_INCOMPLETE) is Reach.RESOLVING


@pytest.mark.parametrize("state", [None, 0, reply_gate.NUD_FAILED])
def test_no_entry_or_a_failed_one_is_unknown(state: int | None) -> None:
    assert reply_gate.reach_of(state) is Reach.UNKNOWN


def test_this_hosts_own_address_is_resolved() -> None:
    assert reply_gate.reach_of(None, local=True) is Reach.RESOLVED


def test_rule_1_a_resolved_next_hop_is_sent_to_even_with_a_full_socket() -> None:
    assert reply_gate.decide(Reach.RESOLVED, 10 * RESERVE, RESERVE) is Verdict.SEND


def test_rule_2_a_next_hop_being_resolved_gets_no_more_replies() -> None:
    assert reply_gate.decide(Reach.RESOLVING, 0, RESERVE) is Verdict.UNRESOLVED


def test_rule_3_an_unknown_next_hop_gets_a_reply_while_under_the_reserve() -> None:
    assert reply_gate.decide(Reach.UNKNOWN, RESERVE - 1, RESERVE) is Verdict.SEND


def test_rule_3_an_unknown_next_hop_gets_none_at_the_reserve() -> None:
    assert reply_gate.decide(Reach.UNKNOWN, RESERVE, RESERVE) is Verdict.OVER_RESERVE


def test_a_reply_sent_to_an_unknown_next_hop_makes_it_resolving() -> None:
    assert reply_gate.after(Reach.UNKNOWN, Verdict.SEND) is Reach.RESOLVING
    assert reply_gate.after(Reach.UNKNOWN, Verdict.OVER_RESERVE) is Reach.UNKNOWN
    assert reply_gate.after(Reach.RESOLVED, Verdict.SEND) is Reach.RESOLVED


def test_what_was_learnt_is_kept_until_it_must_be_checked_again() -> None:
    cache = ReachCache(recheck_s=1.0)
    cache.put("10.0.0.5", Reach.RESOLVING, 10.0)
    assert cache.get("10.0.0.5", 10.99) is Reach.RESOLVING
    assert cache.get("10.0.0.5", 11.0) is None


def test_a_source_never_seen_must_be_looked_up() -> None:
    assert ReachCache().get("10.0.0.5", 0.0) is None


def test_the_cache_forgets_the_least_recently_seen_beyond_its_bound() -> None:
    cache = ReachCache(max_sources=3)
    for i in range(3):
        cache.put(f"10.0.0.{i}", Reach.RESOLVED, 1.0)
    assert cache.get("10.0.0.0", 1.0) is Reach.RESOLVED  # seen again: now the most recent
    cache.put("10.0.0.9", Reach.RESOLVED, 1.0)
    assert len(cache) == 3
    assert cache.get("10.0.0.1", 1.0) is None and cache.get("10.0.0.0", 1.0) is Reach.RESOLVED


def test_a_clock_that_went_back_means_look_again() -> None:
    cache = ReachCache()
    cache.put("10.0.0.5", Reach.RESOLVED, 10.0)
    assert cache.get("10.0.0.5", 9.0) is None


@pytest.mark.parametrize("bad", [{"recheck_s": 0.0}, {"max_sources": 0}])
def test_a_cache_without_room_or_time_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ReachCache(**bad)  # type: ignore[arg-type]
