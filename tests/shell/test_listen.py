"""Each of the daemon's listeners says in one line why it cannot listen, and what to do."""

from __future__ import annotations

import errno
import socket
from collections import Counter
from collections.abc import Iterator

import pytest

from ltsp_mesh.errors import ConfigError
from ltsp_mesh.shell.broker import endpoint
from ltsp_mesh.shell.listen import cannot_listen
from ltsp_mesh.shell.server import respond_tcp, respond_udp
from tests.shell.test_responders import REPORT, _unsigned


@pytest.fixture
def taken_tcp() -> Iterator[int]:
    """A loopback TCP port some other program listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def taken_udp() -> Iterator[int]:
    """A loopback UDP port some other program has bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def _reply(*_: object) -> object:
    raise AssertionError("never asked")


async def test_the_broker_on_a_taken_port_names_it_and_the_setting(taken_tcp: int) -> None:
    with pytest.raises(ConfigError, match=rf"127\.0\.0\.1:{taken_tcp} for thin clients.*in use.*BROKER_PORT"):
        await endpoint.start("127.0.0.1", taken_tcp, endpoint.Endpoint(_reply, Counter()))  # type: ignore[arg-type]


async def test_the_legacy_responder_on_a_taken_port_names_it_and_the_setting(taken_tcp: int) -> None:
    with pytest.raises(
        ConfigError, match=rf"127\.0\.0\.1:{taken_tcp} for the legacy XML.*in use.*QUERY_PORT"
    ):
        await respond_tcp.start("127.0.0.1", taken_tcp, lambda: REPORT, Counter())


async def test_the_query_responder_on_a_taken_port_names_it_and_the_setting(taken_udp: int) -> None:
    with pytest.raises(
        ConfigError, match=rf"127\.0\.0\.1:{taken_udp} for direct queries.*in use.*QUERY_PORT"
    ):
        await respond_udp.start("127.0.0.1", taken_udp, _unsigned, Counter())


async def test_an_address_no_interface_has_says_to_check_the_interfaces() -> None:
    with pytest.raises(ConfigError, match="no interface has that address"):
        await respond_udp.start("192.0.2.1", 0, _unsigned, Counter())


@pytest.mark.parametrize("code", [errno.EACCES, errno.EPERM])
def test_a_privileged_port_without_root_says_how_to_get_it(code: int) -> None:
    error = cannot_listen(
        "thin clients (the broker, TCP)",
        "0.0.0.0",
        378,
        "BROKER_PORT / --broker-port",
        OSError(code, "Permission denied"),
    )
    assert "ports below 1024 need root or CAP_NET_BIND_SERVICE" in str(error) and "\n" not in str(error)


def test_any_other_error_keeps_the_systems_words() -> None:
    error = cannot_listen(
        "direct queries (UDP)", "10.0.0.1", 377, "QUERY_PORT", OSError(errno.ENOBUFS, "No buffer space")
    )
    assert str(error) == "cannot listen on 10.0.0.1:377 for direct queries (UDP): No buffer space"
