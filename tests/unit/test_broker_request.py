"""core/broker/request.py: the broker's request line, read and checked (docs/broker.md)."""

from __future__ import annotations

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


@pytest.mark.parametrize(
    ("query", "says"),
    [
        (b"LDM_LB_ALGORITHM=fastest", "LDM_LB_ALGORITHM='fastest' is not one of"),
        (b"LDM_LB_MAX_LOAD=abc", "LDM_LB_MAX_LOAD='abc' is not a number"),
        (b"LDM_LB_MAX_LOAD=0", "LDM_LB_MAX_LOAD='0' is not a number above 0"),
        (b"LDM_LB_MAX_RESPONSE_MS=-5", "LDM_LB_MAX_RESPONSE_MS='-5' is not a number"),
        (b"LDM_LB_MAX_RESPONSE_MS=99999999", "LDM_LB_MAX_RESPONSE_MS='99999999' is not a number"),
        (b"LDM_LB_IGNORE_SWAPPING=maybe", "LDM_LB_IGNORE_SWAPPING='maybe' is not a boolean"),
        (b"LDM_LB_HOSTS=-1", "LDM_LB_HOSTS='-1' is not a whole number"),
        (b"LDM_LB_HOSTS=1.5", "LDM_LB_HOSTS='1.5' is not a whole number"),
        (b"LDM_LB_HOSTS=100000", "LDM_LB_HOSTS='100000' is not a whole number"),
        (b"mac=02:6c:6d:00:00", "is not a MAC address"),
        (b"mac=zz:6c:6d:00:00:0b", "is not a MAC address"),
        (b"LDM_LB_TRUST=any", "'LDM_LB_TRUST' is not a parameter"),
        (b"colour=red", "'colour' is not a parameter"),
        (b"LDM_LB_HOSTS=1&LDM_LB_HOSTS=2", "LDM_LB_HOSTS is given twice"),
        (b"LDM_LB_ALGORITHM=mac%20hash", "spaces or characters outside ASCII"),
        (b"LDM_LB_ALGORITHM", "cannot be read"),
        (b"a=%ff", "cannot be read"),
    ],
)
def test_every_bad_parameter_is_a_400_naming_it(query: bytes, says: str) -> None:
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
        request.decode(b"GET", HOSTS + b"?LDM_LB_ALGORITHM=a%0Ab")
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


@given(st.lists(st.tuples(st.sampled_from(request.PARAMETERS), st.text(max_size=12)), max_size=8))
def test_any_parameters_decode_or_are_a_400(pairs: list[tuple[str, str]]) -> None:
    import urllib.parse

    target = HOSTS + b"?" + urllib.parse.urlencode(pairs).encode()
    try:
        request.decode(b"GET", target)
    except BadRequest as exc:
        assert exc.status == 400
