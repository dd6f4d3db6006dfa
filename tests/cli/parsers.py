"""The real command-line parser, taken apart for tests: each subcommand's parser and options."""

from __future__ import annotations

import argparse

from ltsp_mesh.cli import build_parser


def subcommands() -> dict[str, argparse.ArgumentParser]:
    """Every subcommand's parser, by name, each with its module imported."""
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # no public accessor
    assert len(actions) == 1
    return dict(actions[0].choices)


def actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The parser's options and positionals (argparse offers no public accessor)."""
    return list(parser._actions)


def long_options(parser: argparse.ArgumentParser) -> set[str]:
    """The --options a person can give `parser`, without --help."""
    return {
        option
        for action in actions(parser)
        if action.help != argparse.SUPPRESS
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }
