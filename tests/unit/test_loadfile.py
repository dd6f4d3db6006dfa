"""core/codec/loadfile.py: the JSON load file that stands in for psutil in demos, tests and benchmarks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.codec import loadfile
from ltsp_mesh.core.record import Load
from ltsp_mesh.errors import ConfigError

from .strategies import PROPERTY, loads

SOURCE = "/run/ltsp-mesh/load.json"
# The example in the module docstring.
EXAMPLE = """{"cpus": 8, "load1": 4.0, "load5": 3.5, "load15": 3.0,
 "mem_total_kib": 16384000, "mem_available_kib": 9000000,
 "swap_total_kib": 0, "swap_used_kib": 0, "swapping": false, "sessions": 12}"""
EXAMPLE_LOAD = Load(
    cpus=8,
    load1=4.0,
    load5=3.5,
    load15=3.0,
    mem_total_kib=16384000,
    mem_available_kib=9000000,
    swap_total_kib=0,
    swap_used_kib=0,
    swapping=False,
    sessions=12,
)


def test_decode_reads_the_documented_example() -> None:
    assert loadfile.decode(EXAMPLE, SOURCE) == EXAMPLE_LOAD


def test_only_cpus_is_required() -> None:
    assert loadfile.decode('{"cpus": 2}', SOURCE) == Load(
        cpus=2,
        load1=0.0,
        load5=0.0,
        load15=0.0,
        mem_total_kib=1024 * 1024,
        mem_available_kib=1024 * 1024,
        swap_total_kib=0,
        swap_used_kib=0,
        swapping=False,
        sessions=0,
    )


def test_available_memory_defaults_to_the_total() -> None:
    load = loadfile.decode('{"cpus": 2, "mem_total_kib": 4096}', SOURCE)
    assert load.mem_available_kib == 4096


def test_whole_number_loads_are_read_as_floats() -> None:
    load = loadfile.decode('{"cpus": 2, "load1": 3, "load5": 2, "load15": 1}', SOURCE)
    assert [type(v) for v in (load.load1, load.load5, load.load15)] == [float, float, float]


@given(loads(two_decimals=False))
@PROPERTY
def test_decode_inverts_encode(load: Load) -> None:
    assert loadfile.decode(loadfile.encode(load), SOURCE) == load


def test_encode_writes_every_field() -> None:
    assert set(json.loads(loadfile.encode(EXAMPLE_LOAD))) == set(Load.__dataclass_fields__)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "not JSON"),
        ("{cpus: 2}", "not JSON"),
        ('{"cpus": 2', "not JSON"),
        ("[2]", "one JSON object"),
        ('"cpus"', "one JSON object"),
        ("null", "one JSON object"),
        ("{}", "'cpus' is required"),
        ('{"load1": 1.0}', "'cpus' is required"),
        ('{"cpus": 2, "load": 1.0}', "unknown key 'load'"),
        ('{"cpus": 2, "Sessions": 1}', "unknown key 'Sessions'"),
        ('{"cpus": 0}', "cpus"),
        ('{"cpus": true}', "cpus"),
        ('{"cpus": "2"}', "cpus"),
        ('{"cpus": 2.0}', "cpus"),
        ('{"cpus": null}', "cpus"),
        ('{"cpus": 2, "load1": -1}', "load1"),
        ('{"cpus": 2, "load1": NaN}', "load1"),
        ('{"cpus": 2, "load1": Infinity}', "load1"),
        ('{"cpus": 2, "load1": 1e400}', "load1"),
        ('{"cpus": 2, "load1": "high"}', "load1"),
        ('{"cpus": 2, "mem_total_kib": 10, "mem_available_kib": 20}', "mem_available_kib"),
        ('{"cpus": 2, "swap_total_kib": 10, "swap_used_kib": 20}', "swap_used_kib"),
        ('{"cpus": 2, "swapping": 1}', "swapping"),
        ('{"cpus": 2, "sessions": [1]}', "sessions"),
        ('{"cpus": 2, "sessions": {"a": 1}}', "sessions"),
    ],
)
def test_decode_rejects_a_file_that_is_not_a_load(text: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=f"^{SOURCE}: .*{complaint}"):
        loadfile.decode(text, SOURCE)


def test_decode_rejects_a_file_over_the_size_limit() -> None:
    text = '{"cpus": 2' + " " * loadfile.MAX_LOAD_FILE_BYTES + "}"
    with pytest.raises(ConfigError, match="larger than"):
        loadfile.decode(text, SOURCE)


def test_decode_rejects_deep_nesting_without_a_recursion_error() -> None:
    # 60000 nested arrays, inside the size limit: json.loads used to raise RecursionError here.
    with pytest.raises(ConfigError, match=SOURCE):
        loadfile.decode("[" * 60000, SOURCE)


def test_decode_rejects_a_load_too_large_for_a_float_without_an_overflow_error() -> None:
    # A 401-digit whole number for load1: converting it to float used to raise OverflowError.
    with pytest.raises(ConfigError, match="load1"):
        loadfile.decode('{"cpus": 1, "load1": 1' + "0" * 400 + "}", SOURCE)


def test_decode_rejects_a_number_with_more_digits_than_python_converts() -> None:
    with pytest.raises(ConfigError, match=SOURCE):
        loadfile.decode('{"cpus": 1' + "0" * 5000 + "}", SOURCE)


json_values: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(-(10**400), 10**400),
        st.floats(),
        st.text(max_size=8),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(sorted(Load.__dataclass_fields__)), json_values))
@PROPERTY
def test_decode_raises_only_config_error_for_any_values(fields: dict[str, Any]) -> None:
    try:
        load = loadfile.decode(json.dumps(fields), SOURCE)
    except ConfigError as exc:
        assert str(exc).startswith(SOURCE)
        return
    assert isinstance(load, Load)


@given(st.text(max_size=200))
@PROPERTY
def test_decode_raises_only_config_error_for_any_text(text: str) -> None:
    try:
        loadfile.decode(text, SOURCE)
    except ConfigError:
        pass


@given(st.integers(1, 100_000), st.sampled_from("[{"))
@PROPERTY
def test_decode_raises_only_config_error_for_any_depth_of_nesting(depth: int, opener: str) -> None:
    text = ('{"a":' * depth + "1" + "}" * depth) if opener == "{" else ("[" * depth + "]" * depth)
    try:
        loadfile.decode(text[: loadfile.MAX_LOAD_FILE_BYTES], SOURCE)
    except ConfigError:
        pass
