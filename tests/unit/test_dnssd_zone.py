"""core/discovery/dnssd_zone.py: the names a server registers in a unicast zone and the updates that keep them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.codec import txt
from ltsp_mesh.core.config import dns_site, mesh_conf
from ltsp_mesh.core.discovery import dnssd_zone, services
from ltsp_mesh.core.discovery.dnssd_zone import A, Ptr, Registration, RrType, Srv, Stamp, Txt, Update
from ltsp_mesh.core.trust import signing
from ltsp_mesh.errors import ConfigError

from .strategies import PROPERTY

MAC = "52:54:00:12:34:56"
DOMAIN = (b"school", b"example")
SERVICE = (b"_ltsp", b"_tcp", b"school", b"example")
INSTANCE = (b"app1 [52:54:00:12:34:56]", *SERVICE)
HOST = (b"app1-525400123456", b"school", b"example")
STAMP = Stamp(600, b"9f2c41d07a3e51b0")
TXT_PROPERTIES = {b"v": b"1", b"id": b"abc"}


def registration(addresses: tuple[str, ...] = ("10.77.1.10",)) -> Registration:
    return Registration(
        names=dnssd_zone.names_for("app1.school.example", MAC, DOMAIN),
        addresses=addresses,
        ssh_port=22,
        txt_rdata=txt.encode_rdata(TXT_PROPERTIES),
        ttl_s=60,
        stamp=STAMP,
    )


# --- the domain ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["school.example", "School.Example.", " school.example ", "ltsp.school.example"]
)
def test_domain_accepts_usual_spellings(value: str) -> None:
    assert dns_site.domain(value, "DNS_SD_DOMAIN")[-2:] == DOMAIN


@pytest.mark.parametrize(
    "value",
    [
        "",
        ".",
        "school..example",
        "-bad.example",
        "bad label.example",
        "x" * 64 + ".org",
        "école.example",
        "local",
        "lab.local.",
    ],
)
def test_domain_refuses_what_is_not_a_unicast_domain(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^mesh.conf line 4: .*school.example"):
        dns_site.domain(value, "mesh.conf line 4")


# --- names ---------------------------------------------------------------------------------


def test_names_use_the_mdns_labels_under_the_domain() -> None:
    names = dnssd_zone.names_for("app1.school.example", MAC, DOMAIN)
    assert (names.instance, names.host, names.service_type) == (INSTANCE, HOST, SERVICE)
    assert dnssd_zone.text(names.instance) == "app1 [52:54:00:12:34:56]._ltsp._tcp.school.example."
    assert dnssd_zone.text(names.host) == "app1-525400123456.school.example."


def test_clones_get_different_names() -> None:
    one = dnssd_zone.names_for("app1", MAC, DOMAIN)
    other = dnssd_zone.names_for("app1", "52:54:00:12:34:57", DOMAIN)
    assert one.instance != other.instance and one.host != other.host


def test_text_of_a_name_is_what_signing_binds() -> None:
    # The client verifies the TXT signature over the names it read; both ends use text().
    assert (
        signing.dns_name(dnssd_zone.text(INSTANCE)) == b"app1 [52:54:00:12:34:56]._ltsp._tcp.school.example"
    )


def test_is_within_compares_labels_without_case() -> None:
    assert dnssd_zone.is_within((b"X", b"School", b"EXAMPLE"), DOMAIN)
    assert not dnssd_zone.is_within(DOMAIN, DOMAIN)
    assert not dnssd_zone.is_within((b"x", b"evil", b"example"), DOMAIN)
    assert not dnssd_zone.is_within((b"x", b"notschool", b"example"), (b"school", b"example"))


# --- the records ---------------------------------------------------------------------------


def test_registration_holds_ptr_srv_txt_addresses_and_stamp() -> None:
    records = registration(("10.77.1.10", "10.0.0.5")).records()
    assert records == (
        Ptr(SERVICE, 60, INSTANCE),
        Srv(INSTANCE, 60, 22, HOST),
        Txt(INSTANCE, 60, (b"v=1", b"id=abc")),
        A(HOST, 60, "10.77.1.10"),
        A(HOST, 60, "10.0.0.5"),
        Txt(HOST, 60, (b"ltsp-lease=600", b"renew=9f2c41d07a3e51b0")),
    )


def test_the_registered_txt_is_the_mdns_txt() -> None:
    instance_txt = registration().records()[2]
    assert isinstance(instance_txt, Txt)
    assert txt.decode_rdata(b"".join(bytes([len(s)]) + s for s in instance_txt.strings)) == TXT_PROPERTIES


def test_an_empty_txt_is_one_empty_string() -> None:
    # RFC 6763 section 6.1: a TXT record always holds at least one string.
    empty = Registration(
        names=registration().names, addresses=("10.0.0.1",), ssh_port=22, txt_rdata=b"", ttl_s=60, stamp=STAMP
    )
    assert Txt(INSTANCE, 60, (b"",)) in empty.records()


def test_register_replaces_the_servers_own_rrsets_but_only_adds_its_ptr() -> None:
    update = dnssd_zone.register(registration())
    assert update.require == ()
    assert set(update.delete_rrsets) == {
        (INSTANCE, RrType.SRV),
        (INSTANCE, RrType.TXT),
        (HOST, RrType.A),
        (HOST, RrType.TXT),
    }
    assert (SERVICE, RrType.PTR) not in update.delete_rrsets  # the shared RRset is never deleted
    assert update.add == registration().records()


def test_remove_deletes_only_this_renewal_and_only_its_own_ptr() -> None:
    update = dnssd_zone.remove(registration())
    assert update.require == (Txt(HOST, 0, STAMP.strings()),)
    assert update.delete_rrs == (Ptr(SERVICE, 0, INSTANCE),)
    assert update.add == ()


def test_sweep_is_conditional_on_the_stale_stamp() -> None:
    update = dnssd_zone.sweep(DOMAIN, INSTANCE, HOST, STAMP)
    assert update == Update(
        require=(Txt(HOST, 0, STAMP.strings()),),
        delete_rrsets=((INSTANCE, RrType.SRV), (INSTANCE, RrType.TXT), (HOST, RrType.A), (HOST, RrType.TXT)),
        delete_rrs=(Ptr(SERVICE, 0, INSTANCE),),
    )


@pytest.mark.parametrize(
    ("instance", "host"),
    [
        ((b"x", b"_ltsp", b"_tcp", b"other", b"example"), HOST),
        (INSTANCE, (b"ns", b"other", b"example")),
        (SERVICE, HOST),
        (INSTANCE, DOMAIN),
    ],
)
def test_sweep_never_touches_names_outside_the_domain(
    instance: tuple[bytes, ...], host: tuple[bytes, ...]
) -> None:
    with pytest.raises(ValueError):
        dnssd_zone.sweep(DOMAIN, instance, host, STAMP)


# --- the renewal stamp ---------------------------------------------------------------------


def test_stamp_reads_back() -> None:
    assert dnssd_zone.read_stamp(STAMP.strings()) == STAMP


@pytest.mark.parametrize(
    "strings",
    [
        (),
        (b"ltsp-lease=600",),
        (b"renew=9f2c41d07a3e51b0", b"ltsp-lease=600"),
        (b"ltsp-lease=x", b"renew=9f2c41d0"),
        (b"ltsp-lease=600", b"renew=short"),
        (b"ltsp-lease=0", b"renew=9f2c41d07a3e51b0"),
        (b"v=spf1 -all",),
        (b"ltsp-lease=600", b"renew=9f2c41d07a3e51b0", b"more"),
    ],
)
def test_anything_else_is_not_a_stamp(strings: tuple[bytes, ...]) -> None:
    # An admin's own TXT records at a host name are never taken for ours.
    assert dnssd_zone.read_stamp(strings) is None


@PROPERTY
@given(st.lists(st.binary(max_size=8), max_size=4))
def test_read_stamp_never_raises(strings: list[bytes]) -> None:
    dnssd_zone.read_stamp(strings)


def test_txt_strings_splits_rdata() -> None:
    assert dnssd_zone.txt_strings(txt.encode_rdata({b"v": b"1", b"k": None})) == (b"v=1", b"k")


# --- merging the two browses ---------------------------------------------------------------


def server(name: str, *addresses: str) -> services.Discovered:
    return services.Discovered(
        instance=name, host=f"{name}-h.", ssh_port=22, addresses=addresses, announced=None
    )


def test_merge_keeps_a_server_found_both_ways_once_as_mdns_found_it() -> None:
    local = [server("a._ltsp._tcp.local.", "10.0.0.5")]
    unicast = [server("a._ltsp._tcp.school.example.", "10.0.0.5", "10.1.0.5"), server("b", "10.2.0.5")]
    merged = dnssd_zone.merge(local, unicast)
    assert [s.instance for s in merged] == ["a._ltsp._tcp.local.", "b"]


def test_merge_keeps_order_and_drops_unicast_duplicates() -> None:
    unicast = [server("b", "10.2.0.5"), server("b2", "10.2.0.5"), server("c", "10.3.0.5")]
    assert [s.instance for s in dnssd_zone.merge([], unicast)] == ["b", "c"]


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [("10.0.0.2", ("10.0.0.2", 53)), ("10.0.0.2:5353", ("10.0.0.2", 5353))]
)
def test_server_address_reads_address_and_port(value: str, expected: tuple[str, int]) -> None:
    assert dns_site.server_address(value, "--dns-server") == expected


@pytest.mark.parametrize(
    "value",
    ["", "ns.school.example", "10.0.0.2:", "10.0.0.2:0", "10.0.0.2:65536", "::1", "10.0.0.2:x", "10.0.0.256"],
)
def test_server_address_refuses_the_rest(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^--dns-server: .*e\.g\. 10\.0\.0\.2"):
        dns_site.server_address(value, "--dns-server")


def test_mesh_conf_checks_and_normalises_the_domain() -> None:
    values = {"DNS_SD_DOMAIN": ("School.Example.", "mesh.conf line 2")}
    assert mesh_conf.settings(values).dns_sd_domain == "school.example"
    with pytest.raises(ConfigError, match=r"^mesh.conf line 2: DNS_SD_DOMAIN: 'bad domain'"):
        mesh_conf.settings({"DNS_SD_DOMAIN": ("bad domain", "mesh.conf line 2")})
