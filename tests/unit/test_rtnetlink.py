"""core/codec/rtnetlink.py: the route and neighbour questions, and the kernel's answers, as bytes."""

from __future__ import annotations

import errno
import socket
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.codec import rtnetlink
from ltsp_mesh.core.codec.rtnetlink import NetlinkError, NextHop
from ltsp_mesh.errors import DecodeError

SEQ = 7


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return (struct.pack("=HH", length, kind) + payload).ljust((length + 3) & ~3, b"\0")


def _message(kind: int, body: bytes, seq: int = SEQ) -> bytes:
    return struct.pack("=IHHII", 16 + len(body), kind, 0, seq, 0) + body


def route_answer(*, oif: int = 3, gateway: str | None = None, route_type: int = 1, seq: int = SEQ) -> bytes:
    body = struct.pack("=BBBBBBBBI", socket.AF_INET, 32, 0, 0, 254, 0, 0, route_type, 0)
    body += _attr(rtnetlink.RTA_DST, socket.inet_aton("10.0.0.5")) + _attr(
        rtnetlink.RTA_OIF, struct.pack("=i", oif)
    )
    if gateway is not None:
        body += _attr(rtnetlink.RTA_GATEWAY, socket.inet_aton(gateway))
    return _message(rtnetlink.RTM_NEWROUTE, body, seq)


def neighbour_answer(state: int, seq: int = SEQ) -> bytes:
    body = struct.pack("=BBHiHBB", socket.AF_INET, 0, 0, 3, state, 0, 1)
    return _message(
        rtnetlink.RTM_NEWNEIGH, body + _attr(rtnetlink.NDA_DST, socket.inet_aton("10.0.0.5")), seq
    )


def error_answer(code: int, seq: int = SEQ) -> bytes:
    return _message(rtnetlink.NLMSG_ERROR, struct.pack("=i", -code) + bytes(16), seq)


def test_a_route_question_names_one_ipv4_destination() -> None:
    data = rtnetlink.route_request("10.0.0.5", SEQ)
    length, kind, flags, seq, _ = struct.unpack_from("=IHHII", data)
    assert (length, kind, flags, seq) == (len(data), rtnetlink.RTM_GETROUTE, rtnetlink.NLM_F_REQUEST, SEQ)
    assert struct.unpack_from("=BB", data, 16) == (socket.AF_INET, 32)
    assert data[-8:] == _attr(rtnetlink.RTA_DST, socket.inet_aton("10.0.0.5"))


def test_a_neighbour_question_names_the_interface_and_the_address() -> None:
    data = rtnetlink.neighbour_request(NextHop(3, "10.0.0.5"), SEQ)
    assert struct.unpack_from("=IHHII", data)[1] == rtnetlink.RTM_GETNEIGH
    # The kernel refuses a question with any state, flag or type set: all zero.
    assert struct.unpack_from("=BBHiHBB", data, 16) == (socket.AF_INET, 0, 0, 3, 0, 0, 0)
    assert data[-8:] == _attr(rtnetlink.NDA_DST, socket.inet_aton("10.0.0.5"))


def test_an_address_on_the_link_is_its_own_next_hop() -> None:
    assert rtnetlink.parse_route(route_answer(), SEQ, "10.0.0.5") == NextHop(3, "10.0.0.5")


def test_an_address_beyond_a_gateway_has_the_gateway_as_next_hop() -> None:
    assert rtnetlink.parse_route(route_answer(gateway="10.0.0.1"), SEQ, "192.0.2.9") == NextHop(3, "10.0.0.1")


def test_this_hosts_own_address_is_local() -> None:
    hop = rtnetlink.parse_route(route_answer(route_type=rtnetlink.RTN_LOCAL), SEQ, "10.0.0.5")
    assert hop.local


def test_a_neighbours_state_is_read() -> None:
    assert rtnetlink.parse_neighbour(neighbour_answer(0x02), SEQ) == 0x02


def test_no_such_neighbour_is_an_enoent_error() -> None:
    with pytest.raises(NetlinkError) as raised:
        rtnetlink.parse_neighbour(error_answer(errno.ENOENT), SEQ)
    assert raised.value.errno == errno.ENOENT


def test_an_answer_to_an_earlier_question_is_skipped() -> None:
    data = neighbour_answer(0x01, seq=SEQ - 1) + neighbour_answer(0x02)
    assert not rtnetlink.answers(neighbour_answer(0x01, seq=SEQ - 1), SEQ)
    assert rtnetlink.answers(data, SEQ) and rtnetlink.parse_neighbour(data, SEQ) == 0x02


def test_a_route_without_an_output_interface_is_a_decode_error() -> None:
    body = struct.pack("=BBBBBBBBI", socket.AF_INET, 32, 0, 0, 254, 0, 0, 1, 0)
    with pytest.raises(DecodeError, match="output interface"):
        rtnetlink.parse_route(_message(rtnetlink.RTM_NEWROUTE, body), SEQ, "10.0.0.5")


def test_a_truncated_answer_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        rtnetlink.parse_route(route_answer()[:-3], SEQ, "10.0.0.5")


def test_the_wrong_kind_of_answer_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="type"):
        rtnetlink.parse_route(neighbour_answer(0x02), SEQ, "10.0.0.5")


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_decode_error(data: bytes) -> None:
    for parse in (
        lambda: rtnetlink.parse_route(data, SEQ, "10.0.0.5"),
        lambda: rtnetlink.parse_neighbour(data, SEQ),
    ):
        try:
            parse()
        except DecodeError:
            pass
    rtnetlink.answers(data, SEQ)


@pytest.mark.parametrize(
    "address", ["1.2.3", "256.1.1.1", "a.b.c.d", "1.2.3.4.5", "", "1.2.3.-4", "1.2.3.\u0664"]
)
def test_a_question_about_something_not_an_ipv4_address_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match="not an IPv4 address"):
        rtnetlink.route_request(address, SEQ)
