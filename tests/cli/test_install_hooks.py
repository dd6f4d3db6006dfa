"""`ltsp-mesh install-hooks`: the hook lands at both LDM paths, idempotently, keeping backups,
and the admin is told when the image lacks what the sh hook runs with (/bin/sh and nc)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from ltsp_mesh.cli import main
from ltsp_mesh.shell import hook_install

REPO_HOOK = Path(__file__).resolve().parents[2] / "chroot_hooks" / "get_hosts"


@pytest.fixture
def image(tmp_path: Path) -> Path:
    root = tmp_path / "i386"
    (root / "usr" / "bin").mkdir(parents=True)
    return root


def _executable(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/true\n")
    path.chmod(0o755)


def _link(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


@pytest.fixture
def complete_image(image: Path) -> Path:
    """An image with what the hook runs with, laid out as Debian does: dash and netcat-openbsd."""
    _executable(image / "bin/dash")
    _link(image / "bin/sh", "dash")
    _executable(image / "bin/nc.openbsd")
    _link(image / "etc/alternatives/nc", "/bin/nc.openbsd")
    _link(image / "bin/nc", "/etc/alternatives/nc")
    return image


def _run(image: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["install-hooks", "--chroot", str(image), "--json"]) == 0
    envelope: dict[str, Any] = json.loads(capsys.readouterr().out)
    return envelope


def _install(image: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, str]]:
    data: list[dict[str, str]] = _run(image, capsys)["data"]
    return data


def _warnings(image: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    warnings: list[str] = _run(image, capsys).get("warnings", [])
    return warnings


def test_hook_is_installed_at_both_ldm_paths_and_executable(
    image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _install(image, capsys)
    for relative in hook_install.HOOK_PATHS:
        path = image / relative
        assert path.read_bytes() == REPO_HOOK.read_bytes()
        assert os.access(path, os.X_OK)


def test_installing_twice_changes_nothing(image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _install(image, capsys)
    assert {item["action"] for item in _install(image, capsys)} == {"unchanged"}
    assert sorted(p.name for p in (image / "usr/share/ltsp").iterdir()) == ["get_hosts"]


def test_an_admins_different_hook_is_kept_as_a_backup(
    image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = image / "usr/lib/ltsp/get_hosts"
    own.parent.mkdir(parents=True)
    own.write_text("#!/bin/sh\necho 10.0.0.1\n")
    data = _install(image, capsys)
    backup = own.with_name("get_hosts" + hook_install.BACKUP_SUFFIX)
    assert backup.read_text() == "#!/bin/sh\necho 10.0.0.1\n"
    assert {"path": str(own), "action": "replaced", "backup": str(backup)} in data


def test_text_output_says_how_to_rebuild_the_image(
    complete_image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["install-hooks", "--chroot", str(complete_image)]) == 0
    captured = capsys.readouterr()
    assert "ltsp-update-image i386" in captured.out
    assert captured.err == ""


def test_an_image_with_sh_and_nc_gets_no_warning(
    complete_image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No ltsp-mesh and no Python in it: the sh hook needs neither.
    assert _warnings(complete_image, capsys) == []


def test_an_image_without_nc_is_told_how_to_add_it(
    complete_image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (complete_image / "bin/nc").unlink()
    assert main(["install-hooks", "--chroot", str(complete_image)]) == 0
    err = capsys.readouterr().err
    assert "has no nc" in err and "falls back to LDM_LB_FALLBACK / $SERVER" in err
    assert "ltsp-chroot -a i386 apt-get install netcat-openbsd" in err


def test_an_image_without_sh_is_told_how_to_add_it(
    complete_image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (complete_image / "bin/sh").unlink()
    warnings = _warnings(complete_image, capsys)
    assert len(warnings) == 1 and "has no /bin/sh" in warnings[0], warnings
    assert "ltsp-chroot -a i386 apt-get install dash" in warnings[0]


@pytest.mark.parametrize(
    "layout",
    [
        {"bin/nc": None},
        {"usr/bin/nc": None},
        {"bin/busybox": None},  # busybox's nc applet
        {"usr/bin/nc.traditional": None, "usr/bin/nc": "nc.traditional"},
        {"usr/bin/nc": None, "bin": "usr/bin"},  # merged /usr: bin is a link
    ],
    ids=["bin-nc", "usr-bin-nc", "busybox", "relative-link", "merged-usr"],
)
def test_nc_counts_wherever_the_hook_can_run_it(
    image: Path, capsys: pytest.CaptureFixture[str], layout: dict[str, str | None]
) -> None:
    _executable(image / "usr/bin/dash")
    _link(image / "usr/bin/sh", "dash")
    for relative, target in layout.items():
        if target is None:
            _executable(image / relative)
        else:
            _link(image / relative, target)
    if not (image / "bin").is_symlink():
        _link(image / "bin/sh", "/usr/bin/sh")
    assert _warnings(image, capsys) == []


def test_links_are_followed_inside_the_image_not_on_this_machine(
    complete_image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Most images reach nc through /etc/alternatives; the server's own alternative is no proof.
    (complete_image / "etc/alternatives/nc").unlink()
    warnings = _warnings(complete_image, capsys)
    assert len(warnings) == 1 and "has no nc" in warnings[0], warnings


def test_a_link_loop_in_the_image_counts_as_no_nc(
    complete_image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (complete_image / "etc/alternatives/nc").unlink()
    _link(complete_image / "etc/alternatives/nc", "/bin/nc")
    warnings = _warnings(complete_image, capsys)
    assert len(warnings) == 1 and "has no nc" in warnings[0], warnings


def test_warnings_never_ask_for_python_or_ltsp_mesh_in_the_image(
    image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warnings = _warnings(image, capsys)
    assert len(warnings) == 2  # a bare directory: neither /bin/sh nor nc
    for warning in warnings:
        assert "python" not in warning.lower()
        assert not re.search(r"install (the )?ltsp-mesh(?!-hook)\b", warning), warning


def test_a_second_different_hook_does_not_overwrite_the_first_backup(
    image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _install(image, capsys)
    hook = image / hook_install.HOOK_PATHS[0]
    hook.write_text("#!/bin/sh\necho first\n")
    _install(image, capsys)
    hook.write_text("#!/bin/sh\necho second\n")
    assert main(["install-hooks", "--chroot", str(image)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert hook.with_name("get_hosts" + hook_install.BACKUP_SUFFIX).read_text() == "#!/bin/sh\necho first\n"


def test_a_directory_that_is_not_an_image_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["install-hooks", "--chroot", str(tmp_path)]) == 1
    assert "does not look like a client image" in capsys.readouterr().err


def test_a_missing_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install-hooks", "--chroot", str(tmp_path / "absent")]) == 1
    assert "is not a directory" in capsys.readouterr().err


def test_a_link_to_the_same_hook_is_left_alone(image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # What the ltsp-mesh package before 0.2.0 installed in an image: relative links to its own copy.
    copy = image / "usr/lib/python3/dist-packages/ltsp_mesh/hooks/get_hosts"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(REPO_HOOK.read_bytes())
    for relative in hook_install.HOOK_PATHS:
        link = image / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(copy, link.parent))
    assert {item["action"] for item in _install(image, capsys)} == {"unchanged"}
    assert all((image / relative).is_symlink() for relative in hook_install.HOOK_PATHS)
