"""core/discovery/names.py: names unique by construction on cloned images (same host name, same machine-id)."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ltsp_mesh.core.discovery import names
from ltsp_mesh.core.record import MAX_ID_CHARS
from tests.records import record

from .strategies import PROPERTY

MAC = "52:54:00:12:34:56"
OTHER_MAC = "52:54:00:12:34:57"
MACHINE_ID = "0123456789abcdef0123456789abcdef"
# RFC 1035 section 2.3.1 and RFC 1123 section 2.1: letters, digits and inner hyphens, 63 at most.
DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# RFC 6763 section 4.1.1: an instance name is at most 63 bytes of UTF-8.
MAX_INSTANCE_BYTES = 63

macs = st.lists(st.integers(0, 255), min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02x}" for x in b))


# --- MAC addresses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given_mac", ["52:54:00:12:34:56", "52-54-00-12-34-56", "52:54:00:12:34:56\n", " 52:54:00:12:34:56 "]
)
def test_normalize_mac_accepts_the_usual_spellings(given_mac: str) -> None:
    assert names.normalize_mac(given_mac.upper()) == MAC
    assert names.normalize_mac(given_mac) == MAC


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "52:54:00:12:34",
        "52:54:00:12:34:56:78",
        "525400123456",
        "52:54:00:12:34:5g",
        "52.54.00.12.34.56",
        "52:54:00:12:34:5",
        "\uff15\uff12:54:00:12:34:56",
    ],
)
def test_normalize_mac_rejects_what_is_not_a_mac(bad: str) -> None:
    with pytest.raises(ValueError, match="MAC"):
        names.normalize_mac(bad)


@pytest.mark.parametrize("make", [names.instance_name, names.service_name, names.mdns_host_name])
def test_names_refuse_a_bad_mac(make: object) -> None:
    with pytest.raises(ValueError, match="MAC"):
        make("app1", "not a mac")  # type: ignore[operator]  # parametrized over three functions


# --- host labels -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hostname", "label"),
    [
        ("app1", "app1"),
        ("App1", "app1"),
        ("app1.example.org", "app1"),
        ("my_server", "my-server"),
        ("my  server", "my-server"),
        ("-app1-", "app1"),
        ("", "ltsp"),
        ("...", "ltsp"),
        ("___", "ltsp"),
        ("\u00e9l\u00e8ve", "l-ve"),
        ("\u4e2d\u6587", "ltsp"),
        ("a" * 40, "a" * 32),
        ("a" * 31 + "-b", "a" * 31),  # cut at 32 characters, then no trailing hyphen
    ],
)
def test_host_label_reduces_a_host_name_to_a_dns_label(hostname: str, label: str) -> None:
    assert names.host_label(hostname) == label


@given(st.text())
@PROPERTY
def test_host_label_is_a_valid_dns_label_for_any_input(hostname: str) -> None:
    assert DNS_LABEL.fullmatch(names.host_label(hostname))


# --- instance and host names -------------------------------------------------------------------


def test_instance_name_is_the_host_label_and_the_mac() -> None:
    assert names.instance_name("App1.example.org", "52-54-00-12-34-56") == "app1 [52:54:00:12:34:56]"


def test_service_name_is_the_instance_in_the_ltsp_service_type() -> None:
    assert names.service_name("app1", MAC) == "app1 [52:54:00:12:34:56]._ltsp._tcp.local."


def test_mdns_host_name_is_the_host_label_and_the_mac_in_local() -> None:
    assert names.mdns_host_name("app1", MAC) == "app1-525400123456.local."


def test_cloned_servers_get_different_names() -> None:
    # Cloned images share the host name; the MAC of the announcing interface tells them apart.
    assert names.instance_name("app1", MAC) != names.instance_name("app1", OTHER_MAC)
    assert names.mdns_host_name("app1", MAC) != names.mdns_host_name("app1", OTHER_MAC)


@given(st.text(), macs, macs)
@PROPERTY
def test_names_are_unique_per_mac_for_the_same_hostname(hostname: str, mac: str, other: str) -> None:
    assume(mac != other)
    assert names.instance_name(hostname, mac) != names.instance_name(hostname, other)
    assert names.service_name(hostname, mac) != names.service_name(hostname, other)
    assert names.mdns_host_name(hostname, mac).lower() != names.mdns_host_name(hostname, other).lower()


@given(st.text(), macs)
@PROPERTY
def test_names_do_not_depend_on_how_the_mac_is_spelled(hostname: str, mac: str) -> None:
    spelled = mac.upper().replace(":", "-")
    assert names.instance_name(hostname, spelled) == names.instance_name(hostname, mac)
    assert names.mdns_host_name(hostname, spelled) == names.mdns_host_name(hostname, mac)


@given(st.text(), macs)
@PROPERTY
def test_instance_name_leaves_room_for_a_conflict_suffix(hostname: str, mac: str) -> None:
    # zeroconf renames on a conflict by appending "-2", "-3", ...
    assert len((names.instance_name(hostname, mac) + "-99").encode()) <= MAX_INSTANCE_BYTES


@given(st.text(), macs)
@PROPERTY
def test_mdns_host_name_is_one_dns_label_in_local(hostname: str, mac: str) -> None:
    host = names.mdns_host_name(hostname, mac)
    label, _, domain = host.partition(".")
    assert domain == "local."
    assert DNS_LABEL.fullmatch(label)


# --- server ids --------------------------------------------------------------------------------


def test_server_id_is_stable_across_releases() -> None:
    # Clients and caches remember ids: changing the derivation renames every server at once.
    assert names.server_id(MACHINE_ID, MAC) == "ea814039e4945d45"


def test_server_id_ignores_whitespace_around_the_machine_id() -> None:
    # /etc/machine-id ends with a newline.
    assert names.server_id(MACHINE_ID + "\n", MAC) == names.server_id(MACHINE_ID, MAC)


def test_server_id_does_not_depend_on_how_the_mac_is_spelled() -> None:
    assert names.server_id(MACHINE_ID, "52-54-00-12-34-56") == names.server_id(MACHINE_ID, MAC)


@given(st.text(max_size=40), macs, macs)
@PROPERTY
def test_server_id_differs_per_mac_on_cloned_machine_ids(machine_id: str, mac: str, other: str) -> None:
    assume(mac != other)
    assert names.server_id(machine_id, mac) != names.server_id(machine_id, other)


@given(st.text(max_size=40), macs)
@PROPERTY
def test_server_id_is_a_valid_record_id(machine_id: str, mac: str) -> None:
    server_id = names.server_id(machine_id, mac)
    assert re.fullmatch(r"[0-9a-f]{16}", server_id) and len(server_id) <= MAX_ID_CHARS
    record(server_id=server_id, cpus=1, load_per_cpu=0.0, mem_percent=0, capacity=1)
