"""core/broker/request.py: the broker's request line, read and checked (docs/broker.md)."""

from __future__ import annotations

import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.broker import request
from ltsp_mesh.core.broker.request import BadRequest, Form
from ltsp_mesh.core.config.client_settings import Algorithm

HOSTS = b"/ltsp-mesh/v1/hosts"


def test_a_bare_request_gets_the_lts_conf_defaults() -> None:
    decoded = request.decode(b"GET", HOSTS)
    assert decoded.form is Form.TEXT and decoded.mac is None
    assert decoded.settings.algorithm is Algorithm.LEAST_LOADED and decoded.settings.max_hosts == 0


def test_every_setting_is_read_under_its_lts_conf_name() -> None:
    target = (
        HOSTS + b"?mac=02:6C:6D:00:00:0B&LDM_LB_ALGORITHM=mac-hash&LDM_LB_MAX_LOAD=1.5"
        b"&LDM_LB_MAX_RESPONSE_MS=100&LDM_LB_IGNORE_SWAPPING=N&LDM_LB_HOSTS=2"
    )
    decoded = request.decode(b"GET", target)
    assert decoded.mac == "02:6c:6d:00:00:0b"
    settings = decoded.settings
    assert (
        settings.algorithm,
        settings.max_load_per_cpu,
        settings.max_response_ms,
        settings.ignore_swapping,
        settings.max_hosts,
    ) == (Algorithm.MAC_HASH, 1.5, 100.0, False, 2)


def test_the_json_form_is_its_own_path() -> None:
    assert request.decode(b"GET", HOSTS + b".json").form is Form.JSON


def test_only_the_hooks_get_counts_a_pick() -> None:
    assert request.decode(b"GET", HOSTS).counts
    assert not request.decode(b"HEAD", HOSTS).counts
    assert not request.decode(b"GET", HOSTS + b".json").counts


def test_an_empty_or_none_value_is_unset_as_in_lts_conf() -> None:
    decoded = request.decode(b"GET", HOSTS + b"?LDM_LB_MAX_LOAD=&LDM_LB_ALGORITHM=NONE")
    assert decoded.settings.max_load_per_cpu == 2.0 and decoded.settings.algorithm is Algorithm.LEAST_LOADED


# Each bad value, the default the broker ranks with instead, and what the warning says.
BAD_VALUES = [
    (
        b"LDM_LB_ALGORITHM=fastest",
        "algorithm",
        Algorithm.LEAST_LOADED,
        "LDM_LB_ALGORITHM='fastest' is not one of",
    ),
    (b"LDM_LB_ALGORITHM=leastloaded", "algorithm", Algorithm.LEAST_LOADED, "'leastloaded' is not one of"),
    (b"LDM_LB_ALGORITHM=mac%20hash", "algorithm", Algorithm.LEAST_LOADED, "'mac hash' is not one of"),
    (b"LDM_LB_ALGORITHM=a%0Ab", "algorithm", Algorithm.LEAST_LOADED, "'a\\nb' is not one of"),
    (b"LDM_LB_MAX_LOAD=abc", "max_load_per_cpu", 2.0, "LDM_LB_MAX_LOAD='abc' is not a number"),
    (b"LDM_LB_MAX_LOAD=0", "max_load_per_cpu", 2.0, "LDM_LB_MAX_LOAD='0' is not a number above 0"),
    (b"LDM_LB_MAX_LOAD=-1", "max_load_per_cpu", 2.0, "LDM_LB_MAX_LOAD='-1' is not a number"),
    (b"LDM_LB_MAX_RESPONSE_MS=-5", "max_response_ms", 250.0, "LDM_LB_MAX_RESPONSE_MS='-5' is not a number"),
    (b"LDM_LB_MAX_RESPONSE_MS=99999999", "max_response_ms", 250.0, "'99999999' is not a number"),
    (
        b"LDM_LB_IGNORE_SWAPPING=maybe",
        "ignore_swapping",
        True,
        "LDM_LB_IGNORE_SWAPPING='maybe' is not a boolean",
    ),
    (b"LDM_LB_HOSTS=-1", "max_hosts", 0, "LDM_LB_HOSTS='-1' is not a whole number"),
    (b"LDM_LB_HOSTS=1.5", "max_hosts", 0, "LDM_LB_HOSTS='1.5' is not a whole number"),
    (b"LDM_LB_HOSTS=100000", "max_hosts", 0, "LDM_LB_HOSTS='100000' is not a whole number"),
]


@pytest.mark.parametrize(("query", "field", "default", "says"), BAD_VALUES)
def test_a_bad_value_is_ranked_with_its_default(query: bytes, field: str, default: object, says: str) -> None:
    decoded = request.decode(b"GET", HOSTS + b"?" + query)
    assert getattr(decoded.settings, field) == default


@pytest.mark.parametrize(("query", "field", "default", "says"), BAD_VALUES)
def test_a_bad_value_is_reported_with_the_default_used(
    query: bytes, field: str, default: object, says: str
) -> None:
    (bad,) = request.decode(b"GET", HOSTS + b"?" + query).bad
    assert says in bad.reason and "; using the default " in bad.reason


