"""core/config/client_settings.py: environment first, lts.conf otherwise, defaults last; errors say where."""

from __future__ import annotations

import pytest

from ltsp_mesh.core.config import ltsconf
from ltsp_mesh.core.config.client_settings import (
    KNOWN_KEYS,
    Algorithm,
    ClientSettings,
    Trust,
    build,
    check,
    check_values,
    default_of,
    unknown_keys,
)
from ltsp_mesh.errors import ConfigError


def conf(text: str) -> dict[str, ltsconf.Entry]:
    return ltsconf.resolve(ltsconf.parse(text, "/etc/lts.conf")).entries


def test_defaults_are_those_of_the_design() -> None:
    settings = build({})
    assert settings == ClientSettings(
        algorithm=Algorithm.LEAST_LOADED,
        max_load_per_cpu=2.0,
        max_response_ms=250.0,
        ignore_swapping=True,
        timeout_ms=400,
        max_hosts=0,
        trust=Trust.AUTO,
        fallback_hosts=(),
        known_hosts_path="/etc/ssh/ssh_known_hosts",
        loadbalancer_url=None,
        dns_sd_domain=None,
    )


def test_every_variable_is_read_from_the_environment() -> None:
    env = {
        "LDM_LB_ALGORITHM": "mac-hash",
        "LDM_LB_MAX_LOAD": "1.5",
        "LDM_LB_MAX_RESPONSE_MS": "120",
        "LDM_LB_IGNORE_SWAPPING": "False",
        "LDM_LB_TIMEOUT_MS": "900",
        "LDM_LB_HOSTS": "3",
        "LDM_LB_TRUST": "known-hosts",
        "LDM_LB_FALLBACK": "10.0.0.1 app2",
        "LDM_LB_KNOWN_HOSTS": "/etc/ssh/farm_known_hosts",
        "LDM_LB_LOADBALANCER_URL": "http://lb.example.org:8008/",
        "LDM_LB_DOMAIN": "LTSP.Example.org.",
    }
    assert build(env) == ClientSettings(
        algorithm=Algorithm.MAC_HASH,
        max_load_per_cpu=1.5,
        max_response_ms=120.0,
        ignore_swapping=False,
        timeout_ms=900,
        max_hosts=3,
        trust=Trust.KNOWN_HOSTS,
        fallback_hosts=("10.0.0.1", "app2"),
        known_hosts_path="/etc/ssh/farm_known_hosts",
        loadbalancer_url="http://lb.example.org:8008/",
        dns_sd_domain="ltsp.example.org",
    )
    assert set(KNOWN_KEYS) == set(env)


def test_lts_conf_fills_in_what_the_environment_lacks() -> None:
    settings = build({"LDM_LB_HOSTS": "2"}, conf("[default]\nLDM_LB_HOSTS = 5\nLDM_LB_ALGORITHM = random\n"))
    assert (settings.max_hosts, settings.algorithm) == (2, Algorithm.RANDOM)


def test_origins_name_where_each_value_came_from() -> None:
    settings = build({"LDM_LB_HOSTS": "2"}, conf("[default]\nLDM_LB_ALGORITHM = random\n"))
    assert settings.origins == {
        "max_hosts": "environment variable LDM_LB_HOSTS",
        "algorithm": "/etc/lts.conf line 2",
    }


@pytest.mark.parametrize("blank", ["", "   ", "NONE", "none"])
def test_empty_or_none_environment_value_counts_as_unset(blank: str) -> None:
    settings = build({"LDM_LB_HOSTS": blank}, conf("[default]\nLDM_LB_HOSTS = 4\n"))
    assert settings.max_hosts == 4


def test_fallback_defaults_to_server_from_the_environment() -> None:
    assert build({"SERVER": "192.168.67.1"}).fallback_hosts == ("192.168.67.1",)


def test_fallback_defaults_to_server_from_lts_conf() -> None:
    assert build({}, conf("[default]\nSERVER = 10.0.2.2\n")).fallback_hosts == ("10.0.2.2",)


