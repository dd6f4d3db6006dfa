"""core/server/cookies.py: the claim cookie proves that its bearer receives at its address."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.server import cookies
from ltsp_mesh.core.server.cookies import Check, CookieSecret

SECRET = CookieSecret(bytes(range(32)))
ADDRESS = "10.0.0.5"
NOW = 1000.0


def test_a_cookie_is_valid_for_the_address_it_was_made_for() -> None:
    assert cookies.check(SECRET, ADDRESS, cookies.make(SECRET, ADDRESS, NOW), NOW) is Check.VALID


def test_a_cookie_is_invalid_for_any_other_address() -> None:
    assert cookies.check(SECRET, "10.0.0.6", cookies.make(SECRET, ADDRESS, NOW), NOW) is Check.INVALID


def test_a_cookie_from_the_previous_window_is_accepted() -> None:
    made = cookies.make(SECRET, ADDRESS, NOW)
    assert cookies.check(SECRET, ADDRESS, made, NOW + cookies.WINDOW_S) is Check.VALID


def test_a_cookie_two_windows_old_is_refused() -> None:
    made = cookies.make(SECRET, ADDRESS, NOW)
    assert cookies.check(SECRET, ADDRESS, made, NOW + 2 * cookies.WINDOW_S) is Check.INVALID


def test_the_cookie_changes_with_the_window() -> None:
    assert cookies.make(SECRET, ADDRESS, NOW) != cookies.make(SECRET, ADDRESS, NOW + cookies.WINDOW_S)


def test_a_cookie_from_another_secret_is_refused() -> None:
    # A restarted daemon draws a new secret: cookies from before the restart no longer count.
    other = CookieSecret(bytes(range(1, 33)))
    assert cookies.check(SECRET, ADDRESS, cookies.make(other, ADDRESS, NOW), NOW) is Check.INVALID


def test_no_cookie_is_missing_rather_than_invalid() -> None:
    assert cookies.check(SECRET, ADDRESS, b"", NOW) is Check.MISSING


@pytest.mark.parametrize("length", [1, cookies.COOKIE_BYTES - 1, cookies.COOKIE_BYTES + 1, 32])
def test_a_cookie_of_another_length_is_invalid(length: int) -> None:
    assert cookies.check(SECRET, ADDRESS, bytes(length), NOW) is Check.INVALID


def test_a_cookie_is_cookie_bytes_long() -> None:
    assert len(cookies.make(SECRET, ADDRESS, NOW)) == cookies.COOKIE_BYTES


def test_an_ipv4_mapped_source_shares_its_ipv4_addresss_cookie() -> None:
    # What a dual-stack socket reports and what an IPv4 one does are one client.
    made = cookies.make(SECRET, f"::ffff:{ADDRESS}", NOW)
    assert cookies.check(SECRET, ADDRESS, made, NOW) is Check.VALID


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        CookieSecret(bytes(cookies.SECRET_BYTES - 1))


def test_the_secret_never_shows_in_its_repr() -> None:
    assert SECRET.secret.hex() not in repr(SECRET) and str(SECRET.secret) not in repr(SECRET)


def test_a_time_that_is_not_a_time_is_refused() -> None:
    with pytest.raises(ValueError):
        cookies.make(SECRET, ADDRESS, float("nan"))


@given(st.binary(max_size=40), st.text(max_size=64))
def test_any_bytes_from_any_source_check_without_raising(cookie: bytes, source: str) -> None:
    assert cookies.check(SECRET, source, cookie, NOW) in set(Check)
