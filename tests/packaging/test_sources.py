"""The source is complete and says one thing: licence, version, install advice, sdist.

The sdist test builds the sdist with the backend of pyproject.toml from a copy of this tree and
runs `./dev deb` in the unpacked sdist: what an admin without git does.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest

import ltsp_mesh
from tests.conftest import require_tools
from tests.packaging.test_debian_package import ensure_build_deps

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
COMMON_GPL_2 = Path("/usr/share/common-licenses/GPL-2")
# Files git tracks that an sdist may leave out: none today.
NOT_IN_SDIST: frozenset[str] = frozenset()


def _project() -> dict[str, object]:
    project: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project


def test_the_licence_file_is_the_gpl_2_that_pyproject_and_debian_copyright_name() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE\n                       Version 2, June 1991")
    if COMMON_GPL_2.is_file():
        assert text == COMMON_GPL_2.read_text()
    assert _project()["license"] == "GPL-2.0-or-later"
    assert _project()["license-files"] == ["LICENSE"]
    copyright_text = (ROOT / "packaging/debian/copyright").read_text()
    assert re.findall(r"^License: (\S+)$", copyright_text, flags=re.MULTILINE) == ["GPL-2.0-or-later"] * 2


def test_debian_changelog_and_changelog_md_carry_the_packages_version() -> None:
    top = (ROOT / "packaging/debian/changelog").read_text().splitlines()[0]
    assert re.fullmatch(rf"ltsp-mesh \({re.escape(ltsp_mesh.__version__)}\) \S+; urgency=\w+", top), top
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(
        rf"(## \[{re.escape(ltsp_mesh.__version__)}\]|Version {re.escape(ltsp_mesh.__version__)}\b)",
        changelog,
    )


def test_no_advice_installs_from_pypi_where_the_package_is_not() -> None:
    for path in [README, *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "ltsp_mesh").rglob("*.py"))]:
        text = path.read_text(errors="replace")
        assert "pip install 'ltsp-mesh" not in text and "pip install ltsp-mesh" not in text, path


def test_readmes_tsig_step_makes_the_key_readable_by_root_alone(tmp_path: Path) -> None:
    require_tools("tsig-keygen", debian="bind9-utils")
    step = re.search(
        r"^\(umask 077; tsig-keygen ltsp-mesh > (/etc/ltsp/ltsp-mesh\.key)\)",
        README.read_text(),
        re.MULTILINE,
    )
    assert step, "README's TSIG step is not `(umask 077; tsig-keygen ltsp-mesh > /etc/ltsp/ltsp-mesh.key)`"
    command = step.group(0).replace(step.group(1), str(tmp_path / "ltsp-mesh.key"))
    subprocess.run(["sh", "-c", command], check=True, timeout=30)
    assert (tmp_path / "ltsp-mesh.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "ltsp-mesh.key").read_text().startswith('key "ltsp-mesh"')


def _tracked() -> set[str]:
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    return {path for path in listed.split("\0") if path and (ROOT / path).exists()}


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist of a copy of this tree (git's files), built with pyproject.toml's backend."""
    tree = tmp_path_factory.mktemp("tree")
    for path in _tracked():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, tree / path, follow_symlinks=False)
    out = tmp_path_factory.mktemp("sdist")
    code = f"from setuptools import build_meta; print(build_meta.build_sdist({str(out)!r}))"
    built = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, built.stderr[-3000:]
    return out / built.stdout.strip().splitlines()[-1]


def test_the_sdist_holds_every_file_of_the_source(sdist: Path) -> None:
    with tarfile.open(sdist) as archive:
        top = f"ltsp_mesh-{ltsp_mesh.__version__}/"
        held = {
            member.name.removeprefix(top)
            for member in archive.getmembers()
            if member.isfile() or member.issym()
        }
    assert _tracked() - NOT_IN_SDIST - held == set()


@pytest.mark.packaging
def test_dev_deb_builds_the_packages_from_the_unpacked_sdist(sdist: Path, tmp_path: Path) -> None:
    # No git there: packaging/debian/build copies the whole tree. `./dev deb` also runs lintian.
    ensure_build_deps(tmp_path)
    require_tools("lintian", debian="lintian")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="tar")
    source = tmp_path / f"ltsp_mesh-{ltsp_mesh.__version__}"
    done = subprocess.run(
        [str(source / "dev"), "deb", str(tmp_path / "out")], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    built = sorted(path.name for path in (tmp_path / "out").glob("*.deb"))
    assert built == [
        f"ltsp-mesh-hook_{ltsp_mesh.__version__}_all.deb",
        f"ltsp-mesh_{ltsp_mesh.__version__}_all.deb",
    ]