def test_explicit_fallback_beats_server() -> None:
    assert build({"SERVER": "a", "LDM_LB_FALLBACK": "b c"}).fallback_hosts == ("b", "c")


def test_fallback_none_in_lts_conf_leaves_server() -> None:
    # NONE suppresses the key, so the documented default ($SERVER) applies.
    assert build({"SERVER": "a"}, conf("[default]\nLDM_LB_FALLBACK = NONE\n")).fallback_hosts == ("a",)


def test_dollar_server_in_lts_conf_is_expanded_as_the_shell_eval_would() -> None:
    entries = conf('[default]\nSERVER = 10.0.0.1\nLDM_LB_FALLBACK = "$SERVER ${SERVER}0 backup"\n')
    assert build({}, entries).fallback_hosts == ("10.0.0.1", "10.0.0.10", "backup")


def test_unknown_dollar_reference_expands_to_nothing() -> None:
    assert build({}, conf('[default]\nLDM_LB_FALLBACK = "$NOPE app1"\n')).fallback_hosts == ("app1",)


def test_environment_values_are_not_expanded_again() -> None:
    with pytest.raises(ConfigError, match=r"environment variable LDM_LB_FALLBACK: .*'\$SERVER'"):
        build({"LDM_LB_FALLBACK": "$SERVER", "SERVER": "a"})


@pytest.mark.parametrize("word", ["least-loaded", "LEAST-LOADED", "least_loaded", " mac-hash "])
def test_algorithm_names_ignore_case_and_accept_underscores(word: str) -> None:
    assert build({"LDM_LB_ALGORITHM": word}).algorithm in (Algorithm.LEAST_LOADED, Algorithm.MAC_HASH)


def test_unknown_algorithm_names_the_variable_and_the_choices() -> None:
    with pytest.raises(
        ConfigError,
        match=r"environment variable LDM_LB_ALGORITHM: LDM_LB_ALGORITHM='fastest' is not one of "
        r"random, filtered, mac-hash, least-loaded, chooser",
    ):
        build({"LDM_LB_ALGORITHM": "fastest"})


def test_bad_value_in_lts_conf_names_file_and_line() -> None:
    with pytest.raises(ConfigError, match=r"^/etc/lts\.conf line 3: LDM_LB_MAX_LOAD='abc' is not a number"):
        build({}, conf("[default]\nSERVER = a\nLDM_LB_MAX_LOAD = abc\n"))


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "1e3", "1_0", "1001", "2,5"])
def test_max_load_rejects_what_is_not_a_positive_decimal(value: str) -> None:
    with pytest.raises(ConfigError, match=r"LDM_LB_MAX_LOAD=.* \(e\.g\. 2\.0\)"):
        build({"LDM_LB_MAX_LOAD": value})


@pytest.mark.parametrize("value", ["0", "60001", "1.5", "400ms", "-5"])
def test_timeout_must_be_whole_milliseconds_in_range(value: str) -> None:
    with pytest.raises(ConfigError, match=r"LDM_LB_TIMEOUT_MS=.* is not a whole number from 1 to 60000"):
        build({"LDM_LB_TIMEOUT_MS": value})


def test_hosts_zero_means_all() -> None:
    assert build({"LDM_LB_HOSTS": "0"}).max_hosts == 0


def test_hosts_rejects_negative() -> None:
    with pytest.raises(ConfigError, match="LDM_LB_HOSTS='-1'"):
        build({"LDM_LB_HOSTS": "-1"})


@pytest.mark.parametrize(("word", "expected"), [("Y", True), ("true", True), ("n", False), ("False", False)])
def test_ignore_swapping_reads_ltsp_booleans(word: str, expected: bool) -> None:
    assert build({"LDM_LB_IGNORE_SWAPPING": word}).ignore_swapping is expected


