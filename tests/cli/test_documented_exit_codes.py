"""The exit codes README, the man page and --help name are the codes the code defines."""

from __future__ import annotations

import re
from pathlib import Path

from ltsp_mesh.cli import exit_codes

ROOT = Path(__file__).resolve().parents[2]


def _defined() -> set[int]:
    return {int(v) for k, v in vars(exit_codes).items() if k.isupper() and isinstance(v, int)}


def test_help_names_every_defined_exit_code_and_no_other() -> None:
    assert {int(n) for n in re.findall(r"^\s+(\d+)\s", exit_codes.HELP, re.MULTILINE)} == _defined()


def test_the_man_page_names_every_defined_exit_code_and_no_other() -> None:
    page = (ROOT / "packaging/man/ltsp-mesh.8").read_text()
    section = page.split(".SH EXIT STATUS", 1)[1].split(".SH ", 1)[0]
    assert {int(n) for n in re.findall(r"^\.B (\d+)$", section, re.MULTILINE)} == _defined()


def test_readme_names_every_defined_exit_code_and_no_other() -> None:
    readme = (ROOT / "README.md").read_text()
    # "Exit codes: 0 success; 1 error (...); 2 usage; ...; 130 interrupted. With --json ..."
    sentence = " ".join(readme.split("Exit codes:", 1)[1].split()).split(". ", 1)[0]
    assert {int(item.split()[0]) for item in sentence.split("; ")} == _defined()
