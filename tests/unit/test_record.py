"""core/record.py: Load and ServerRecord validate on construction, so an invalid one cannot exist."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from hypothesis import given

from ltsp_mesh.core.record import (
    MAX_CAPACITY,
    MAX_CPUS,
    MAX_LOAD_PER_CPU,
    MAX_SESSIONS,
    Load,
    ServerRecord,
    ServerState,
    record_from_load,
)
from tests import records as factory

from .strategies import PROPERTY, loads, records

LOAD = Load(
    cpus=4,
    load1=2.0,
    load5=1.5,
    load15=1.0,
    mem_total_kib=1000,
    mem_available_kib=250,
    swap_total_kib=100,
    swap_used_kib=10,
    swapping=False,
    sessions=3,
)
RECORD = factory.record(
    cpus=4, load_per_cpu=0.5, mem_percent=75, sessions=3, pending=1, capacity=4, host_key_fp="SHA256:abc"
)


# --- ServerRecord ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bounds",
    [
        {
            "cpus": 1,
            "load_per_cpu": 0.0,
            "mem_percent": 0,
            "sessions": 0,
            "pending": 0,
            "capacity": 1,
            "query_port": 1,
        },
        {
            "cpus": MAX_CPUS,
            "load_per_cpu": MAX_LOAD_PER_CPU,
            "mem_percent": 100,
            "sessions": MAX_SESSIONS,
            "pending": MAX_SESSIONS,
            "capacity": MAX_CAPACITY,
            "query_port": 65535,
        },
    ],
    ids=["lowest", "highest"],
)
def test_record_accepts_every_field_at_its_bounds(bounds: dict[str, Any]) -> None:
    record = dataclasses.replace(RECORD, **bounds)
    assert all(getattr(record, field) == value for field, value in bounds.items())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cpus", 0),
        ("cpus", MAX_CPUS + 1),
        ("load_per_cpu", -0.01),
        ("load_per_cpu", MAX_LOAD_PER_CPU + 0.01),
        ("load_per_cpu", math.nan),
        ("load_per_cpu", math.inf),
        ("mem_percent", -1),
        ("mem_percent", 101),
        ("sessions", -1),
        ("sessions", MAX_SESSIONS + 1),
        ("pending", -1),
        ("pending", MAX_SESSIONS + 1),
        ("capacity", 0),
        ("capacity", MAX_CAPACITY + 1),
        ("query_port", 0),
        ("query_port", 65536),
    ],
)
def test_record_rejects_field_outside_its_range(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(RECORD, **{field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cpus", True),  # bool is an int subclass, but never a count
        ("cpus", 4.0),
        ("sessions", "3"),
        ("load_per_cpu", "0.5"),
        ("load_per_cpu", False),
        ("swapping", 0),
        ("swapping", "false"),
        ("server_id", b"0123"),
        ("host_key_fp", None),
        ("state", "up"),  # the enum, not its value
    ],
)
def test_record_rejects_field_of_the_wrong_type(field: str, value: Any) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(RECORD, **{field: value})


def test_record_accepts_an_int_load() -> None:
    assert dataclasses.replace(RECORD, load_per_cpu=1).load_per_cpu == 1


@pytest.mark.parametrize("bad", [" ", "=", ",", "<", ">", "&", '"', "'", "\n", "\t", "\x00", "\x7f"])
def test_record_rejects_text_with_characters_codecs_would_have_to_escape(bad: str) -> None:
    with pytest.raises(ValueError, match="server_id"):
        dataclasses.replace(RECORD, server_id=f"abc{bad}def")
    with pytest.raises(ValueError, match="host_key_fp"):
        dataclasses.replace(RECORD, host_key_fp=f"SHA256:{bad}")


@pytest.mark.parametrize("text", ["caf\u00e9", "\u4e2d\u6587", "\U0001f600", "\u00ff"])
def test_record_rejects_non_ascii_text(text: str) -> None:
    # TXT values are ASCII (txt.decode refuses anything else): a record that could not survive
    # its own announcement must not exist.
    with pytest.raises(ValueError, match="server_id"):
        dataclasses.replace(RECORD, server_id=text)
    with pytest.raises(ValueError, match="host_key_fp"):
        dataclasses.replace(RECORD, host_key_fp=text)


def test_record_rejects_empty_server_id() -> None:
    with pytest.raises(ValueError, match="server_id"):
        dataclasses.replace(RECORD, server_id="")


def test_record_allows_empty_host_key_fingerprint() -> None:
    assert dataclasses.replace(RECORD, host_key_fp="").host_key_fp == ""


def test_record_rejects_text_longer_than_its_limit() -> None:
    with pytest.raises(ValueError, match="server_id"):
        dataclasses.replace(RECORD, server_id="a" * 65)
    with pytest.raises(ValueError, match="host_key_fp"):
        dataclasses.replace(RECORD, host_key_fp="a" * 65)


def test_record_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        RECORD.sessions = 4  # type: ignore[misc]  # the point of the test


def test_replace_validates_again() -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(RECORD, capacity=0)


def test_fill_is_sessions_plus_pending_per_capacity() -> None:
    assert dataclasses.replace(RECORD, sessions=6, pending=2, capacity=4).fill == 2.0


@given(records())
@PROPERTY
def test_fill_is_never_negative(record: ServerRecord) -> None:
    assert record.fill >= 0


# --- Load --------------------------------------------------------------------------------------


def test_load_per_cpu_divides_the_one_minute_load_by_cpus() -> None:
    assert dataclasses.replace(LOAD, cpus=4, load1=2.0).load_per_cpu == 0.5


def test_load_per_cpu_is_rounded_to_two_decimals() -> None:
    assert dataclasses.replace(LOAD, cpus=3, load1=1.0).load_per_cpu == 0.33


def test_load_per_cpu_is_capped_at_the_record_limit() -> None:
    load = dataclasses.replace(LOAD, cpus=1, load1=MAX_LOAD_PER_CPU * 2)
    assert load.load_per_cpu == MAX_LOAD_PER_CPU


def test_mem_percent_counts_memory_not_available_to_new_processes() -> None:
    assert dataclasses.replace(LOAD, mem_total_kib=1000, mem_available_kib=250).mem_percent == 75


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"cpus": 0}, "cpus"),
        ({"cpus": True}, "cpus"),
        ({"load1": -0.5}, "load1"),
        ({"load5": math.nan}, "load5"),
        ({"load15": math.inf}, "load15"),
        ({"mem_total_kib": 0, "mem_available_kib": 0}, "mem_total_kib"),
        ({"mem_total_kib": 100, "mem_available_kib": 101}, "mem_available_kib"),
        ({"swap_total_kib": 10, "swap_used_kib": 11}, "swap_used_kib"),
        ({"swap_used_kib": -1}, "swap_used_kib"),
        ({"swapping": 1}, "swapping"),
        ({"sessions": -1}, "sessions"),
        ({"sessions": MAX_SESSIONS + 1}, "sessions"),
    ],
)
def test_load_rejects_impossible_readings(changes: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        dataclasses.replace(LOAD, **changes)


@given(loads(two_decimals=False))
@PROPERTY
def test_load_figures_always_fit_a_record(load: Load) -> None:
    assert 0.0 <= load.load_per_cpu <= MAX_LOAD_PER_CPU
    assert 0 <= load.mem_percent <= 100


# --- record_from_load --------------------------------------------------------------------------


def test_record_from_load_takes_figures_from_the_load_and_settings_from_the_caller() -> None:
    record = record_from_load(
        LOAD,
        server_id="0123456789abcdef",
        pending=1,
        capacity=4,
        state=ServerState.UP,
        query_port=377,
        host_key_fp="SHA256:abc",
    )
    assert record == RECORD


@given(loads(two_decimals=False))
@PROPERTY
def test_record_from_load_accepts_every_valid_load(load: Load) -> None:
    record = record_from_load(
        load, server_id="x", pending=0, capacity=1, state=ServerState.DRAIN, query_port=377
    )
    assert (record.cpus, record.sessions, record.swapping) == (load.cpus, load.sessions, load.swapping)