def test_ignore_swapping_rejects_other_words() -> None:
    with pytest.raises(
        ConfigError, match=r"LDM_LB_IGNORE_SWAPPING='sometimes' is not a boolean \(use True or False\)"
    ):
        build({"LDM_LB_IGNORE_SWAPPING": "sometimes"})


def test_trust_rejects_unknown_policy() -> None:
    with pytest.raises(ConfigError, match="LDM_LB_TRUST='all' is not one of auto, known-hosts, any"):
        build({"LDM_LB_TRUST": "all"})


def test_fallback_rejects_what_is_not_a_host() -> None:
    with pytest.raises(ConfigError, match=r"LDM_LB_FALLBACK has 'a,b', which is not a host name or address"):
        build({"LDM_LB_FALLBACK": "a,b"})


def test_known_hosts_must_be_an_absolute_path() -> None:
    with pytest.raises(ConfigError, match="LDM_LB_KNOWN_HOSTS='ssh_known_hosts' is not an absolute path"):
        build({"LDM_LB_KNOWN_HOSTS": "ssh_known_hosts"})


@pytest.mark.parametrize("url", ["lb:8008", "ftp://lb/", "http://", "http://lb:99999/"])
def test_loadbalancer_url_must_be_http(url: str) -> None:
    with pytest.raises(ConfigError, match="LDM_LB_LOADBALANCER_URL="):
        build({"LDM_LB_LOADBALANCER_URL": url})


@pytest.mark.parametrize("domain", ["bad domain", "-x.org", "a..b", "x" * 64 + ".org"])
def test_domain_must_be_a_dns_name(domain: str) -> None:
    with pytest.raises(ConfigError, match=r"LDM_LB_DOMAIN=.* is not a DNS domain name"):
        build({"LDM_LB_DOMAIN": domain})


def test_unknown_ldm_lb_keys_are_reported_with_the_likely_intended_one() -> None:
    warnings = unknown_keys(
        {"LDM_LB_ALGORITM": "random", "PATH": "/bin"}, conf("[default]\nLDM_LB_HOST = 2\n")
    )
    assert warnings == (
        (
            "environment variable LDM_LB_ALGORITM: LDM_LB_ALGORITM is not an ltsp-mesh setting "
            "(did you mean LDM_LB_ALGORITHM?)"
        ),
        "/etc/lts.conf line 2: LDM_LB_HOST is not an ltsp-mesh setting (did you mean LDM_LB_HOSTS?)",
    )


def test_settings_built_directly_are_validated() -> None:
    with pytest.raises(ValueError, match="max_load_per_cpu"):
        ClientSettings(max_load_per_cpu=0.0)


# --- check: a bad value is a warning and its default, never an error ----------------------------

# Each variable with bad values, the field it sets, and that field's default.
BAD = [
    ("LDM_LB_ALGORITHM", ["leastloaded", "fastest", "mac hash", "1"], "algorithm", Algorithm.LEAST_LOADED),
    ("LDM_LB_MAX_LOAD", ["0", "-1", "abc", "nan", "1e3", "1001"], "max_load_per_cpu", 2.0),
    ("LDM_LB_MAX_RESPONSE_MS", ["0", "-5", "60001", "fast"], "max_response_ms", 250.0),
    ("LDM_LB_IGNORE_SWAPPING", ["maybe", "2", "yess"], "ignore_swapping", True),
    ("LDM_LB_TIMEOUT_MS", ["100000", "0", "-1", "400ms", "1.5", "1" * 20], "timeout_ms", 400),
    ("LDM_LB_HOSTS", ["-1", "1.5", "1001", "all"], "max_hosts", 0),
    ("LDM_LB_TRUST", ["all", "known_hostz"], "trust", Trust.AUTO),
    ("LDM_LB_FALLBACK", ["a,b", "$(reboot)"], "fallback_hosts", ("10.0.0.1",)),
    ("LDM_LB_KNOWN_HOSTS", ["ssh_known_hosts"], "known_hosts_path", "/etc/ssh/ssh_known_hosts"),
    ("LDM_LB_LOADBALANCER_URL", ["lb:8008", "ftp://lb/"], "loadbalancer_url", None),
    ("LDM_LB_DOMAIN", ["bad domain", "a..b"], "dns_sd_domain", None),
]
BAD_CASES = [(key, value, name, default) for key, values, name, default in BAD for value in values]


