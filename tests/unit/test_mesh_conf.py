"""core/config/mesh_conf.py: `{KEY: (value, where)}` from mesh.conf or the command line -> ServeSettings.

values_from_conf() reads a parsed lts.conf and is left to the tests of core/config/ltsconf.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.config.mesh_conf import KNOWN_KEYS, ServeSettings, settings
from ltsp_mesh.errors import ConfigError

from .strategies import PROPERTY

WHERE = "/etc/ltsp/mesh.conf line 3"


def one(key: str, value: str) -> dict[str, tuple[str, str]]:
    return {key: (value, WHERE)}


def test_no_values_give_the_documented_defaults() -> None:
    assert settings({}) == ServeSettings(
        interfaces=(),
        ssh_port=22,
        query_port=377,
        capacity=None,
        host_key="/etc/ssh/ssh_host_ed25519_key",
        state_dir="/var/lib/ltsp-mesh",
        dns_sd_domain="",
        tsig_key="",
    )


@pytest.mark.parametrize(
    ("key", "value", "field", "expected"),
    [
        ("INTERFACES", "eth1", "interfaces", ("eth1",)),
        ("INTERFACES", "eth1  eth2\tbr0", "interfaces", ("eth1", "eth2", "br0")),
        ("INTERFACES", "", "interfaces", ()),
        ("SSH_PORT", "2222", "ssh_port", 2222),
        ("SSH_PORT", "1", "ssh_port", 1),
        ("SSH_PORT", "65535", "ssh_port", 65535),
        ("QUERY_PORT", "1377", "query_port", 1377),
        ("CAPACITY", "1", "capacity", 1),
        ("CAPACITY", "100000", "capacity", 100000),
        ("HOST_KEY", "/etc/ssh/ssh_host_rsa_key", "host_key", "/etc/ssh/ssh_host_rsa_key"),
        ("STATE_DIR", "/srv/mesh", "state_dir", "/srv/mesh"),
        ("DNS_SD_DOMAIN", "ltsp.example.org", "dns_sd_domain", "ltsp.example.org"),
        ("TSIG_KEY", "/etc/bind/ltsp.key", "tsig_key", "/etc/bind/ltsp.key"),
    ],
)
def test_settings_read_each_known_key(key: str, value: str, field: str, expected: object) -> None:
    assert getattr(settings(one(key, value)), field) == expected


@pytest.mark.parametrize("none", ["NONE", "none", "None"])
@pytest.mark.parametrize("key", sorted(KNOWN_KEYS))
def test_none_keeps_the_default(key: str, none: str) -> None:
    # lts.conf: NONE suppresses a key.
    assert settings(one(key, none)) == ServeSettings()


def test_settings_name_an_unknown_key_and_where_it_was() -> None:
    with pytest.raises(ConfigError, match=f"{WHERE}: unknown key SSH_PROT") as raised:
        settings(one("SSH_PROT", "22"))
    assert "SSH_PORT" in str(raised.value)  # the known keys are listed, so the typo is easy to spot


@pytest.mark.parametrize("key", ["SSH_PORT", "QUERY_PORT"])
@pytest.mark.parametrize(
    "value",
    [
        "0",
        "65536",
        "99999999999999999999",
        "-1",
        "+22",
        "22.0",
        " 22",
        "",
        "ssh",
        "0x16",
        "\u00b2",  # SUPERSCRIPT TWO: str.isdigit() says yes, int() says no; this used to raise ValueError
        "\u0662\u0662",  # ARABIC-INDIC "22": int() would take it, a config file should not
        "9" * 5000,  # over int()'s 4300-digit limit; this used to raise ValueError
    ],
)
def test_settings_reject_a_port_that_is_not_a_port_number(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"{WHERE}: {key}="):
        settings(one(key, value))


@pytest.mark.parametrize("value", ["0", "100001", "-4", "4.5", "many", "", "\u00b2", "\u0664", "9" * 5000])
def test_settings_reject_a_capacity_that_is_not_a_whole_number_in_range(value: str) -> None:
    with pytest.raises(ConfigError, match=f"{WHERE}: CAPACITY="):
        settings(one("CAPACITY", value))


def test_settings_combine_several_keys() -> None:
    values = {"SSH_PORT": ("2222", WHERE), "CAPACITY": ("16", "--capacity"), "INTERFACES": ("eth1", WHERE)}
    assert settings(values) == ServeSettings(interfaces=("eth1",), ssh_port=2222, capacity=16)


@given(st.dictionaries(st.sampled_from(sorted(KNOWN_KEYS)), st.text(max_size=12)))
@PROPERTY
def test_settings_raise_only_config_error_for_any_value(raw: dict[str, str]) -> None:
    try:
        result = settings({key: (value, WHERE) for key, value in raw.items()})
    except ConfigError as exc:
        assert str(exc).startswith(WHERE)
        return
    assert 1 <= result.ssh_port <= 65535 and 1 <= result.query_port <= 65535
