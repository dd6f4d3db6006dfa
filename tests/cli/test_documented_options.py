"""README's options are the parser's: every documented option exists, every option is documented.

README's "Options" table has a row per command (`sim` has two: scenarios and `sim plan`), each
option in backticks, followed by its range in parentheses when it has one. The man page is held
to the same by tests/packaging/test_debian_package.py (test_man_page_documents_every_option).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from ltsp_mesh.cli import build_parser
from ltsp_mesh.cli.bounds import Bounded
from tests.cli.parsers import actions, long_options, subcommands

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# `--sample-interval SECONDS` (0.1 to 3600 seconds): the option, then its note if any.
ENTRY = re.compile(r"`(--[a-z][a-z0-9-]*)[^`]*`(?: \(([^)]*)\))?")


def _section() -> str:
    return README.split("\n### Options\n", 1)[1].split("\n#", 1)[0]


def _table() -> dict[str, dict[str, str]]:
    """Command -> {option: its note in parentheses, or ""}, over every row of that command."""
    rows: dict[str, dict[str, str]] = defaultdict(dict)
    for line in _section().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        if len(cells) != 2 or not cells[0].startswith("`"):
            continue
        command = cells[0].strip("`").split()[0]
        rows[command].update(ENTRY.findall(cells[1]))
        rows[command].setdefault("", "")  # a command with no option still has its row
    return {command: {o: n for o, n in found.items() if o} for command, found in rows.items()}


def test_readme_has_a_row_for_every_command_and_no_other() -> None:
    assert set(_table()) == set(subcommands())


def test_every_option_readme_documents_exists_in_that_commands_parser() -> None:
    parsers = subcommands()
    unknown = {
        command: sorted(set(found) - long_options(parsers[command]))
        for command, found in _table().items()
        if set(found) - long_options(parsers[command])
    }
    assert not unknown, f"README documents options the parser lacks: {unknown}"


def test_every_option_of_every_command_is_in_readme() -> None:
    table = _table()
    missing = {
        command: sorted(long_options(parser) - set(table.get(command, {})))
        for command, parser in subcommands().items()
        if long_options(parser) - set(table.get(command, {}))
    }
    assert not missing, f"README's Options table lacks: {missing}"


def test_readme_names_the_options_that_go_before_the_command() -> None:
    before = _section().split("\n|", 1)[0]
    assert long_options(build_parser(only="")) <= set(re.findall(r"`(--[a-z-]+)`", before))


def test_readme_gives_each_ranged_option_the_range_the_parser_checks() -> None:
    table = _table()
    wrong = {
        f"{command} {action.option_strings[-1]}": (
            table[command][action.option_strings[-1]],
            action.type.bound.describe(),
        )
        for command, parser in subcommands().items()
        for action in actions(parser)
        if isinstance(action.type, Bounded)
        and table[command].get(action.option_strings[-1]) != action.type.bound.describe()
    }
    assert not wrong, f"README's range (left) is not the parser's (right): {wrong}"


def test_every_option_readme_mentions_anywhere_is_an_option_of_ltsp_mesh() -> None:
    known = {"--help"} | long_options(build_parser(only=""))
    known |= {option for parser in subcommands().values() for option in long_options(parser)}
    mentioned = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", README))
    assert mentioned - known == set()