@pytest.mark.parametrize(("key", "value", "name", "default"), BAD_CASES)
def test_check_uses_the_default_for_a_bad_value(key: str, value: str, name: str, default: object) -> None:
    checked = check({"SERVER": "10.0.0.1", key: value})
    assert getattr(checked.settings, name) == default


@pytest.mark.parametrize(("key", "value", "name", "default"), BAD_CASES)
def test_check_reports_a_bad_value_where_it_came_from_and_the_default(
    key: str, value: str, name: str, default: object
) -> None:
    (bad,) = check({"SERVER": "10.0.0.1", key: value}).bad
    assert bad.key == key and bad.where == f"environment variable {key}"
    assert str(bad).endswith(f"; using the default {default_of(key)}")


def test_check_keeps_the_good_values_beside_a_bad_one() -> None:
    checked = check({"LDM_LB_ALGORITHM": "mac-hash", "LDM_LB_HOSTS": "-1", "LDM_LB_TIMEOUT_MS": "900"})
    assert (checked.settings.algorithm, checked.settings.max_hosts, checked.settings.timeout_ms) == (
        Algorithm.MAC_HASH,
        0,
        900,
    )
    assert [bad.key for bad in checked.bad] == ["LDM_LB_HOSTS"]


def test_check_names_the_lts_conf_line_of_a_bad_value() -> None:
    (bad,) = check({}, conf("[default]\nSERVER = a\nLDM_LB_MAX_LOAD = 0\n")).bad
    assert str(bad) == (
        "/etc/lts.conf line 3: LDM_LB_MAX_LOAD='0' is not a number above 0 and up to 1000 (e.g. 2.0); "
        "using the default 2.0"
    )


def test_check_reports_nothing_for_good_settings() -> None:
    assert check({"LDM_LB_HOSTS": "2", "SERVER": "10.0.0.1"}).bad == ()


def test_a_bad_server_leaves_no_fallback_and_is_reported() -> None:
    checked = check({"SERVER": "a;b"})
    assert checked.settings.fallback_hosts == () and [bad.key for bad in checked.bad] == ["SERVER"]


@pytest.mark.parametrize(("value", "expected"), [("0800", 800), ("09", 9), ("0400", 400), ("00000000001", 1)])
def test_leading_zeros_are_decimal_as_in_the_hook(value: str, expected: int) -> None:
    assert check({"LDM_LB_TIMEOUT_MS": value}).settings.timeout_ms == expected


def test_a_reported_value_is_escaped_and_cut_short() -> None:
    (bad,) = check({"LDM_LB_ALGORITHM": "\x1b[2J" + "x" * 200}).bad
    assert bad.problem.isprintable() and "\\x1b" in bad.problem and len(bad.problem) < 160


@pytest.mark.parametrize("key", [key for key, *_ in BAD])
def test_each_stated_default_is_the_real_default(key: str) -> None:
    if default_of(key) in ("$SERVER", "none"):
        return  # not values of their own: $SERVER is looked up, none is unset
    assert check({key: default_of(key)}).settings == ClientSettings()


def test_check_values_reports_rather_than_raises() -> None:
    checked = check_values({"LDM_LB_HOSTS": "-1", "LDM_LB_ALGORITHM": "random"}, "broker request")
    assert checked.settings.algorithm is Algorithm.RANDOM and checked.settings.max_hosts == 0
    assert [str(bad) for bad in checked.bad] == [
        "broker request: LDM_LB_HOSTS='-1' is not a whole number from 0 to 1000 (e.g. 0 for all, or 3); "
        "using the default 0"
    ]
