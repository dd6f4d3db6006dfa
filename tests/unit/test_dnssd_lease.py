"""core/discovery/dnssd_lease.py: TTL, renewal, retry, TXT rate and the rule that judges a peer dead."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.discovery import dnssd_lease
from ltsp_mesh.core.discovery.dnssd_lease import StaleWatch
from ltsp_mesh.core.discovery.dnssd_zone import Stamp
from ltsp_mesh.errors import DecodeError

from .strategies import PROPERTY

LEASE = 600


def stamp(token: str, lease_s: int = LEASE) -> Stamp:
    return Stamp(lease_s, token.encode() * 8)


# --- TTL, renewal, retries ------------------------------------------------------------------


def test_ttl_is_a_minute_and_never_longer_than_the_lease() -> None:
    assert dnssd_lease.ttl_for(600) == 60
    assert dnssd_lease.ttl_for(4) == 4


@pytest.mark.parametrize("lease_s", [0, 1, 86_401, -5])
def test_unusable_leases_are_refused(lease_s: int) -> None:
    with pytest.raises(ValueError):
        dnssd_lease.check_lease(lease_s)


class _Fixed(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.value


def test_renewal_comes_at_half_the_lease_less_up_to_a_tenth() -> None:
    assert dnssd_lease.renew_after(600, None, _Fixed(1.0)) == 300
    assert dnssd_lease.renew_after(600, None, _Fixed(0.0)) == 270


def test_renewal_follows_a_shorter_granted_lease_and_ignores_a_longer_one() -> None:
    assert dnssd_lease.renew_after(600, 120, _Fixed(1.0)) == 60
    assert dnssd_lease.renew_after(600, 7200, _Fixed(1.0)) == 300
    assert dnssd_lease.renew_after(600, 0, _Fixed(1.0)) == 300  # a zero lease is no lease


def test_servers_that_start_together_drift_apart() -> None:
    rng = random.Random(7)
    assert len({round(dnssd_lease.renew_after(600, None, rng), 3) for _ in range(10)}) == 10


def test_a_signed_txt_is_renewed_well_before_clients_call_it_old() -> None:
    # core/trust/verdicts.py refuses TXT signatures older than 900 s; a renewal re-signs.
    worst = dnssd_lease.renew_after(dnssd_lease.DEFAULT_LEASE_S, None, _Fixed(1.0))
    assert worst + dnssd_lease.DEFAULT_TTL_S < 900


def test_retries_double_up_to_a_minute() -> None:
    rng = random.Random(1)
    delays = [dnssd_lease.retry_after(n, 3600, rng) for n in range(1, 10)]
    assert 0.75 <= delays[0] <= 1.0 and 1.5 <= delays[1] <= 2.0
    assert all(45 <= d <= 60 for d in delays[6:])


def test_retries_come_before_any_peer_could_judge_the_server_dead() -> None:
    rng = random.Random(2)
    assert max(dnssd_lease.retry_after(n, 4, rng) for n in range(1, 40)) <= 2


def test_retry_after_needs_a_failure() -> None:
    with pytest.raises(ValueError):
        dnssd_lease.retry_after(0, LEASE, random.Random(0))


def test_a_changed_txt_waits_out_the_rate_limit() -> None:
    assert dnssd_lease.txt_due(None, 100.0) == 100.0
    assert dnssd_lease.txt_due(90.0, 100.0) == 120.0
    assert dnssd_lease.txt_due(50.0, 100.0) == 100.0


# --- the RFC 9664 option --------------------------------------------------------------------


def test_lease_option_round_trips() -> None:
    assert dnssd_lease.encode_lease_option(600) == b"\x00\x00\x02\x58"
    assert dnssd_lease.decode_lease_option(b"\x00\x00\x02\x58") == 600
    assert dnssd_lease.decode_lease_option(b"\x00\x00\x0e\x10\x00\x01\x51\x80") == 3600  # with KEY-LEASE


@pytest.mark.parametrize("data", [b"", b"\x00\x00\x02", b"\x00" * 5, b"\x00" * 9])
def test_malformed_lease_options_are_decode_errors(data: bytes) -> None:
    with pytest.raises(DecodeError):
        dnssd_lease.decode_lease_option(data)


# --- judging peers dead ---------------------------------------------------------------------


def test_a_peer_whose_stamp_stands_still_for_one_and_a_half_leases_is_stale() -> None:
    watch: StaleWatch[str] = StaleWatch()
    assert watch.observe({"b": stamp("a")}, now=0.0) == []
    assert watch.observe({"b": stamp("a")}, now=900.0) == []  # exactly 1.5 leases: not yet
    assert watch.observe({"b": stamp("a")}, now=901.0) == ["b"]


def test_a_renewing_peer_is_never_stale() -> None:
    watch: StaleWatch[str] = StaleWatch()
    for n in range(20):
        assert watch.observe({"b": stamp("ab"[n % 2])}, now=n * 300.0) == []


def test_the_clock_starts_when_a_watcher_first_sees_a_stamp() -> None:
    # A watcher that just started cannot know how old a stamp is: it waits a full 1.5 leases.
    watch: StaleWatch[str] = StaleWatch()
    watch.observe({"b": stamp("a")}, now=10_000.0)
    assert watch.observe({"b": stamp("a")}, now=10_500.0) == []


def test_the_stamps_own_lease_sets_the_wait() -> None:
    watch: StaleWatch[str] = StaleWatch()
    watch.observe({"short": stamp("a", 4), "long": stamp("b", 3600)}, now=0.0)
    assert watch.observe({"short": stamp("a", 4), "long": stamp("b", 3600)}, now=7.0) == ["short"]


def test_a_peer_that_vanished_is_forgotten() -> None:
    watch: StaleWatch[str] = StaleWatch()
    watch.observe({"b": stamp("a")}, now=0.0)
    watch.observe({}, now=100.0)
    assert watch.seen == {}
    assert watch.observe({"b": stamp("a")}, now=1000.0) == []  # back: a fresh clock


def test_forget_restarts_the_clock() -> None:
    watch: StaleWatch[str] = StaleWatch()
    watch.observe({"b": stamp("a")}, now=0.0)
    watch.forget("b")
    assert watch.observe({"b": stamp("a")}, now=1000.0) == []


@PROPERTY
@given(st.lists(st.tuples(st.floats(0, 1000), st.booleans()), min_size=1, max_size=30))
def test_no_peer_is_judged_stale_while_it_renews_within_the_lease(steps: list[tuple[float, bool]]) -> None:
    # The peer renews (new token) at least every lease; the watcher looks at arbitrary times.
    watch: StaleWatch[str] = StaleWatch()
    now, token, last_renewal = 0.0, 0, 0.0
    for gap, renews in steps:
        now += gap
        if renews or now - last_renewal >= LEASE:
            token, last_renewal = token + 1, now
        current = Stamp(LEASE, f"{token:016x}".encode())
        assert watch.observe({"b": current}, now) == []
