"""Numeric options: one range helper, one range per option in every command, the core's limits.

The per-option tests walk the real parser, so an option added later is checked without a line
here; one test fails if a numeric option is added without a range.
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from decimal import Decimal

import pytest

from ltsp_mesh.cli import bounds, serve, sim
from ltsp_mesh.cli.bounds import Bound, Bounded, bounded
from ltsp_mesh.cli.exit_codes import USAGE
from ltsp_mesh.core.config.client_settings import MAX_TIMEOUT_MS
from ltsp_mesh.core.discovery import dnssd_lease
from ltsp_mesh.core.record import MAX_CAPACITY
from tests.cli.parsers import actions, subcommands

# What a command needs besides the option under test to parse at all.
REQUIRED = {"feed": ["--mqueue", "q"], "chooser": ["--mqueue", "q"]}


def _bounded_options() -> list[tuple[str, str, argparse.Action, Bounded[float]]]:
    found = []
    for command, parser in sorted(subcommands().items()):
        for action in actions(parser):
            if isinstance(action.type, Bounded):
                found.append((command, action.option_strings[-1], action, action.type))
    return found


BOUNDED = _bounded_options()
IDS = [f"{command} {option}" for command, option, _, _ in BOUNDED]


def _parse(command: str, option: str, action: argparse.Action, text: str) -> argparse.Namespace:
    values = [text] * (action.nargs if isinstance(action.nargs, int) else 1)
    return subcommands()[command].parse_args([*REQUIRED.get(command, []), option, *values])


def _text(kind: object, value: float) -> str:
    # Positional, never 1e-06: argparse takes "-0.000001" for a value but "-1e-06" for an option.
    return str(int(value)) if kind is int else format(Decimal(repr(float(value))), "f")


def _step(kind: object, at: float) -> float:
    """The smallest step the test takes at `at`: 1 for an int, a millionth (relative) for a float."""
    return 1 if kind is int else 1e-6 * max(1.0, abs(at))


def _inside(bound: Bound, kind: object) -> list[float]:
    """The lowest and highest values `bound` takes (a step above `low` when it is open)."""
    low = bound.low + _step(kind, bound.low) if bound.low_open else bound.low
    return [low] if bound.high is None else [low, bound.high]


def _outside(bound: Bound, kind: object) -> list[float]:
    """The values just outside `bound`, on each side it has."""
    below = bound.low if bound.low_open else bound.low - _step(kind, bound.low)
    if bound.high is None:
        return [below]
    return [below, bound.high + _step(kind, bound.high)]


# --- the helper ------------------------------------------------------------------------------


def test_a_closed_bound_holds_both_ends_and_nothing_beyond() -> None:
    bound = Bound(10, 60_000, "ms")
    assert bound.holds(10) and bound.holds(60_000)
    assert not bound.holds(9) and not bound.holds(60_001)


def test_an_open_low_end_refuses_the_end_itself() -> None:
    bound = Bound(0, 1000, low_open=True)
    assert not bound.holds(0)
    assert bound.holds(5e-324) and bound.holds(1000)


def test_a_bound_without_high_end_has_no_ceiling() -> None:
    assert Bound(1, None).holds(10**18)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_no_bound_holds_nan_or_infinity(value: float) -> None:
    assert not Bound(-math.inf, None).holds(value)


@pytest.mark.parametrize(
    ("bound", "words"),
    [
        (Bound(10, 60_000, "ms"), "10 to 60000 ms"),
        (Bound(0.5, 3600, "seconds"), "0.5 to 3600 seconds"),
        (Bound(1, None), "1 or more"),
        (Bound(0, 1000, low_open=True), "above 0 and at most 1000"),
        (Bound(0, None, "seconds", low_open=True), "above 0 seconds"),
    ],
)
def test_a_bound_describes_itself_in_words(bound: Bound, words: str) -> None:
    assert bound.describe() == words


def test_an_empty_bound_is_a_bug() -> None:
    with pytest.raises(ValueError, match="empty"):
        Bound(10, 1)


def test_bounded_converts_a_value_in_range() -> None:
    assert bounded(float, Bound(0.5, 3600)).__call__("2.5") == 2.5


def test_bounded_refuses_with_the_value_and_the_range() -> None:
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        bounded(int, Bound(10, 60_000, "ms"))("5")
    assert str(refused.value) == "5 is out of range (10 to 60000 ms)"


def test_bounded_shortens_a_long_refused_value() -> None:
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        bounded(int, Bound(1, 2))("9" * 500)
    assert len(str(refused.value)) < 80 and "..." in str(refused.value)


def test_a_word_that_is_no_number_keeps_argparses_message(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="p")
    parser.add_argument("--n", type=bounded(int, Bound(1, 2)))
    with pytest.raises(SystemExit):
        parser.parse_args(["--n", "abc"])
    assert capsys.readouterr().err.splitlines()[-1] == "p: error: argument --n: invalid int value: 'abc'"


# --- every option ----------------------------------------------------------------------------


def test_every_numeric_option_has_a_range() -> None:
    bare = [
        f"{command} {action.option_strings or action.dest}"
        for command, parser in subcommands().items()
        for action in actions(parser)
        if action.type in (int, float)
    ]
    assert not bare, f"numeric options without bounds.bounded: {bare}"


def test_the_walk_finds_the_options_that_had_hand_written_checks() -> None:
    found = set(IDS)
    for option in (
        "hosts --timeout-ms",
        "known-hosts --timeout-ms",
        "status --interval",
        "feed --count",
        "browse --duration",
        "chooser --wait",
        "serve --claim-ttl",
        "serve --dns-lease",
        "sim --claim-ttl",
        "sim --server-capacity",
        "sim --max-fill",
    ):
        assert option in found


def test_an_option_has_the_same_range_in_every_command() -> None:
    ranges: dict[str, set[Bound]] = defaultdict(set)
    for _, option, _, converter in BOUNDED:
        ranges[option].add(converter.bound)
    assert {option: found for option, found in ranges.items() if len(found) > 1} == {}


def test_shared_options_take_their_range_from_one_place() -> None:
    by_id = {f"{command} {option}": converter.bound for command, option, _, converter in BOUNDED}
    for command in ("hosts", "status", "feed", "known-hosts"):
        assert by_id[f"{command} --timeout-ms"] is bounds.TIMEOUT_MS
    assert by_id["serve --claim-ttl"] is by_id["sim --claim-ttl"] is bounds.CLAIM_TTL_S


def test_ranges_the_core_limits_come_from_the_core() -> None:
    assert bounds.TIMEOUT_MS.high == bounds.BROWSE_MS.high == MAX_TIMEOUT_MS
    assert (serve.DNS_LEASE_S.low, serve.DNS_LEASE_S.high) == (
        dnssd_lease.MIN_LEASE_S,
        dnssd_lease.MAX_LEASE_S,
    )
    assert sim.SERVER_CAPACITY.high == MAX_CAPACITY
    assert sim.RUNS.high == sim.MAX_RUNS


@pytest.mark.parametrize(("command", "option", "action", "converter"), BOUNDED, ids=IDS)
def test_option_default_is_in_its_range(
    command: str, option: str, action: argparse.Action, converter: Bounded[float]
) -> None:
    assert action.default is None or converter.bound.holds(action.default)


@pytest.mark.parametrize(("command", "option", "action", "converter"), BOUNDED, ids=IDS)
def test_option_accepts_the_ends_of_its_range(
    command: str, option: str, action: argparse.Action, converter: Bounded[float]
) -> None:
    for value in _inside(converter.bound, converter.kind):
        parsed = getattr(_parse(command, option, action, _text(converter.kind, value)), action.dest)
        assert parsed == value or parsed == [value] * len(parsed)


@pytest.mark.parametrize(("command", "option", "action", "converter"), BOUNDED, ids=IDS)
def test_option_refuses_values_just_outside_its_range_in_one_line(
    command: str,
    option: str,
    action: argparse.Action,
    converter: Bounded[float],
    capsys: pytest.CaptureFixture[str],
) -> None:
    for value in _outside(converter.bound, converter.kind):
        text = _text(converter.kind, value)
        with pytest.raises(SystemExit) as exit_info:
            _parse(command, option, action, text)
        assert exit_info.value.code == USAGE
        assert capsys.readouterr().err.splitlines()[-1] == (
            f"ltsp-mesh {command}: error: argument {option}: {text} is out of range "
            f"({converter.bound.describe()})"
        )
