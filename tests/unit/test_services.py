"""core/discovery/services.py: joining one browse's PTR/SRV/TXT/A records into servers, and picking their address."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.codec import txt
from ltsp_mesh.core.discovery.services import (
    MAX_VERSIONS,
    A,
    Discovered,
    DnsRecord,
    Ptr,
    Srv,
    Txt,
    assemble,
    choose_address,
    missing,
    ordered_addresses,
)
from ltsp_mesh.core.record import ServerRecord

from .strategies import PROPERTY, SAMPLE_RECORD, records

SERVICE_TYPE = "_ltsp._tcp.local."
APP1 = "app1 [52:54:00:00:00:01]._ltsp._tcp.local."
APP2 = "app2 [52:54:00:00:00:02]._ltsp._tcp.local."
HOST1 = "app1-525400000001.local."
HOST2 = "app2-525400000002.local."
RECORD = dataclasses.replace(SAMPLE_RECORD, host_key_fp="")
RDATA = txt.encode_rdata(txt.encode(RECORD))


def server(instance: str, host: str, address: str, rdata: bytes = RDATA, port: int = 22) -> list[DnsRecord]:
    """The four records one server announces."""
    return [Ptr(SERVICE_TYPE, instance), Srv(instance, host, port), Txt(instance, rdata), A(host, address)]


def found(instance: str, host: str, addresses: tuple[str, ...], port: int = 22) -> Discovered:
    return Discovered(instance=instance, host=host, ssh_port=port, addresses=addresses, announced=RECORD)


# --- assemble ----------------------------------------------------------------------------------


def test_assemble_joins_ptr_srv_txt_and_a_into_one_server() -> None:
    assert assemble(SERVICE_TYPE, server(APP1, HOST1, "10.0.0.1", port=2222)) == [
        found(APP1, HOST1, ("10.0.0.1",), port=2222)
    ]


def test_assemble_does_not_depend_on_the_order_records_arrive_in() -> None:
    records = server(APP1, HOST1, "10.0.0.1") + server(APP2, HOST2, "10.0.0.2")
    assert assemble(SERVICE_TYPE, reversed(records)) == assemble(SERVICE_TYPE, records)


def test_assemble_sorts_servers_by_instance_name() -> None:
    records = server(APP2, HOST2, "10.0.0.2") + server(APP1, HOST1, "10.0.0.1")
    assert [d.instance for d in assemble(SERVICE_TYPE, records)] == [APP1, APP2]


def test_assemble_matches_names_without_regard_to_case_or_the_final_dot() -> None:
    records: list[DnsRecord] = [
        Ptr("_LTSP._tcp.local", APP1.upper()),
        Srv(APP1.rstrip("."), HOST1.upper(), 22),
        Txt(APP1.title(), RDATA),
        A(HOST1.rstrip("."), "10.0.0.1"),
    ]
    [discovered] = assemble(SERVICE_TYPE, records)
    assert (discovered.instance, discovered.addresses, discovered.announced) == (
        APP1.upper(),
        ("10.0.0.1",),
        RECORD,
    )


def test_assemble_gathers_every_address_of_a_multi_homed_server_once() -> None:
    records = server(APP1, HOST1, "192.168.1.10") + [A(HOST1, "10.0.0.1"), A(HOST1, "192.168.1.10")]
    assert assemble(SERVICE_TYPE, records)[0].addresses == ("192.168.1.10", "10.0.0.1")


@pytest.mark.parametrize("kind", [Srv, A], ids=["no SRV", "no A"])
def test_assemble_leaves_out_an_incomplete_instance(kind: type) -> None:
    records = [r for r in server(APP1, HOST1, "10.0.0.1") if not isinstance(r, kind)]
    assert assemble(SERVICE_TYPE, records + server(APP2, HOST2, "10.0.0.2")) == [
        found(APP2, HOST2, ("10.0.0.2",))
    ]


def test_assemble_leaves_out_an_srv_without_a_ptr() -> None:
    records = [r for r in server(APP1, HOST1, "10.0.0.1") if not isinstance(r, Ptr)]
    assert assemble(SERVICE_TYPE, records) == []


def test_assemble_leaves_out_instances_of_another_service_type() -> None:
    records = server(APP1, HOST1, "10.0.0.1")
    records[0] = Ptr("_ssh._tcp.local.", APP1)
    assert assemble(SERVICE_TYPE, records) == []


def test_assemble_keeps_a_server_without_txt_and_says_so() -> None:
    records = [r for r in server(APP1, HOST1, "10.0.0.1") if not isinstance(r, Txt)]
    [discovered] = assemble(SERVICE_TYPE, records)
    assert (discovered.announced, discovered.txt_problem) == (None, "no TXT record")


@pytest.mark.parametrize(
    ("rdata", "problem"),
    [
        (b"", "'v'"),
        (b"\x00", "'v'"),
        (txt.encode_rdata({b"v": b"2"}), "version 2"),
        (RDATA.replace(b"cpu=8", b"cpu=x"), "'cpu'"),
        (RDATA[:-3], "truncated"),
    ],
    ids=["empty", "empty string", "unknown version", "bad number", "truncated"],
)
def test_assemble_keeps_a_server_with_broken_txt_and_reports_the_problem(rdata: bytes, problem: str) -> None:
    [discovered] = assemble(SERVICE_TYPE, server(APP1, HOST1, "10.0.0.1", rdata=rdata))
    assert discovered.announced is None
    assert problem in discovered.txt_problem


def test_assemble_takes_the_first_srv_and_txt_of_an_instance() -> None:
    busier = dataclasses.replace(RECORD, sessions=99)
    records = server(APP1, HOST1, "10.0.0.1") + [
        Srv(APP1, HOST2, 2222),
        Txt(APP1, txt.encode_rdata(txt.encode(busier))),
    ]
    assert assemble(SERVICE_TYPE, records) == [found(APP1, HOST1, ("10.0.0.1",))]


def test_two_instances_on_one_host_share_its_addresses() -> None:
    records = server(APP1, HOST1, "10.0.0.1") + [
        Ptr(SERVICE_TYPE, APP2),
        Srv(APP2, HOST1, 22),
        Txt(APP2, RDATA),
    ]
    assert [d.addresses for d in assemble(SERVICE_TYPE, records)] == [("10.0.0.1",), ("10.0.0.1",)]


def test_label_is_the_instance_name_without_the_service_type() -> None:
    assert found(APP1, HOST1, ("10.0.0.1",)).label == "app1 [52:54:00:00:00:01]"


@given(st.binary(max_size=300))
@PROPERTY
def test_assemble_never_raises_for_any_txt_rdata(rdata: bytes) -> None:
    [discovered] = assemble(SERVICE_TYPE, server(APP1, HOST1, "10.0.0.1", rdata=rdata))
    assert (discovered.announced is None) == bool(discovered.txt_problem)


@given(records())
@PROPERTY
def test_assemble_reads_back_any_announced_record(record: ServerRecord) -> None:
    rdata = txt.encode_rdata(txt.encode(record))
    [discovered] = assemble(SERVICE_TYPE, server(APP1, HOST1, "10.0.0.1", rdata=rdata))
    assert (discovered.announced, discovered.txt_problem) == (record, "")


# --- missing -----------------------------------------------------------------------------------


def test_missing_finds_nothing_in_a_complete_browse() -> None:
    assert missing(SERVICE_TYPE, server(APP1, HOST1, "10.0.0.1")) == (set(), set())


@pytest.mark.parametrize("kind", [Srv, Txt], ids=["no SRV", "no TXT"])
def test_missing_names_an_instance_without_srv_or_txt(kind: type) -> None:
    records = [r for r in server(APP1, HOST1, "10.0.0.1") if not isinstance(r, kind)]
    lacking_records, _ = missing(SERVICE_TYPE, records + server(APP2, HOST2, "10.0.0.2"))
    assert lacking_records == {APP1}


def test_missing_names_an_srv_host_without_an_address() -> None:
    records = [r for r in server(APP1, HOST1, "10.0.0.1") if not isinstance(r, A)]
    assert missing(SERVICE_TYPE, records) == (set(), {HOST1})


def test_missing_matches_names_without_regard_to_case() -> None:
    records: list[DnsRecord] = [
        Ptr(SERVICE_TYPE.upper(), APP1),
        Srv(APP1.upper(), HOST1.upper(), 22),
        Txt(APP1.rstrip("."), RDATA),
        A(HOST1.lower().rstrip("."), "10.0.0.1"),
    ]
    assert missing(SERVICE_TYPE, records) == (set(), set())


def test_missing_ignores_instances_of_another_service_type() -> None:
    assert missing(SERVICE_TYPE, [Ptr("_ssh._tcp.local.", APP1)]) == (set(), set())


def test_missing_reads_any_iterable_once() -> None:
    assert missing(SERVICE_TYPE, iter(server(APP1, HOST1, "10.0.0.1")[:1])) == ({APP1}, set())


# --- choose_address ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("addresses", "local_networks", "chosen"),
    [
        # A server with an uplink and a thin-client NIC: the client's own subnet wins, in any order.
        (["192.168.1.10", "10.0.0.1"], ["10.0.0.0/24"], "10.0.0.1"),
        (["10.0.0.1", "192.168.1.10"], ["10.0.0.0/24"], "10.0.0.1"),
        (["192.168.1.10", "10.0.0.1"], ["192.168.1.0/24"], "192.168.1.10"),
        # A client on two networks: the first address on any of them.
        (["172.16.0.5", "10.0.0.1", "192.168.1.10"], ["192.168.1.0/24", "10.0.0.0/24"], "10.0.0.1"),
        # Host bits in the client's own address/prefix are fine.
        (["192.168.1.10", "10.0.0.1"], ["10.0.0.77/24"], "10.0.0.1"),
        # None on a local network (a routed site): the first address is the best guess.
        (["192.168.1.10", "10.0.0.1"], ["172.16.0.0/16"], "192.168.1.10"),
        (["192.168.1.10", "10.0.0.1"], [], "192.168.1.10"),
        (["fe80::1", "10.0.0.1"], ["10.0.0.0/24"], "10.0.0.1"),
        ([], ["10.0.0.0/24"], None),
    ],
)
def test_choose_address_prefers_the_clients_own_subnet(
    addresses: list[str], local_networks: list[str], chosen: str | None
) -> None:
    assert choose_address(addresses, local_networks) == chosen


ipv4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))


@given(st.lists(ipv4, min_size=1, max_size=6), ipv4, st.integers(8, 30))
@PROPERTY
def test_choose_address_picks_the_address_on_the_local_network_when_there_is_one(
    addresses: list[str], client: str, prefix: int
) -> None:
    network = ipaddress.ip_network(f"{client}/{prefix}", strict=False)
    chosen = choose_address(addresses, [str(network)])
    on_link = [a for a in addresses if ipaddress.ip_address(a) in network]
    assert chosen == (on_link[0] if on_link else addresses[0])


# --- who says so: records believed from the responder they describe ----------------------------

GENUINE, ROGUE, REFLECTOR = "10.0.0.1", "10.0.0.66", "10.0.0.99"
ROGUE_HOST = "rogue.local."
UNSIGNED_RDATA = txt.encode_rdata(txt.encode(dataclasses.replace(RECORD, server_id="rogue")))


def sent_by(source: str, records: list[DnsRecord]) -> list[DnsRecord]:
    """`records` as they came from the responder at `source`."""
    return [dataclasses.replace(r, source=source) for r in records]


def test_an_a_record_for_a_genuine_host_from_a_rogue_does_not_become_its_address() -> None:
    # The rogue answers first, for the genuine host name, with its own address (issue 11, 3a).
    records = sent_by(ROGUE, [A(HOST1, ROGUE)]) + sent_by(GENUINE, server(APP1, HOST1, GENUINE))
    [discovered] = assemble(SERVICE_TYPE, records)
    assert discovered.addresses == (GENUINE,) and discovered.source == GENUINE


def test_a_rogue_address_is_only_in_the_merged_version_after_the_servers_own() -> None:
    # Merged, the address from the responder that sent the SRV leads, whatever came first.
    records = sent_by(ROGUE, [A(HOST1, ROGUE)]) + sent_by(GENUINE, server(APP1, HOST1, GENUINE))
    [discovered] = assemble(SERVICE_TYPE, records)
    assert [v.addresses for v in discovered.versions] == [(GENUINE,), (GENUINE, ROGUE)]


def test_a_rogue_claiming_a_genuine_instance_is_one_more_version_not_a_replacement() -> None:
    rogue = sent_by(ROGUE, server(APP1, ROGUE_HOST, ROGUE, rdata=UNSIGNED_RDATA))
    [discovered] = assemble(SERVICE_TYPE, rogue + sent_by(GENUINE, server(APP1, HOST1, GENUINE)))
    assert {(v.source, v.host) for v in discovered.versions} >= {(ROGUE, ROGUE_HOST), (GENUINE, HOST1)}


def test_a_server_speaking_for_itself_comes_before_a_host_answering_for_it() -> None:
    # A reflector or proxy answers first with the genuine records; the server's own answer leads.
    records = sent_by(REFLECTOR, server(APP1, HOST1, GENUINE)) + sent_by(
        GENUINE, server(APP1, HOST1, GENUINE)
    )
    [discovered] = assemble(SERVICE_TYPE, records)
    assert discovered.source == GENUINE and discovered.self_attested


def test_a_server_whose_records_came_from_two_addresses_is_still_found() -> None:
    ptr, srv, txt_record, a = server(APP1, HOST1, GENUINE)
    records = sent_by(REFLECTOR, [ptr, srv, txt_record]) + sent_by(GENUINE, [a])
    [discovered] = assemble(SERVICE_TYPE, records)
    assert (discovered.addresses, discovered.source) == ((GENUINE,), "")


def test_a_txt_from_a_rogue_does_not_replace_the_servers_own() -> None:
    records = sent_by(ROGUE, [Txt(APP1, UNSIGNED_RDATA)]) + sent_by(GENUINE, server(APP1, HOST1, GENUINE))
    [discovered] = assemble(SERVICE_TYPE, records)
    assert discovered.announced == RECORD


def test_versions_of_one_instance_are_bounded() -> None:
    records: list[DnsRecord] = []
    for i in range(MAX_VERSIONS + 8):
        source = f"10.0.1.{i}"
        records += sent_by(source, server(APP1, f"h{i}.local.", source))
    [discovered] = assemble(SERVICE_TYPE, records)
    assert len(discovered.versions) == MAX_VERSIONS


def test_missing_asks_again_for_what_a_server_left_out_even_when_another_host_sent_it() -> None:
    ptr, srv, _, a = server(APP1, HOST1, GENUINE)
    records = sent_by(GENUINE, [ptr, srv, a]) + sent_by(ROGUE, [Txt(APP1, UNSIGNED_RDATA)])
    assert missing(SERVICE_TYPE, records) == ({APP1}, set())


def test_ordered_addresses_puts_the_clients_own_networks_first_and_keeps_the_order_otherwise() -> None:
    addresses = ["192.168.1.10", "10.0.0.2", "172.16.0.1", "10.0.0.1"]
    assert ordered_addresses(addresses, ["10.0.0.0/24"]) == [
        "10.0.0.2",
        "10.0.0.1",
        "192.168.1.10",
        "172.16.0.1",
    ]
