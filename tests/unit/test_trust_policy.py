"""core/client/trust_policy.py: which version of a server to ask, at which address, and whom to refuse.

Under known-hosts trust every version and address discovery found is checked before a server is
called untrusted, so a rogue's records for a genuine server's names add a candidate that fails
and hide nothing (issue 11, item 3).
"""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from ltsp_mesh.core.client import trust_policy
from ltsp_mesh.core.client.trust_policy import TRUST_ANY, TrustPolicy
from ltsp_mesh.core.codec import txt
from ltsp_mesh.core.config.client_settings import Trust
from ltsp_mesh.core.discovery.services import Discovered
from ltsp_mesh.core.trust import known_hosts, signing, ssh_keys, verdicts
from tests import records

NOW = 1_720_000_000.0
NETWORKS = ["10.0.0.0/24"]
GENUINE, ROGUE, OTHER_LINK = "10.0.0.5", "10.0.0.66", "192.168.7.5"
INSTANCE = "app1 [52:54:00:12:34:56]._ltsp._tcp.local."
HOST = "app1-525400123456.local."
KEY = ed25519.Ed25519PrivateKey.generate()
CA = ed25519.Ed25519PrivateKey.generate()


def line(key: ed25519.Ed25519PrivateKey) -> str:
    return ssh_keys.ed25519_public_key(key.public_key()).to_line()


STRICT = TrustPolicy(Trust.KNOWN_HOSTS, known_hosts.parse(f"{GENUINE},{OTHER_LINK} {line(KEY)}\n"))


def server(
    addresses: tuple[str, ...], *, signed: bool = True, host: str = HOST, source: str = ""
) -> Discovered:
    properties = txt.encode(records.record(server_id="app1"))
    if signed:
        properties = signing.sign_txt(properties, instance=INSTANCE, host=host, ssh_port=22, key=KEY, now=NOW)
    return Discovered(
        INSTANCE, host, 22, addresses, txt.decode(properties), txt_properties=properties, source=source
    )


def with_alternatives(first: Discovered, *others: Discovered) -> Discovered:
    return dataclasses.replace(first, alternatives=others)


def test_a_rogue_address_ahead_of_the_genuine_one_is_passed_over() -> None:
    choice = STRICT.choose(server((ROGUE, GENUINE)), NETWORKS, NOW)
    assert choice is not None and (choice.address, choice.refusal, choice.verified) == (GENUINE, "", True)


def test_the_chosen_version_carries_only_addresses_a_listed_key_vouches_for() -> None:
    choice = STRICT.choose(server((ROGUE, GENUINE, OTHER_LINK)), NETWORKS, NOW)
    assert choice is not None
    assert choice.server.addresses == (GENUINE, OTHER_LINK) and choice.server.alternatives == ()


def test_every_version_is_checked_before_a_server_is_called_untrusted() -> None:
    # A rogue's own version of the genuine instance (unsigned, its address) came first.
    rogue = server((ROGUE,), signed=False, host="rogue.local.", source=ROGUE)
    choice = STRICT.choose(with_alternatives(rogue, server((GENUINE,), source=GENUINE)), NETWORKS, NOW)
    assert choice is not None and (choice.server.source, choice.address, choice.refusal) == (
        GENUINE,
        GENUINE,
        "",
    )


def test_with_no_candidate_proving_itself_the_first_candidates_reason_is_given() -> None:
    rogue = server((ROGUE,), signed=False, source=ROGUE)
    choice = STRICT.choose(with_alternatives(rogue, server((ROGUE,))), NETWORKS, NOW)
    assert choice is not None and choice.address == ROGUE
    assert choice.refusal.startswith("unsigned") and choice.server.source == ROGUE


def test_a_version_without_ltsp_mesh_txt_is_refused_saying_so() -> None:
    bare = dataclasses.replace(
        server((GENUINE,)), announced=None, txt_problem="no TXT record", txt_properties={}
    )
    choice = STRICT.choose(bare, NETWORKS, NOW)
    assert choice is not None and choice.refusal == "announces no ltsp-mesh TXT (no TXT record)"


def test_a_key_listed_for_the_address_wins_over_a_ca_that_may_vouch_later() -> None:
    policy = TrustPolicy(
        Trust.KNOWN_HOSTS,
        known_hosts.parse(f"@cert-authority 10.0.0.* {line(CA)}\n{GENUINE} {line(KEY)}\n"),
    )
    choice = policy.choose(server((ROGUE, GENUINE)), NETWORKS, NOW)
    assert choice is not None and (choice.address, choice.verified) == (GENUINE, True)


def test_an_address_only_a_ca_covers_is_asked_unverified() -> None:
    policy = TrustPolicy(Trust.KNOWN_HOSTS, known_hosts.parse(f"@cert-authority 10.0.0.* {line(CA)}\n"))
    choice = policy.choose(server((GENUINE,)), NETWORKS, NOW)
    assert choice is not None and (choice.address, choice.refusal, choice.verified) == (GENUINE, "", False)


def test_candidates_checked_are_bounded() -> None:
    flood = tuple(f"10.0.0.{100 + i}" for i in range(trust_policy.MAX_CANDIDATES))
    choice = STRICT.choose(server((*flood, GENUINE)), NETWORKS, NOW)
    assert choice is not None and choice.refusal  # the genuine address was past the bound


def test_under_any_the_first_versions_address_on_the_clients_subnet_is_asked() -> None:
    choice = TRUST_ANY.choose(server((OTHER_LINK, ROGUE), signed=False), NETWORKS, NOW)
    assert choice is not None and (choice.address, choice.refusal) == (ROGUE, "")
    assert choice.server.addresses == (ROGUE, OTHER_LINK)


def test_a_server_without_an_address_gives_no_choice() -> None:
    assert TRUST_ANY.choose(server(()), NETWORKS, NOW) is None


@pytest.mark.parametrize("policy", [STRICT, TRUST_ANY])
def test_ask_and_choose_agree_on_a_single_candidate(policy: TrustPolicy) -> None:
    for candidate in (server((GENUINE,)), server((ROGUE,)), server((GENUINE,), signed=False)):
        choice = policy.choose(candidate, NETWORKS, NOW)
        assert choice is not None
        assert choice.refusal == policy.ask(candidate, choice.address, NOW)


def test_the_form_check_refuses_an_unsigned_txt_as_check_txt_does() -> None:
    unsigned = server((GENUINE,), signed=False).txt_properties
    refused = verdicts.check_txt_form(unsigned)
    full = verdicts.check_txt(
        unsigned,
        instance=INSTANCE,
        host=HOST,
        peer=verdicts.Peer(GENUINE),
        known_hosts=STRICT.known_hosts,
        now=NOW,
    )
    assert refused == full and refused is not None and refused.reason is verdicts.Reason.UNSIGNED


def test_the_form_check_leaves_a_signed_txt_to_check_txt() -> None:
    assert verdicts.check_txt_form(server((GENUINE,)).txt_properties) is None
