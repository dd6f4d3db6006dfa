"""core/discovery/budget.py: a browse's records, bounded in all and shared fairly among sources."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.discovery.budget import MAX_RECORDS, MAX_RECORDS_PER_SOURCE, Offer, RecordBudget

from .strategies import PROPERTY


def fill(budget: RecordBudget[str], source: str, count: int, start: int = 0) -> list[Offer]:
    return [budget.offer(source, f"{source}#{i}") for i in range(start, start + count)]


def test_a_source_keeps_records_up_to_its_own_limit() -> None:
    budget: RecordBudget[str] = RecordBudget(total=100, per_source=3)
    assert fill(budget, "a", 4) == [Offer.KEPT] * 3 + [Offer.OVER_SOURCE_LIMIT]
    assert budget.held_by("a") == 3


def test_a_duplicate_from_the_same_source_costs_nothing() -> None:
    budget: RecordBudget[str] = RecordBudget(total=100, per_source=3)
    assert [budget.offer("a", "same") for _ in range(5)] == [Offer.KEPT] + [Offer.DUPLICATE] * 4
    assert budget.held_by("a") == 1


def test_when_full_a_newcomer_takes_the_place_of_the_largest_holders_newest_record() -> None:
    budget: RecordBudget[str] = RecordBudget(total=6, per_source=6)
    fill(budget, "flood", 6)
    assert budget.offer("server", "ptr") is Offer.KEPT_EVICTING
    assert budget.records() == [f"flood#{i}" for i in range(5)] + ["ptr"]


def test_when_full_the_largest_holder_itself_is_refused() -> None:
    budget: RecordBudget[str] = RecordBudget(total=6, per_source=10)
    fill(budget, "flood", 6)
    assert budget.offer("flood", "flood#6") is Offer.OVER_LIMIT
    assert len(budget) == 6


def test_twenty_flooding_sources_leave_every_late_server_its_records() -> None:
    # The numbers: 256 records from each of 20 sources, more than the whole budget.
    budget: RecordBudget[str] = RecordBudget()
    for source in range(20):
        fill(budget, f"10.0.0.{200 + source}", MAX_RECORDS_PER_SOURCE)
    for server in ("10.0.0.10", "10.0.0.11"):
        assert fill(budget, server, 4) == [Offer.KEPT_EVICTING] * 4
    assert len(budget) == MAX_RECORDS
    assert all(budget.held_by(s) == 4 for s in ("10.0.0.10", "10.0.0.11"))


def test_sources_at_their_fair_share_do_not_take_records_back_and_forth() -> None:
    budget: RecordBudget[str] = RecordBudget(total=4, per_source=4)
    fill(budget, "a", 2)
    fill(budget, "b", 2)
    assert budget.offer("a", "a#9") is Offer.OVER_LIMIT
    assert budget.offer("b", "b#9") is Offer.OVER_LIMIT


def test_records_come_back_in_the_order_they_arrived() -> None:
    budget: RecordBudget[str] = RecordBudget()
    for record in ("a1", "b1", "a2", "c1", "b2"):
        budget.offer(record[0], record)
    assert budget.records() == ["a1", "b1", "a2", "c1", "b2"]


def test_sources_past_the_limit_are_refused() -> None:
    budget: RecordBudget[str] = RecordBudget(sources=2)
    budget.offer("a", "a")
    budget.offer("b", "b")
    assert budget.offer("c", "c") is Offer.TOO_MANY_SOURCES
    assert budget.held_by("c") == 0


def test_saturated_says_a_source_could_keep_nothing_more() -> None:
    budget: RecordBudget[str] = RecordBudget(total=6, per_source=4, sources=2)
    fill(budget, "a", 4)
    assert budget.saturated("a")  # at its own limit
    fill(budget, "b", 2)
    assert budget.saturated("c")  # no room for a third source
    assert not budget.saturated("b")  # a holds two more: b may take one of a's
    budget.offer("b", "b#9")
    assert budget.saturated("b") and budget.saturated("a")  # full and even: both wait


@pytest.mark.parametrize("limits", [{"total": 0}, {"per_source": 0}, {"sources": 0}])
def test_a_budget_needs_room_for_at_least_one_record(limits: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RecordBudget(**limits)


OFFERS = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 40)), max_size=300)


@given(OFFERS)
@PROPERTY
def test_no_offers_ever_exceed_the_limits(offers: list[tuple[int, int]]) -> None:
    budget: RecordBudget[tuple[int, int]] = RecordBudget(total=24, per_source=10, sources=4)
    for source, record in offers:
        budget.offer(str(source), (source, record))
    assert len(budget) == len(budget.records()) <= 24
    assert all(budget.held_by(str(s)) <= 10 for s in range(6))
    assert sum(budget.held_by(str(s)) > 0 for s in range(6)) <= 4


@given(OFFERS)
@PROPERTY
def test_every_source_keeps_what_it_sent_or_nearly_a_fair_share(offers: list[tuple[int, int]]) -> None:
    # Max-min fairness: a source loses records only to sources that hold at most one more.
    total, sources = 24, 6
    budget: RecordBudget[tuple[int, int]] = RecordBudget(total=total, per_source=total, sources=sources)
    sent: dict[str, set[tuple[int, int]]] = {}
    for source, record in offers:
        budget.offer(str(source), (source, record))
        sent.setdefault(str(source), set()).add((source, record))
    for source, distinct in sent.items():
        assert budget.held_by(source) >= min(len(distinct), total // len(sent) - 1)
