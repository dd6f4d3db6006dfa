"""core/config/ltsconf.py: lts.conf syntax, includes, and getltscfg's section selection for one client."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltsp_mesh.core.config import client_settings, ltsconf
from ltsp_mesh.core.config.ltsconf import parse, parse_bool, resolve
from ltsp_mesh.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures" / "ltsconf"
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def values(text: str, **client: str) -> dict[str, str]:
    resolved = resolve(parse(text), **client)
    return {key: entry.value for key, entry in resolved.entries.items()}


def loader(files: dict[str, str]) -> ltsconf.Loader:
    def load(path: str) -> str:
        if path not in files:
            raise FileNotFoundError(2, "No such file or directory", path)
        return files[path]

    return load


def fixture_loader(path: str) -> str:
    return (FIXTURES / Path(path).name).read_text()


# --- syntax ---------------------------------------------------------------------------------


def test_parse_reads_sections_and_entries() -> None:
    conf = parse("[default]\nSERVER = 10.0.0.1\n[ws1]\nSOUND = True\n")
    assert list(conf.sections) == ["default", "ws1"]
    assert conf.sections["default"].entries["SERVER"].value == "10.0.0.1"
    assert conf.sections["ws1"].entries["SOUND"].line == 4


def test_keys_are_case_insensitive_and_stored_upper_case() -> None:
    conf = parse("[default]\nldm_lb_hosts = 2\n")
    assert conf.sections["default"].entries["LDM_LB_HOSTS"].value == "2"


def test_section_names_are_case_insensitive() -> None:
    conf = parse("[DeFault]\nA = 1\n")
    assert conf.section("DEFAULT") is conf.section("default")
    section = conf.section("default")
    assert section is not None and section.name == "DeFault"


def test_quoted_value_keeps_hash_equals_and_spaces() -> None:
    conf = parse('[default]\nX = "  a # b = c  "  # comment\n')
    assert conf.sections["default"].entries["X"].value == "  a # b = c  "


def test_unquoted_value_stops_at_hash_and_is_trimmed() -> None:
    conf = parse("[default]\nX =   1024x768   # the flat panel\n")
    assert conf.sections["default"].entries["X"].value == "1024x768"


def test_comment_and_blank_lines_are_skipped() -> None:
    conf = parse("# top\n\n   # indented\n[default]\n\t\nA = 1\n")
    assert list(conf.sections["default"].entries) == ["A"]


def test_unclosed_quote_names_file_and_line() -> None:
    with pytest.raises(ConfigError, match=r"site\.conf line 3: the quote opened here is never closed"):
        parse('[default]\nA = 1\nB = "open\n', "site.conf")


def test_text_after_closing_quote_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"lts\.conf line 2: unexpected text"):
        parse('[default]\nB = "a" b\n')


def test_entry_before_any_section_is_an_error_naming_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"line 1: SERVER comes before any \[section\] \(add \[default\]"):
        parse("SERVER = 1\n")


@pytest.mark.parametrize("line", ["LDM-LB = 1", "1KEY = 2", "MY KEY = 3", "= 4", "JUSTAWORD"])
def test_line_that_is_not_key_equals_value_names_the_line(line: str) -> None:
    with pytest.raises(ConfigError, match=r"lts\.conf line 2: .* is not KEY = value"):
        parse(f"[default]\n{line}\n")


@pytest.mark.parametrize("header", ["[]", "[ ]", "[ws1", "[a[b]", '["q"]', "[ws1] junk"])
def test_bad_section_header_names_the_line(header: str) -> None:
    with pytest.raises(ConfigError, match=r"lts\.conf line 1: "):
        parse(f"{header}\n")


def test_header_may_carry_the_first_entry_on_its_line() -> None:
    # LTSP's lexer is token based: "[Default] XSERVER = auto" is valid and common in old files.
    conf = parse("[Default] XSERVER = auto\n  SERVER = 1.2.3.4\n")
    assert set(conf.sections["default"].entries) == {"XSERVER", "SERVER"}


def test_header_followed_by_comment_is_a_header() -> None:
    conf = parse("[00:1e:0b:47:af:02]   # teacher's desk\nA = 1\n")
    assert "00:1e:0b:47:af:02" in conf.sections


def test_last_line_for_a_key_wins_within_a_section() -> None:
    conf = parse("[default]\nA = 1\nA = 2\n")
    assert conf.sections["default"].entries["A"].value == "2"


def test_repeated_section_is_merged_and_warned_about() -> None:
    conf = parse("[default]\nA = 1\nB = 1\n[ws1]\nC = 1\n[DEFAULT]\nB = 2\n")
    entries = conf.sections["default"].entries
    assert (entries["A"].value, entries["B"].value) == ("1", "2")
    assert any("line 6: section [DEFAULT] already began at lts.conf line 1" in w for w in conf.warnings)


def test_crlf_line_endings_are_read() -> None:
    conf = parse('[default]\r\nA = 1\r\nB = "x y"\r\n')
    assert [e.value for e in conf.sections["default"].entries.values()] == ["1", "x y"]


def test_unicode_line_separator_inside_quotes_does_not_split_the_line() -> None:
    conf = parse('[default]\nA = "x\u2028y\x0cz"\n')
    assert conf.sections["default"].entries["A"].value == "x\u2028y\x0cz"


def test_oversized_text_is_an_error() -> None:
    with pytest.raises(ConfigError, match="larger than"):
        parse("#" * (ltsconf.MAX_CONF_BYTES + 1))


def test_every_like_line_of_a_section_is_kept_in_order() -> None:
    conf = parse("[ws1]\nLIKE = a\nlike = b\n[a]\n[b]\n")
    assert [like.value for like in conf.sections["ws1"].likes] == ["a", "b"]
    assert "LIKE" not in conf.sections["ws1"].entries


LTSP_BOOLEANS = [("Y", True), ("y", True), ("True", True), ("true", True)] + [
    ("N", False),
    ("n", False),
    ("False", False),
    ("false", False),
]


@pytest.mark.parametrize(("word", "expected"), LTSP_BOOLEANS)
def test_parse_bool_reads_ltsp_booleans(word: str, expected: bool) -> None:
    assert parse_bool(word, "lts.conf line 1", "SOUND") is expected


def test_parse_bool_rejects_other_words_naming_where_and_fix() -> None:
    with pytest.raises(
        ConfigError, match=r"lts\.conf line 4: SOUND='maybe' is not a boolean \(use True or False\)"
    ):
        parse_bool("maybe", "lts.conf line 4", "SOUND")


# --- include --------------------------------------------------------------------------------


def test_include_reads_the_file_relative_to_the_including_file() -> None:
    files = {"/etc/lts.conf.stations": "[ws1]\nSOUND = N\n"}
    conf = parse("[default]\nA = 1\ninclude lts.conf.stations\n", "/etc/lts.conf", load=loader(files))
    assert conf.sections["ws1"].entries["SOUND"].where == "/etc/lts.conf.stations line 2"


def test_include_accepts_a_quoted_absolute_path_and_a_comment() -> None:
    files = {"/srv/ltsp/rooms.conf": "[room]\nB = 2\n"}
    conf = parse('include "/srv/ltsp/rooms.conf"  # rooms\n', "/etc/lts.conf", load=loader(files))
    assert "room" in conf.sections


def test_include_without_a_loader_is_an_error() -> None:
    with pytest.raises(
        ConfigError, match=r"mesh\.conf line 1: include other\.conf: this file cannot include"
    ):
        parse("include other.conf\n", "mesh.conf")


def test_include_of_a_missing_file_names_the_include_line() -> None:
    with pytest.raises(
        ConfigError, match=r"/etc/lts\.conf line 2: cannot read included file /etc/x: No such file"
    ):
        parse("[default]\ninclude x\n", "/etc/lts.conf", load=loader({}))


def test_include_loop_is_an_error_naming_the_loop() -> None:
    files = {"/etc/a.conf": "include b.conf\n", "/etc/b.conf": "[x]\nA = 1\ninclude a.conf\n"}
    with pytest.raises(ConfigError, match=r"/etc/b\.conf line 3: include /etc/a\.conf makes a loop"):
        parse(files["/etc/a.conf"], "/etc/a.conf", load=loader(files))


def test_file_including_itself_is_a_loop() -> None:
    with pytest.raises(ConfigError, match="makes a loop"):
        parse("include lts.conf\n", "/etc/lts.conf", load=loader({"/etc/lts.conf": ""}))


def test_file_included_twice_is_read_once_with_a_warning() -> None:
    files = {"/etc/common": "[default]\nA = 1\n"}
    conf = parse("include common\n[default]\nA = 2\ninclude common\n", "/etc/main", load=loader(files))
    assert conf.sections["default"].entries["A"].value == "2"
    assert any("already included" in w for w in conf.warnings)


def test_include_nesting_is_limited() -> None:
    files = {f"/c/{i}": f"include {i + 1}\n" for i in range(10)}
    with pytest.raises(ConfigError, match="nests deeper than 3 files"):
        parse("include 0\n", "/c/main", load=loader(files), max_depth=3)


def test_number_of_included_files_is_limited() -> None:
    files = {f"/c/{i}": "" for i in range(20)}
    text = "".join(f"include {i}\n" for i in range(20))
    with pytest.raises(ConfigError, match=r"/c/main line 10: include /c/9 is over the limit of 10 files"):
        parse(text, "/c/main", load=loader(files))


def test_error_inside_an_included_file_names_that_file_and_line() -> None:
    files = {"/etc/bad": '[ok]\nA = 1\nB = "open\n'}
    with pytest.raises(ConfigError, match=r"^/etc/bad line 3: "):
        parse("include bad\n", "/etc/main", load=loader(files))


def test_undecodable_included_file_is_a_config_error() -> None:
    def load(path: str) -> str:
        return b"\xff".decode()

    with pytest.raises(ConfigError, match="cannot read included file"):
        parse("include x\n", "/etc/main", load=load)


def test_entries_after_an_include_belong_to_the_section_open_before_it() -> None:
    files = {"/etc/inc": "[other]\nB = 1\n"}
    conf = parse("[default]\ninclude inc\nA = 1\n", "/etc/main", load=loader(files))
    assert "A" in conf.sections["default"].entries and "A" not in conf.sections["other"].entries


def test_key_named_include_is_an_ordinary_entry() -> None:
    conf = parse("[default]\ninclude = yes\n")
    assert conf.sections["default"].entries["INCLUDE"].value == "yes"


# --- resolve: getltscfg's section selection ----------------------------------------------------


def test_default_applies_to_every_client() -> None:
    assert values("[default]\nA = 1\n", hostname="ws9", ip="10.0.0.9", mac="00:00:00:00:00:09") == {"A": "1"}


def test_mac_section_overrides_default() -> None:
    text = "[default]\nA = 1\nB = 1\n[00:11:22:33:44:55]\nA = 2\n"
    assert values(text, mac="00:11:22:33:44:55") == {"A": "2", "B": "1"}


def test_mac_is_matched_without_regard_to_case_or_separator() -> None:
    text = "[00:0B:DB:3A:11:9C]\nA = 2\n"
    assert values(text, mac="00-0b-db-3a-11-9c") == {"A": "2"}


def test_hostname_section_wins_and_ip_and_mac_sections_are_not_used() -> None:
    # getltscfg uses only the first of hostname, IP, MAC that names a section.
    text = "[ws1]\nA = host\n[10.0.0.1]\nA = ip\nB = ip\n[00:00:00:00:00:01]\nC = mac\n"
    assert values(text, hostname="ws1", ip="10.0.0.1", mac="00:00:00:00:00:01") == {"A": "host"}


def test_ip_section_wins_over_mac_section() -> None:
    text = "[10.0.0.1]\nA = ip\n[00:00:00:00:00:01]\nA = mac\nB = mac\n"
    assert values(text, hostname="nosection", ip="10.0.0.1", mac="00:00:00:00:00:01") == {"A": "ip"}


def test_glob_section_applies_below_the_exact_section() -> None:
    text = "[default]\nA = d\nB = d\nC = d\n[10.0.0.*]\nA = glob\nB = glob\n[10.0.0.1]\nA = ip\n"
    assert values(text, ip="10.0.0.1") == {"A": "ip", "B": "glob", "C": "d"}


def test_only_the_first_matching_glob_in_file_order_counts_per_identity() -> None:
    text = "[10.0.*]\nA = wide\n[10.0.0.*]\nA = narrow\nB = narrow\n"
    assert values(text, ip="10.0.0.1") == {"A": "wide"}


def test_globs_of_hostname_ip_and_mac_all_apply_hostname_strongest() -> None:
    text = "[00:00:*]\nA = mac\nB = mac\nC = mac\n[10.*]\nA = ip\nB = ip\n[ws*]\nA = host\n"
    assert values(text, hostname="ws1", ip="10.0.0.1", mac="00:00:00:00:00:01") == {
        "A": "host",
        "B": "ip",
        "C": "mac",
    }


def test_glob_matching_ignores_case() -> None:
    assert values("[LAB-*]\nA = 1\n", hostname="lab-07") == {"A": "1"}


def test_question_mark_glob_matches_one_character() -> None:
    text = "[ws?]\nA = 1\n"
    assert values(text, hostname="ws1") == {"A": "1"} and values(text, hostname="ws10") == {}


def test_like_inherits_below_the_section_that_names_it() -> None:
    text = "[default]\nA = d\nB = d\nC = d\n[ws1]\nLIKE = group\nA = ws1\n[group]\nA = g\nB = g\n"
    assert values(text, hostname="ws1") == {"A": "ws1", "B": "g", "C": "d"}


def test_like_chains_are_followed_breadth_first() -> None:
    # ws1 LIKE a, b; a LIKE c: the chain is ws1, a, b, c, so b beats c.
    text = "[ws1]\nLIKE = a\nLIKE = b\n[a]\nLIKE = c\n[b]\nX = b\n[c]\nX = c\nY = c\n"
    resolved = resolve(parse(text), hostname="ws1")
    assert resolved.chain == ("ws1", "a", "b", "c")
    assert {k: e.value for k, e in resolved.entries.items()} == {"X": "b", "Y": "c"}


def test_glob_sections_follow_their_own_like_lines() -> None:
    text = "[10.0.0.*]\nLIKE = exam\n[exam]\nLOCALDEV = False\n"
    assert values(text, ip="10.0.0.4") == {"LOCALDEV": "False"}


def test_like_loop_is_an_error_naming_the_line_that_closes_it() -> None:
    text = "[ws1]\nLIKE = a\n[a]\nLIKE = b\n[b]\nLIKE = A\n"
    with pytest.raises(ConfigError, match=r"lts\.conf line 6: LIKE = A makes a loop \(a -> b -> a\)"):
        resolve(parse(text), hostname="ws1")


def test_section_liking_itself_is_a_loop() -> None:
    with pytest.raises(ConfigError, match="makes a loop"):
        resolve(parse("[ws1]\nLIKE = ws1\n"), hostname="ws1")


def test_like_loop_in_a_glob_section_is_an_error() -> None:
    with pytest.raises(ConfigError, match="makes a loop"):
        resolve(parse("[10.*]\nLIKE = a\n[a]\nLIKE = 10.*\n"), ip="10.0.0.1")


def test_like_loop_the_client_never_reaches_is_not_its_error() -> None:
    text = "[default]\nA = 1\n[x]\nLIKE = y\n[y]\nLIKE = x\n"
    assert values(text, hostname="ws1") == {"A": "1"}


def test_two_sections_liking_a_third_is_not_a_loop() -> None:
    text = "[ws1]\nLIKE = a\nLIKE = b\n[a]\nLIKE = c\n[b]\nLIKE = c\n[c]\nX = c\n"
    assert values(text, hostname="ws1") == {"X": "c"}


def test_like_naming_no_section_is_ignored_with_a_warning() -> None:
    resolved = resolve(parse("[ws1]\nLIKE = nowhere\nA = 1\n"), hostname="ws1")
    assert resolved.entries["A"].value == "1"
    assert resolved.warnings == ("lts.conf line 2: LIKE = nowhere names no section; ignored",)


def test_like_in_default_is_ignored_as_ltsp_does() -> None:
    resolved = resolve(parse("[default]\nLIKE = extra\n[extra]\nA = 1\n"), hostname="ws1")
    assert resolved.entries == {} and "LIKE in [default] is ignored" in resolved.warnings[0]


def test_none_suppresses_a_key_whatever_its_case() -> None:
    assert values("[default]\nA = NONE\nB = none\nC = x\n") == {"C": "x"}


def test_none_in_a_client_section_hides_the_default_value() -> None:
    assert values("[default]\nA = 1\n[ws1]\nA = NONE\n", hostname="ws1") == {}


def test_quoted_none_still_suppresses_the_key() -> None:
    # getltscfg strips the quotes before comparing with NONE.
    assert values('[default]\nA = "NONE"\n') == {}


def test_chain_names_the_sections_strongest_first_each_once() -> None:
    text = "[default]\n[ws*]\nLIKE = g\n[ws1]\nLIKE = g\n[g]\n"
    assert resolve(parse(text), hostname="ws1").chain == ("ws1", "g", "ws*", "default")


def test_client_without_identity_gets_the_default_section() -> None:
    assert resolve(parse("[default]\nA = 1\n[ws1]\nA = 2\n")).chain == ("default",)


def test_long_like_chain_does_not_hit_the_recursion_limit() -> None:
    text = "".join(f"[s{i}]\nLIKE = s{i + 1}\n" for i in range(3000)) + "[s3000]\nEND = yes\n"
    assert values(text, hostname="s0") == {"END": "yes"}


def test_resolved_get_ignores_case() -> None:
    resolved = resolve(parse("[default]\nLDM_LB_HOSTS = 2\n"))
    assert resolved.get("ldm_lb_hosts") is resolved.entries["LDM_LB_HOSTS"]


# --- files from real LTSP setups ------------------------------------------------------------


def read_fixture(name: str) -> ltsconf.LtsConf:
    return parse((FIXTURES / name).read_text(), f"/etc/{name}", load=lambda p: fixture_loader(p))


def test_debian_edu_teacher_desk_gets_both_groups_and_its_own_algorithm() -> None:
    resolved = resolve(
        read_fixture("debian_edu_lab.conf"), hostname="ltsp17", ip="10.0.2.77", mac="00:1E:0B:47:AF:02"
    )
    assert resolved.chain == ("00:1e:0b:47:af:02", "Prosjektor", "Skriver_lab", "default")
    entries = resolved.entries
    assert (entries["LDM_LB_ALGORITHM"].value, entries["X_MODE_0"].value) == ("chooser", "1024x768")
    assert (
        entries["PRINTER_0_DEVICE"].value == "/dev/usb/lp0" and entries["LDM_LANGUAGE"].value == "nb_NO.UTF-8"
    )


def test_debian_edu_old_machine_written_upper_case_gets_mac_hash() -> None:
    resolved = resolve(
        read_fixture("debian_edu_lab.conf"), hostname="ltsp30", ip="10.0.2.90", mac="00:0b:db:3a:11:9c"
    )
    assert resolved.entries["LDM_LB_ALGORITHM"].value == "mac-hash"
    assert resolved.entries["XSERVER"].value == "vesa"


def test_debian_edu_section_value_with_trailing_comment() -> None:
    resolved = resolve(read_fixture("debian_edu_lab.conf"), mac="00:0b:db:3a:11:9d")
    assert resolved.entries["SOUND"].value == "False"


def test_two_rooms_exam_room_is_filtered_and_has_no_fallback() -> None:
    resolved = resolve(
        read_fixture("two_rooms_globs.conf"), hostname="b-12", ip="192.168.11.12", mac="00:00:00:00:0b:12"
    )
    assert resolved.chain == ("192.168.11.*", "exam", "default")
    settings = client_settings.build({}, resolved.entries)
    assert settings.algorithm is client_settings.Algorithm.FILTERED
    assert (settings.max_load_per_cpu, settings.fallback_hosts) == (1.5, ())


def test_two_rooms_room_a_keeps_default_algorithm_with_longer_timeouts() -> None:
    resolved = resolve(
        read_fixture("two_rooms_globs.conf"), hostname="a-03", ip="192.168.10.3", mac="00:00:00:00:0a:03"
    )
    settings = client_settings.build({}, resolved.entries)
    assert (settings.timeout_ms, settings.max_response_ms) == (800, 450.0)
    assert settings.fallback_hosts == ("192.168.10.1", "192.168.11.1")


def test_two_rooms_library_terminal_hostname_section_beats_room_glob() -> None:
    resolved = resolve(read_fixture("two_rooms_globs.conf"), hostname="library-term", ip="192.168.11.40")
    assert resolved.chain == ("library-term", "192.168.11.*", "exam", "default")
    assert resolved.entries["LDM_LB_ALGORITHM"].value == "random"


def test_two_rooms_new_lab_machine_matches_hostname_glob() -> None:
    resolved = resolve(read_fixture("two_rooms_globs.conf"), hostname="lab-31", ip="192.168.12.31")
    assert resolved.entries["LDM_LB_HOSTS"].value == "2"


def test_farm_file_includes_the_shared_stations_file() -> None:
    resolved = resolve(read_fixture("multi_server_main.conf"), hostname="ws001", ip="172.16.6.201")
    entries = resolved.entries
    assert entries["LDM_LB_ALGORITHM"].where == "/etc/lts.conf.stations line 12"
    assert (
        entries["X_MODE_0"].value == "1280x1024" and entries["SEARCH_DOMAIN"].value == "ltspnet.example.net"
    )
    assert (
        entries["LDM_LB_KNOWN_HOSTS"].value == "/etc/ssh/ssh_known_hosts.farm"
    )  # [Default] merged across files


def test_farm_teacher_section_after_the_include_is_read() -> None:
    resolved = resolve(read_fixture("multi_server_main.conf"), hostname="ws-teacher")
    assert resolved.entries["LDM_LB_ALGORITHM"].value == "chooser"


def test_ltsp4_legacy_file_with_crlf_and_header_entries() -> None:
    resolved = resolve(read_fixture("ltsp4_legacy.conf"), hostname="ws004", ip="192.168.0.50")
    entries = resolved.entries
    assert entries["XSERVER"].value == "auto" and entries["SCREEN_01"].value == "shell"
    assert entries["LDM_SESSION"].value == "gnome-session --session=classic # kept: inside quotes"
    assert entries["X_MOUSE_PROTOCOL"].value == "PS/2" and entries["RUNLEVEL"].value == "5"
    assert client_settings.build({}, entries).ignore_swapping is False


@pytest.mark.parametrize(
    "name", ["debian_edu_lab.conf", "two_rooms_globs.conf", "multi_server_main.conf", "ltsp4_legacy.conf"]
)
def test_every_fixture_gives_valid_settings_for_any_client(name: str) -> None:
    conf = read_fixture(name)
    for ident in ("ws001", "192.168.11.5", "00:0b:db:3a:11:9d", "nobody"):
        resolved = resolve(conf, hostname=ident, ip=ident, mac=ident)
        client_settings.build({"SERVER": "10.0.0.1"}, resolved.entries)


# --- properties -------------------------------------------------------------------------------

FRAGMENTS = st.sampled_from(
    [
        "[default]",
        "[ws1]",
        "[10.0.*]",
        "[",
        "]",
        "LIKE = ws1",
        "LIKE = default",
        "like=10.0.*",
        "A = 1",
        'B = "x',
        '"',
        "#",
        "= ",
        "NONE",
        "include x",
        "include",
        "\t",
        " ",
        "\r",
        "[a b]",
        'C = "q" # c',
        "*",
        "?",
    ]
)
lines_soup = st.lists(st.lists(FRAGMENTS | st.text(max_size=6), max_size=4).map("".join), max_size=25).map(
    "\n".join
)


@PROPERTY
@given(st.text(max_size=400))
def test_parse_raises_nothing_but_config_error_on_any_text(text: str) -> None:
    try:
        parse(text, load=lambda path: text)
    except ConfigError:
        pass


@PROPERTY
@given(lines_soup, st.sampled_from(["ws1", "10.0.0.1", "default", "", "*"]))
def test_parse_and_resolve_raise_nothing_but_config_error_on_lts_conf_like_text(
    text: str, ident: str
) -> None:
    try:
        conf = parse(text, "/etc/lts.conf", load=lambda path: text)
        resolved = resolve(conf, hostname=ident, ip="10.0.0.1", mac="00:00:00:00:00:01")
    except ConfigError:
        return
    assert all(entry.value.upper() != "NONE" for entry in resolved.entries.values())
