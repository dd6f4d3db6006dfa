"""shell/server/dnssd_messages.py and dnssd_register.py without a DNS server: the messages and the config checks.

The lab (tests/lab/test_unicast_dnssd.py) runs the registrar against a real BIND9; these pin
what goes on the wire and what a bad configuration says.
"""

from __future__ import annotations

import base64
from collections import Counter
from pathlib import Path

import dns.edns
import dns.message
import dns.name
import dns.opcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import pytest

from ltsp_mesh.core.codec import txt
from ltsp_mesh.core.config.mesh_conf import ServeSettings
from ltsp_mesh.core.discovery import dnssd_lease, dnssd_zone
from ltsp_mesh.core.discovery.dnssd_zone import Registration, Stamp
from ltsp_mesh.core.trust.tsig_key import TsigKey
from ltsp_mesh.errors import ConfigError, DecodeError
from ltsp_mesh.shell.netif import Interface
from ltsp_mesh.shell.server import dnssd_messages, dnssd_register

SECRET = base64.b64decode("2z9RK0ujjPZ5aTQTf3W1BIRAruhmWYEVwR82ue9ZHFM=")
KEY = TsigKey(name="ltsp-mesh", algorithm="hmac-sha256", secret=SECRET)
DOMAIN = (b"school", b"example")
ZONE = dns.name.from_text("school.example.")
NAMES = dnssd_zone.names_for("app1", "52:54:00:12:34:56", DOMAIN)
REGISTRATION = Registration(
    names=NAMES,
    addresses=("10.0.1.10",),
    ssh_port=22,
    txt_rdata=txt.encode_rdata({b"v": b"1"}),
    ttl_s=60,
    stamp=Stamp(600, b"0123456789abcdef"),
)
KEYRING = {dns.name.from_text("ltsp-mesh."): dns.tsig.Key("ltsp-mesh.", SECRET, "hmac-sha256.")}


def _read_back(update: dnssd_zone.Update, lease_s: int | None) -> dns.message.Message:
    wire = dnssd_messages.message(ZONE, update, dnssd_messages.dnspython_key(KEY), lease_s).to_wire()
    return dns.message.from_wire(wire, keyring=KEYRING)  # verifies the TSIG


def test_a_registration_is_a_signed_update_of_the_zone_asking_for_the_lease() -> None:
    message = _read_back(dnssd_zone.register(REGISTRATION), 600)
    assert message.opcode() == dns.opcode.UPDATE
    assert message.had_tsig and message.keyname == dns.name.from_text("ltsp-mesh.")
    assert [o.otype for o in message.options] == [dnssd_lease.UPDATE_LEASE_OPTION]
    assert message.options[0].to_wire() == b"\x00\x00\x02\x58"
    added = {(r.name.to_text(), dns.rdatatype.to_text(r.rdtype)) for r in message.update if r.ttl == 60}  # type: ignore[attr-defined]
    assert ("_ltsp._tcp.school.example.", "PTR") in added
    assert ("app1-525400123456.school.example.", "A") in added
    assert message.prerequisite == []  # type: ignore[attr-defined]


def test_the_instance_label_keeps_its_space_and_brackets_on_the_wire() -> None:
    message = _read_back(dnssd_zone.register(REGISTRATION), None)
    owners = {r.name for r in message.update}  # type: ignore[attr-defined]
    assert (
        dns.name.Name((b"app1 [52:54:00:12:34:56]", b"_ltsp", b"_tcp", b"school", b"example", b"")) in owners
    )


def test_a_removal_carries_the_stamp_as_its_prerequisite_and_no_lease() -> None:
    message = _read_back(dnssd_zone.remove(REGISTRATION), None)
    assert message.options == () or list(message.options) == []
    (prerequisite,) = message.prerequisite  # type: ignore[attr-defined]
    assert prerequisite.name == dns.name.from_text("app1-525400123456.school.example.")
    assert [r.strings for r in prerequisite] == [(b"ltsp-lease=600", b"renew=0123456789abcdef")]


def test_granted_lease_reads_the_servers_option() -> None:
    query = dns.message.make_query("school.example.", "SOA")
    response = dns.message.make_response(query)
    assert dnssd_messages.granted_lease(response) is None
    response.use_edns(0, options=[dns.edns.GenericOption(2, b"\x00\x00\x0e\x10")])  # type: ignore[arg-type]
    assert dnssd_messages.granted_lease(dns.message.from_wire(response.to_wire())) == 3600
    response.use_edns(0, options=[dns.edns.GenericOption(2, b"\x00")])  # type: ignore[arg-type]
    with pytest.raises(DecodeError):
        dnssd_messages.granted_lease(dns.message.from_wire(response.to_wire()))


INTERFACES = [Interface(name="eth0", address="10.0.1.10", network="10.0.1.0/24", mac="52:54:00:12:34:56")]


async def test_a_domain_without_a_key_is_a_config_error_that_says_how_to_make_one() -> None:
    with pytest.raises(ConfigError, match=r"DNS_SD_DOMAIN=school.example needs TSIG_KEY.*tsig-keygen"):
        await dnssd_register.for_daemon(
            ServeSettings(dns_sd_domain="school.example"),
            hostname="app1",
            interfaces=INTERFACES,
            counters=Counter(),
        )


async def test_an_unreadable_key_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "none.key"
    with pytest.raises(ConfigError, match=rf"TSIG_KEY: cannot read {missing}"):
        await dnssd_register.for_daemon(
            ServeSettings(dns_sd_domain="school.example", tsig_key=str(missing)),
            hostname="app1",
            interfaces=INTERFACES,
            counters=Counter(),
        )


async def test_for_daemon_derives_the_names_from_host_name_and_mac(tmp_path: Path) -> None:
    key = tmp_path / "ltsp-mesh.key"
    key.write_text(
        f'key "ltsp-mesh" {{ algorithm hmac-sha256; secret "{base64.b64encode(SECRET).decode()}"; }};'
    )
    registrar = await dnssd_register.for_daemon(
        ServeSettings(dns_sd_domain="School.Example", tsig_key=str(key)),
        hostname="app1",
        interfaces=INTERFACES,
        counters=Counter(),
    )
    assert registrar.instance_name == "app1 [52:54:00:12:34:56]._ltsp._tcp.school.example."
    assert registrar.host_name == "app1-525400123456.school.example."
    assert (registrar.ttl_s, registrar.lease_s) == (60, 600)
