"""The terminal chooser's decisions: what keys do, what the screen says."""

from __future__ import annotations

from ltsp_mesh.core.codec.feed import FeedMessage, FeedServer
from ltsp_mesh.core.view.chooser_screen import Action, State, on_key, on_message, screen


def _message(*servers: tuple[str, str, bool]) -> FeedMessage:
    return FeedMessage(
        at=1.0,
        servers=tuple(
            FeedServer(name=f"app-{a}", address=a, status=s, recommended=r, sessions=1, capacity=4, load=0.1)
            for a, s, r in servers
        ),
    )


THREE = _message(("10.0.0.2", "Idle", True), ("10.0.0.1", "Busy", False), ("10.0.0.3", "Down", False))


def test_the_recommended_server_is_selected_when_the_list_arrives() -> None:
    assert on_message(State(), THREE).selected == "10.0.0.2"


def test_enter_chooses_the_selection() -> None:
    state, action = on_key(on_message(State(), THREE), "enter")
    assert (action, state.selected) == (Action.CHOSEN, "10.0.0.2")


def test_arrows_move_over_choosable_servers_only_and_wrap() -> None:
    state = on_message(State(), THREE)
    state, _ = on_key(state, "down")
    assert state.selected == "10.0.0.1"
    state, _ = on_key(state, "down")
    assert state.selected == "10.0.0.2"  # the Down server is skipped
    state, _ = on_key(state, "up")
    assert state.selected == "10.0.0.1"


def test_a_digit_picks_that_line() -> None:
    state, action = on_key(on_message(State(), THREE), "2")
    assert (action, state.selected) == (Action.CHOSEN, "10.0.0.1")


def test_a_down_server_cannot_be_picked_by_its_number() -> None:
    state, action = on_key(on_message(State(), THREE), "3")
    assert (action, state.selected) == (Action.NONE, "10.0.0.2")


def test_q_quits() -> None:
    assert on_key(on_message(State(), THREE), "quit")[1] is Action.QUIT


def test_enter_before_any_list_does_nothing() -> None:
    assert on_key(State(), "enter") == (State(), Action.NONE)


def test_a_refresh_keeps_a_selection_that_is_still_choosable() -> None:
    state, _ = on_key(on_message(State(), THREE), "down")
    refreshed = _message(("10.0.0.1", "Busy", False), ("10.0.0.2", "Idle", True))
    assert on_message(state, refreshed).selected == "10.0.0.1"


def test_a_refresh_moves_the_selection_off_a_server_that_went_down() -> None:
    state, _ = on_key(on_message(State(), THREE), "down")
    refreshed = _message(("10.0.0.2", "Idle", True), ("10.0.0.1", "Down", False))
    assert on_message(state, refreshed).selected == "10.0.0.2"


def test_the_screen_marks_the_selection_and_the_recommendation() -> None:
    text = screen(on_message(State(), THREE), "08:00:00")
    line = next(line for line in text.splitlines() if "10.0.0.2" in line)
    assert line.startswith(">") and " * " in line
    assert "updated 08:00:00" in text


def test_the_screen_says_it_is_waiting_before_the_first_list() -> None:
    assert "waiting for the server list" in screen(State(), "-")
