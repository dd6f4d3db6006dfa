"""The interfaces in use: read without complaint while following, and the netlink doorbell."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from ltsp_mesh.errors import ConfigError
from ltsp_mesh.shell import netif
from tests.conftest import require_tools
from tests.shell.unprivileged import REPO, require_root

# Runs in a network namespace of its own (unshare -n): the address it adds exists nowhere else.
RING = textwrap.dedent(
    """
    import asyncio, subprocess
    from ltsp_mesh.shell import netif

    async def main():
        rang = asyncio.Event()
        watch = netif.AddressWatch(rang.set)
        assert watch.start()
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "addr", "add", "10.99.0.1/24", "dev", "lo"], check=True)
        await asyncio.wait_for(rang.wait(), 10)
        rang.clear()
        subprocess.run(["ip", "addr", "del", "10.99.0.1/24", "dev", "lo"], check=True)
        await asyncio.wait_for(rang.wait(), 10)
        watch.close()
        print("rang twice")

    asyncio.run(main())
    """
)


def test_a_named_interface_that_does_not_exist_is_an_error_at_start() -> None:
    with pytest.raises(ConfigError, match="interface 'nosuch0' does not exist"):
        netif.select(["nosuch0"])


def test_while_following_a_named_interface_without_an_address_is_simply_not_in_use() -> None:
    assert netif.current(["nosuch0"]) == []


def test_the_doorbell_rings_when_an_address_comes_and_when_it_goes() -> None:
    require_root()
    require_tools("unshare", "ip", debian="util-linux iproute2")
    done = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", RING], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert (done.returncode, done.stdout) == (0, "rang twice\n"), done.stderr


def test_a_reload_can_tell_a_name_no_interface_has() -> None:
    assert netif.unknown(["lo", "nosuch0"]) == ["nosuch0"]
