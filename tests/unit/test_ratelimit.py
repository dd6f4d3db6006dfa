"""Per-source and global request budgets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ltsp_mesh.core.ratelimit import RateLimiter


def test_a_source_gets_its_burst_at_once_then_is_refused() -> None:
    limiter = RateLimiter(per_source_per_s=1, per_source_burst=5)
    assert [limiter.allow("10.0.0.5", 0.0) for _ in range(7)] == [True] * 5 + [False] * 2


def test_a_source_earns_back_tokens_at_its_rate() -> None:
    limiter = RateLimiter(per_source_per_s=2, per_source_burst=2)
    assert limiter.allow("a", 0.0) and limiter.allow("a", 0.0) and not limiter.allow("a", 0.0)
    assert limiter.allow("a", 0.5) and not limiter.allow("a", 0.5)


def test_one_flooding_source_does_not_starve_another() -> None:
    limiter = RateLimiter(per_source_per_s=1, per_source_burst=3)
    for _ in range(100):
        limiter.allow("flood", 1.0)
    assert limiter.allow("honest", 1.0)


def test_the_global_cap_bounds_many_sources_together() -> None:
    limiter = RateLimiter(per_source_per_s=100, per_source_burst=100, global_per_s=50)
    allowed = sum(limiter.allow(f"10.0.{i // 256}.{i % 256}", 0.0) for i in range(1000))
    assert allowed == 50


def test_the_table_of_sources_stays_bounded() -> None:
    limiter = RateLimiter(max_sources=100, global_per_s=1e9)
    for i in range(10_000):
        limiter.allow(f"src{i}", i * 0.001)
    assert len(limiter) == 100


@pytest.mark.parametrize(
    "bad",
    [{"per_source_per_s": 0}, {"per_source_burst": -1}, {"global_per_s": float("nan")}, {"max_sources": 0}],
)
def test_nonsense_limits_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RateLimiter(**bad)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(min_value=0, max_value=10)), max_size=300)
)
def test_no_source_ever_gets_more_than_its_burst_plus_what_it_earned(events: list[tuple[str, float]]) -> None:
    limiter = RateLimiter(per_source_per_s=2, per_source_burst=4, global_per_s=1e9)
    now = 0.0
    granted: dict[str, int] = {}
    for source, step in events:
        now += step
        granted[source] = granted.get(source, 0) + limiter.allow(source, now)
    for count in granted.values():
        assert count <= 4 + 2 * now + 1e-9
