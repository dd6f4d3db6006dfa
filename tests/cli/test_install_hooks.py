"""`ltsp-mesh install-hooks`: the hook lands at both LDM paths, idempotently, keeping backups."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ltsp_mesh.cli import main
from ltsp_mesh.shell import hooks

REPO_HOOK = Path(__file__).resolve().parents[2] / "chroot_hooks" / "get_hosts"


@pytest.fixture
def image(tmp_path: Path) -> Path:
    root = tmp_path / "i386"
    (root / "usr" / "bin").mkdir(parents=True)
    return root


def _install(image: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, str]]:
    assert main(["install-hooks", "--chroot", str(image), "--json"]) == 0
    data: list[dict[str, str]] = json.loads(capsys.readouterr().out)["data"]
    return data


def test_hook_is_installed_at_both_ldm_paths_and_executable(image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _install(image, capsys)
    for relative in hooks.HOOK_PATHS:
        path = image / relative
        assert path.read_bytes() == REPO_HOOK.read_bytes()
        assert os.access(path, os.X_OK)


def test_installing_twice_changes_nothing(image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _install(image, capsys)
    assert {item["action"] for item in _install(image, capsys)} == {"unchanged"}
    assert sorted(p.name for p in (image / "usr/share/ltsp").iterdir()) == ["get_hosts"]


def test_an_admins_different_hook_is_kept_as_a_backup(image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    own = image / "usr/lib/ltsp/get_hosts"
    own.parent.mkdir(parents=True)
    own.write_text("#!/bin/sh\necho 10.0.0.1\n")
    data = _install(image, capsys)
    backup = own.with_name("get_hosts" + hooks.BACKUP_SUFFIX)
    assert backup.read_text() == "#!/bin/sh\necho 10.0.0.1\n"
    assert {"path": str(own), "action": "replaced", "backup": str(backup)} in data


def test_text_output_says_how_to_rebuild_the_image(image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install-hooks", "--chroot", str(image)]) == 0
    captured = capsys.readouterr()
    assert "ltsp-update-image i386" in captured.out
    assert "no ltsp-mesh command" in captured.err  # the image lacks ltsp-mesh itself


def test_a_second_different_hook_does_not_overwrite_the_first_backup(image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _install(image, capsys)
    hook = image / hooks.HOOK_PATHS[0]
    hook.write_text("#!/bin/sh\necho first\n")
    _install(image, capsys)
    hook.write_text("#!/bin/sh\necho second\n")
    assert main(["install-hooks", "--chroot", str(image)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert hook.with_name("get_hosts" + hooks.BACKUP_SUFFIX).read_text() == "#!/bin/sh\necho first\n"


def test_a_directory_that_is_not_an_image_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install-hooks", "--chroot", str(tmp_path)]) == 1
    assert "does not look like a client image" in capsys.readouterr().err


def test_a_missing_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install-hooks", "--chroot", str(tmp_path / "absent")]) == 1
    assert "is not a directory" in capsys.readouterr().err


def test_a_link_to_the_same_hook_is_left_alone(image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # What the Debian package installed in the image: relative links to its own copy.
    copy = image / "usr/lib/python3/dist-packages/ltsp_mesh/hooks/get_hosts"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(REPO_HOOK.read_bytes())
    for relative in hooks.HOOK_PATHS:
        link = image / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(copy, link.parent))
    assert {item["action"] for item in _install(image, capsys)} == {"unchanged"}
    assert all((image / relative).is_symlink() for relative in hooks.HOOK_PATHS)
