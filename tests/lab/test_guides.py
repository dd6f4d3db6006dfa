"""The README's demo and the two guides, replayed in the lab exactly as `ltsp-mesh demo` runs them."""

from __future__ import annotations

import pytest

from ltsp_mesh.cli import main
from tests.conftest import require_lab

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("scene", ["core", "margot", "rudolfo"])
def test_demo_scene_turns_out_as_its_guide_says(scene: str, capsys: pytest.CaptureFixture[str]) -> None:
    require_lab()
    assert main(["demo", scene]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert out.rstrip().endswith("Done: every namespace, veth and the bridge are gone.")