def test_a_bad_value_leaves_the_good_ones_in_force() -> None:
    decoded = request.decode(b"GET", HOSTS + b"?LDM_LB_ALGORITHM=mac-hash&LDM_LB_HOSTS=-1&LDM_LB_MAX_LOAD=0")
    assert (decoded.settings.algorithm, decoded.settings.max_hosts) == (Algorithm.MAC_HASH, 0)
    assert [bad.key for bad in decoded.bad] == ["LDM_LB_MAX_LOAD", "LDM_LB_HOSTS"]


@pytest.mark.parametrize("mac", [b"02:6c:6d:00:00", b"zz:6c:6d:00:00:0b", b"nope"])
def test_a_bad_mac_is_reported_and_mac_hash_uses_the_address(mac: bytes) -> None:
    decoded = request.decode(b"GET", HOSTS + b"?mac=" + mac)
    assert decoded.mac is None
    assert [bad.key for bad in decoded.bad] == ["mac"] and "is not a MAC address" in decoded.bad[0].reason
    assert request.hashing_mac(decoded, "10.77.0.13") == "02:00:0a:4d:00:0d"


def test_a_good_request_reports_nothing() -> None:
    assert request.decode(b"GET", HOSTS + b"?LDM_LB_ALGORITHM=random&LDM_LB_HOSTS=0200").bad == ()


def test_a_reported_value_is_printable_ascii_and_at_most_60_characters() -> None:
    decoded = request.decode(b"GET", HOSTS + b"?LDM_LB_ALGORITHM=" + b"%C3%A9%01" * 100)
    (bad,) = decoded.bad
    assert bad.reason.isascii() and bad.reason.isprintable() and len(bad.reason) < 400


@pytest.mark.parametrize(
    ("query", "says"),
    [
        (b"LDM_LB_TRUST=any", "'LDM_LB_TRUST' is not a parameter"),
        (b"colour=red", "'colour' is not a parameter"),
        (b"LDM_LB_HOSTS=1&LDM_LB_HOSTS=2", "LDM_LB_HOSTS is given twice"),
        (b"LDM_LB_ALGORITHM", "cannot be read"),
        (b"a=%ff", "cannot be read"),
        (b"LDM_LB_ALGORITHM=%ff", "cannot be read"),
    ],
)
def test_a_request_outside_the_protocol_is_a_400_naming_why(query: bytes, says: str) -> None:
    with pytest.raises(BadRequest) as caught:
        request.decode(b"GET", HOSTS + b"?" + query)
    assert caught.value.status == 400 and says in caught.value.reason


@pytest.mark.parametrize(
    ("method", "target", "status"),
    [
        (b"POST", HOSTS, 405),
        (b"DELETE", HOSTS, 405),
        (b"GET", b"/", 404),
        (b"GET", b"/ltsp-mesh/v1/servers", 404),
        (b"GET", b"/ltsp-mesh/v2/hosts", 404),
        (b"GET", b"/ltsp-mesh/v1/hosts/", 404),
        (b"GET", HOSTS + b"?" + b"a" * 3000, 414),
        (b"GET", "/ltsp-mesh/v1/hosts?mac=\u00e9".encode(), 400),
    ],
)
def test_a_request_outside_the_protocol_gets_its_status(method: bytes, target: bytes, status: int) -> None:
    with pytest.raises(BadRequest) as caught:
        request.decode(method, target)
    assert caught.value.status == status and caught.value.reason


def test_a_reason_is_one_line() -> None:
    with pytest.raises(BadRequest) as caught:
        request.decode(b"GET", HOSTS + b"?LDM_LB_AL%0AGORITHM=a")
    assert "\n" not in caught.value.reason


def test_mac_hash_without_a_mac_hashes_a_stable_stand_in_from_the_address() -> None:
    decoded = request.decode(b"GET", HOSTS)
    assert request.hashing_mac(decoded, "10.77.0.13") == "02:00:0a:4d:00:0d"
    with_mac = request.decode(b"GET", HOSTS + b"?mac=02:6c:6d:00:00:0b")
    assert request.hashing_mac(with_mac, "10.77.0.13") == "02:6c:6d:00:00:0b"


@given(st.binary(max_size=300), st.binary(max_size=12))
def test_any_request_line_decodes_or_is_a_bad_request(target: bytes, method: bytes) -> None:
    try:
        request.decode(method, target)
    except BadRequest as exc:
        assert 400 <= exc.status < 500 and "\n" not in exc.reason


@given(st.dictionaries(st.sampled_from(request.PARAMETERS), st.text(max_size=12), max_size=6))
def test_any_value_of_each_parameter_is_answered_with_one_line_warnings(values: dict[str, str]) -> None:
    target = HOSTS + b"?" + urllib.parse.urlencode(values).encode()
    decoded = request.decode(b"GET", target)  # never a BadRequest: each parameter at most once
    for bad in decoded.bad:
        assert bad.reason.isascii() and bad.reason.isprintable()
