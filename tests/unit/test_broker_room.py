"""core/broker/room.py: whom a full broker drops for a newcomer, so a flood cannot shut servers out."""

from __future__ import annotations

from ltsp_mesh.core.broker.room import victim

FLOOD = {"10.0.0.66": [f"bogus{i}" for i in range(6)], "10.0.0.67": ["other0", "other1"]}
SERVER = "10.0.0.5"


def test_a_server_that_proves_itself_takes_the_place_of_the_most_crowded_addresses_newest() -> None:
    assert victim(FLOOD, SERVER, proven=True, safe=set()) == "bogus5"


def test_an_unproven_newcomer_takes_the_place_of_one_from_a_more_crowded_address() -> None:
    assert victim(FLOOD, SERVER, proven=False, safe=set()) == "bogus5"


def test_a_flooding_address_gets_no_more_room_for_its_own_newcomers() -> None:
    assert victim(FLOOD, "10.0.0.66", proven=False, safe=set()) is None


def test_an_unproven_newcomer_does_not_push_out_an_address_no_more_crowded_than_its_own() -> None:
    even = {"10.0.0.66": ["bogus0"], "10.0.0.67": ["other0"]}
    assert victim(even, SERVER, proven=False, safe=set()) is None


def test_instances_that_prove_themselves_or_answered_are_never_dropped() -> None:
    crowds = {SERVER: ["app1"], "10.0.0.66": ["bogus0", "bogus1"]}
    assert victim(crowds, "10.0.0.7", proven=True, safe={"app1", "bogus0", "bogus1"}) is None
    assert victim(crowds, "10.0.0.7", proven=True, safe={"app1", "bogus1"}) == "bogus0"


def test_a_crowd_of_safe_instances_passes_the_choice_to_the_next_crowd() -> None:
    crowds = {"10.0.0.66": ["a", "b", "c"], "10.0.0.67": ["d", "e"]}
    assert victim(crowds, SERVER, proven=True, safe={"a", "b", "c"}) == "e"
