"""A renumbered server's unicast DNS-SD records follow its addresses with the next update."""

from __future__ import annotations

from collections import Counter

from ltsp_mesh.shell.server import dnssd_register
from tests.shell.test_dnssd_register import KEY, NAMES


def _registrar() -> dnssd_register.Registrar:
    return dnssd_register.Registrar(
        names=NAMES, addresses=["10.0.1.10"], ssh_port=22, key=KEY, counters=Counter()
    )


async def test_new_addresses_are_what_the_next_update_registers() -> None:
    registrar = _registrar()
    registrar.update_addresses(["10.0.1.20"])
    assert registrar.addresses == ("10.0.1.20",)


async def test_no_address_at_all_keeps_the_last_ones_registered() -> None:
    registrar = _registrar()
    registrar.update_addresses([])
    assert registrar.addresses == ("10.0.1.10",)
