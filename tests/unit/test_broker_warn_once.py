"""core/broker/warn_once.py: a broker logs a client's bad setting once, in bounded memory and rate."""

from __future__ import annotations

import pytest

from ltsp_mesh.core.broker.warn_once import REMIND_S, WarnOnce, advice
from ltsp_mesh.core.config.client_settings import BadSetting

HOSTS = BadSetting("LDM_LB_HOSTS", "LDM_LB_HOSTS='-1' is not a whole number", "0")
ALGORITHM = BadSetting("LDM_LB_ALGORITHM", "LDM_LB_ALGORITHM='x' is not one of", "least-loaded")


def test_a_clients_bad_value_is_logged_once() -> None:
    warned = WarnOnce()
    assert [warned.should_log("10.0.0.5", HOSTS, float(t)) for t in range(5)] == [
        True,
        False,
        False,
        False,
        False,
    ]


def test_another_value_or_another_client_is_logged_too() -> None:
    warned = WarnOnce()
    assert warned.should_log("10.0.0.5", HOSTS, 0.0)
    assert warned.should_log("10.0.0.5", ALGORITHM, 0.0)
    assert warned.should_log("10.0.0.6", HOSTS, 0.0)
    other_value = BadSetting("LDM_LB_HOSTS", "LDM_LB_HOSTS='-2' is not a whole number", "0")
    assert warned.should_log("10.0.0.5", other_value, 0.0)


def test_a_lasting_bad_value_is_logged_again_after_the_reminder_interval() -> None:
    warned = WarnOnce()
    assert warned.should_log("10.0.0.5", HOSTS, 0.0)
    assert not warned.should_log("10.0.0.5", HOSTS, REMIND_S - 1)
    assert warned.should_log("10.0.0.5", HOSTS, REMIND_S + 1)


def test_the_table_never_holds_more_than_its_bound() -> None:
    warned = WarnOnce(max_remembered=16, lines_per_s=1e9, lines_burst=1e9)
    for i in range(1000):
        warned.should_log(f"10.0.{i // 256}.{i % 256}", HOSTS, 0.0)
    assert len(warned) == 16


def test_lines_are_rate_limited_in_all_and_counted() -> None:
    warned = WarnOnce(lines_per_s=2.0, lines_burst=5.0)
    logged = sum(warned.should_log(f"10.0.0.{i}", HOSTS, 0.0) for i in range(100))
    assert (logged, warned.over_rate) == (5, 95)
    assert sum(warned.should_log(f"10.0.1.{i}", HOSTS, 1.0) for i in range(100)) == 2


def test_a_line_held_back_by_the_rate_is_logged_when_asked_again_later() -> None:
    warned = WarnOnce(lines_per_s=1.0, lines_burst=1.0)
    assert warned.should_log("10.0.0.1", HOSTS, 0.0)
    assert not warned.should_log("10.0.0.2", HOSTS, 0.0)
    assert warned.should_log("10.0.0.2", HOSTS, 1.0)


def test_the_journal_line_says_what_is_wrong_what_is_used_and_what_to_do() -> None:
    line = advice("10.0.0.5", HOSTS)
    assert line == (
        "thin client 10.0.0.5: LDM_LB_HOSTS='-1' is not a whole number; using the default 0; "
        "fix LDM_LB_HOSTS in lts.conf for this client, then it is balanced as configured"
    )


def test_a_bad_mac_points_at_the_hook() -> None:
    assert "reinstall ltsp-mesh-hook" in advice(
        "10.0.0.5", BadSetting("mac", "mac='x' is not a MAC", "its address")
    )


@pytest.mark.parametrize("kwargs", [{"max_remembered": 0}, {"lines_per_s": 0.0}, {"remind_s": -1.0}])
def test_nonsense_limits_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="WarnOnce"):
        WarnOnce(**kwargs)  # type: ignore[arg-type]
