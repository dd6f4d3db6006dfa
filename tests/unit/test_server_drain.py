"""core/server/drain.py: the server's decision on a control request, rule by rule."""

from __future__ import annotations

from ltsp_mesh.core.codec.control import ControlOp, ControlRequest, DrainState
from ltsp_mesh.core.record import ServerState
from ltsp_mesh.core.server import drain
from tests import records

NOW = 1_720_000_000.0
UP = DrainState()
DRAINING = DrainState(draining=True, reason="kernel update", since=NOW - 600)


def drain_to(draining: bool, reason: str = "") -> ControlRequest:
    return ControlRequest(ControlOp.DRAIN, DrainState(draining=draining, reason=reason))


def test_status_changes_nothing() -> None:
    assert drain.handle(ControlRequest(ControlOp.STATUS), DRAINING, NOW) == (None, DRAINING)


def test_a_drain_to_the_state_in_force_keeps_its_since() -> None:
    assert drain.handle(drain_to(True, "kernel update"), DRAINING, NOW) == (None, DRAINING)


def test_a_drain_change_takes_effect_now() -> None:
    changed, after = drain.handle(drain_to(True, "backup"), UP, NOW)
    assert changed == after == DrainState(draining=True, reason="backup", since=NOW)


def test_drain_off_ends_a_drain() -> None:
    changed, _ = drain.handle(drain_to(False), DRAINING, NOW)
    assert changed == DrainState(draining=False, reason="", since=NOW)


def test_a_new_reason_is_a_change() -> None:
    changed, _ = drain.handle(drain_to(True, "backup"), DRAINING, NOW)
    assert changed is not None and changed.reason == "backup" and changed.since == NOW


def test_status_shows_the_name_drain_record_and_counters() -> None:
    record = records.record(state=ServerState.DRAIN, pending=2)
    shown = drain.status("app1 [02:00:00:00:00:01]", DRAINING, record, {"udp_answered": 7})
    assert shown["ok"] is True and shown["service"] == "app1 [02:00:00:00:00:01]"
    assert shown["drain"] == {"draining": True, "reason": "kernel update", "since": NOW - 600}
    assert shown["record"] == {
        **{f: getattr(record, f) for f in record.__dataclass_fields__},
        "state": "drain",
    }
    assert shown["counters"] == {"udp_answered": 7}
