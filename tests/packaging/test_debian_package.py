"""The Debian packages: they build, ship what an admin needs, and the unit and man page check out.

The source makes two: ltsp-mesh for servers, and ltsp-mesh-hook, the get_hosts hook alone for
thin-client images (no Python there). Both .debs are built once per module with
packaging/debian/build (dpkg-buildpackage in a scratch copy of the tree) and unpacked with
dpkg-deb into scratch roots. The hook package's maintainer scripts (the diversion of an admin's
own hook, and its hand-over from ltsp-mesh before 0.2.0) run for real: `dpkg --root` installs
into a scratch root with its own dpkg database, as root. Nothing is installed on this machine
except missing Build-Depends. Select these tests with `-m packaging`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

import ltsp_mesh
from ltsp_mesh.cli import build_parser, exit_codes
from ltsp_mesh.core.config import client_settings, credentials, ltsconf, mesh_conf
from ltsp_mesh.shell import hook_install
from tests.conftest import require_tools

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
DEBIAN = ROOT / "packaging" / "debian"
UNIT = ROOT / "packaging" / "systemd" / "ltsp-mesh.service"
MAN_PAGE = ROOT / "packaging" / "man" / "ltsp-mesh.8"
EXAMPLE_CONF = ROOT / "packaging" / "conf" / "mesh.conf"
REPO_HOOK = ROOT / "chroot_hooks" / "get_hosts"
DIST_PACKAGES = Path("usr/lib/python3/dist-packages")
SHIPPED_HOOK = Path("usr/share/ltsp-mesh/chroot_hooks/get_hosts")
HOOK_PACKAGE = "ltsp-mesh-hook"
# Whichever debhelper builds it (Debian 12's puts units in /lib): packaging/debian/rules.
UNIT_DIR = Path("usr/lib/systemd/system")
APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
APT_TIMEOUT_S = 600
BUILD_TIMEOUT_S = 300  # a build takes a few seconds; this only stops a hung one


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command and capture its text output; the caller judges the exit code."""
    return subprocess.run(command, check=False, capture_output=True, text=True, **kwargs)


def _cannot_run(problem: str) -> None:
    # The rule of tests/conftest.py: in CI a missing capability fails, elsewhere it skips.
    if os.environ.get("CI") == "true":
        pytest.fail(f"cannot run in CI: {problem}")
    pytest.skip(problem)


def _unmet_build_deps() -> str:
    """dpkg-checkbuilddeps' complaint about packaging/debian/control, or "" when all are met."""
    checked = _run(["dpkg-checkbuilddeps", str(DEBIAN / "control")])
    return "" if checked.returncode == 0 else (checked.stderr.strip() or "unmet build dependencies")


def _apt_build_dep(scratch: Path) -> None:
    # apt-get build-dep reads a source tree's debian/control, virtual packages included
    # (debhelper-compat); a list made by hand would have to map those itself.
    tree = scratch / "build-deps"
    (tree / "debian").mkdir(parents=True)
    shutil.copy(DEBIAN / "control", tree / "debian" / "control")
    command = ["apt-get", "build-dep", "-y", "-qq", str(tree)]
    if _run(command, env=APT_ENV, timeout=APT_TIMEOUT_S).returncode != 0:
        _run(["apt-get", "update", "-qq"], env=APT_ENV, timeout=APT_TIMEOUT_S)
        _run(command, env=APT_ENV, timeout=APT_TIMEOUT_S)


def ensure_build_deps(scratch: Path) -> None:
    """Install missing Build-Depends as root; otherwise skip (fail where CI=true) naming them."""
    if shutil.which("dpkg-checkbuilddeps") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        _run(["apt-get", "install", "-y", "-qq", "dpkg-dev"], env=APT_ENV, timeout=APT_TIMEOUT_S)
    if shutil.which("dpkg-checkbuilddeps") is None:
        _cannot_run("needs dpkg-checkbuilddeps and dpkg-buildpackage (Debian package: dpkg-dev)")
    unmet = _unmet_build_deps()
    if unmet and os.geteuid() == 0 and shutil.which("apt-get"):
        _apt_build_dep(scratch)
        unmet = _unmet_build_deps()
    if unmet:
        _cannot_run(f"{unmet} (run as root, or `./dev test`, to install them)")


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The .debs built from this working tree, by package name: one build for the module."""
    scratch = tmp_path_factory.mktemp("deb")
    ensure_build_deps(scratch)
    out = scratch / "out"
    built = _run([str(DEBIAN / "build"), str(out)], timeout=BUILD_TIMEOUT_S)
    if built.returncode != 0:
        log = (built.stdout + built.stderr)[-4000:]
        pytest.fail(f"packaging/debian/build failed ({built.returncode}):\n{log}")
    found = {path.name.split("_")[0]: path for path in out.glob("*_all.deb")}
    assert set(found) == {"ltsp-mesh", HOOK_PACKAGE}, (
        f"unexpected .debs in {out}: {sorted(p.name for p in out.iterdir())}"
    )
    return found


@pytest.fixture(scope="module")
def deb(debs: dict[str, Path]) -> Path:
    """The server package, ltsp-mesh."""
    return debs["ltsp-mesh"]


@pytest.fixture(scope="module")
def hook_deb(debs: dict[str, Path]) -> Path:
    """The thin-client image's package, ltsp-mesh-hook."""
    return debs[HOOK_PACKAGE]


def _unpack(deb: Path, root: Path) -> Path:
    """The package's files under `root` (dpkg-deb -x), its control files in root/DEBIAN/."""
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    subprocess.run(["dpkg-deb", "-e", str(deb), str(root / "DEBIAN")], check=True)
    return root


def _control(deb: Path) -> dict[str, str]:
    """The package's control fields, as dpkg-deb -I prints them."""
    info = subprocess.run(["dpkg-deb", "-I", str(deb), "control"], capture_output=True, text=True, check=True)
    fields: dict[str, str] = {}
    key = ""
    for line in info.stdout.splitlines():
        if line.startswith((" ", "\t")) and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    return fields


def _contents(deb: Path) -> list[str]:
    """Every path in the package, as dpkg-deb -c lists it, without the leading "./"."""
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    paths = []
    for line in listing.splitlines():
        name = line.split(None, 5)[5]
        paths.append(name.split(" -> ")[0].removeprefix("./").rstrip("/"))
    return paths


@pytest.fixture(scope="module")
def unpacked(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ltsp-mesh's files under a scratch root, control files in its DEBIAN/."""
    return _unpack(deb, tmp_path_factory.mktemp("root"))


@pytest.fixture(scope="module")
def control(deb: Path) -> dict[str, str]:
    """ltsp-mesh's control fields."""
    return _control(deb)


@pytest.fixture(scope="module")
def contents(deb: Path) -> list[str]:
    """Every path in ltsp-mesh."""
    return _contents(deb)


@pytest.fixture(scope="module")
def hook_unpacked(hook_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ltsp-mesh-hook's files under a scratch root, control files in its DEBIAN/."""
    return _unpack(hook_deb, tmp_path_factory.mktemp("hook-root"))


@pytest.fixture(scope="module")
def hook_control(hook_deb: Path) -> dict[str, str]:
    """ltsp-mesh-hook's control fields."""
    return _control(hook_deb)


def _depends(control: dict[str, str]) -> dict[str, str]:
    """Depends as {package: version constraint or ""}, with any :arch qualifier dropped."""
    out = {}
    for item in control["Depends"].replace("\n", " ").split(","):
        match = re.fullmatch(r"\s*([a-z0-9.+-]+)(?::[a-z]+)?\s*(?:\(([^)]*)\))?\s*", item)
        assert match, f"cannot read the Depends item {item!r}"
        out[match.group(1)] = (match.group(2) or "").replace(" ", "")
    return out


def _alternatives(field: str) -> list[list[str]]:
    """A relationship field as a list of its items, each the package names of its alternatives."""
    return [
        [re.split(r"[\s:(]", alternative.strip(), maxsplit=1)[0] for alternative in item.split("|")]
        for item in field.replace("\n", " ").split(",")
        if item.strip()
    ]


def _run_packaged(unpacked: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the packaged /usr/bin/ltsp-mesh on the packaged modules (this venv gives the dependencies)."""
    env = {**os.environ, "PYTHONPATH": str(unpacked / DIST_PACKAGES)}
    return _run([sys.executable, str(unpacked / "usr/bin/ltsp-mesh"), *args], env=env, timeout=60)


def _unit_path(unpacked: Path) -> Path:
    assert not (unpacked / "lib").exists(), "nothing goes to /lib, an aliased location of merged /usr"
    return unpacked / UNIT_DIR / "ltsp-mesh.service"


def _man_text() -> str:
    return MAN_PAGE.read_text(encoding="utf-8")


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # no public accessor
    assert len(actions) == 1
    return dict(actions[0].choices)


def _documented_options(parser: argparse.ArgumentParser) -> list[str]:
    return [
        option
        for action in parser._actions  # no public accessor
        if action.help != argparse.SUPPRESS
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    ]


# --- the build ------------------------------------------------------------------------------


def test_build_leaves_no_debian_directory_in_the_tree(deb: Path) -> None:
    assert not (ROOT / "debian").exists()


def test_package_is_named_and_versioned_like_the_python_package(control: dict[str, str]) -> None:
    assert control["Package"] == "ltsp-mesh"
    assert control["Architecture"] == "all"
    upstream = control["Version"].rsplit("-", 1)[0]  # 3.0 (native) has no Debian revision; quilt would
    assert upstream == ltsp_mesh.__version__, (
        f"the .deb is {control['Version']} but ltsp_mesh.__version__ is {ltsp_mesh.__version__}: "
        "add an entry to packaging/debian/changelog (dch -c packaging/debian/changelog -v VERSION)"
    )


def test_depends_on_python_3_11_and_every_runtime_dependency(control: dict[str, str]) -> None:
    depends = _depends(control)
    assert re.fullmatch(r">=3\.1[1-9]~?|>=3\.[2-9]\d~?", depends.get("python3", "")), depends
    for name in ("python3-psutil", "python3-msgpack", "python3-defusedxml", "python3-cryptography"):
        assert name in depends
    assert depends["python3-zeroconf"] == ">=0.47.3"  # Debian 12's: see test_install_roots.py


def test_depends_keeps_every_version_floor_of_pyproject(control: dict[str, str]) -> None:
    depends = _depends(control)
    requirements = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(?:>=\s*([0-9.]+))?.*", requirement)
        assert match, requirement
        name, floor = f"python3-{match.group(1).lower().replace('_', '-')}", match.group(2)
        assert name in depends, f"pyproject.toml needs {requirement} but Depends has no {name}"
        if floor:
            assert depends[name] == f">={floor}", f"pyproject.toml: {requirement}; Depends: {depends[name]}"


# --- what it installs -----------------------------------------------------------------------


def test_command_is_installed_and_runs_the_packaged_modules(unpacked: Path) -> None:
    command = unpacked / "usr/bin/ltsp-mesh"
    assert os.access(command, os.X_OK)
    assert command.read_text().startswith("#!/usr/bin/python3\n")
    # -P: the working directory (this repository) must not come first on sys.path.
    env = {**os.environ, "PYTHONPATH": str(unpacked / DIST_PACKAGES)}
    where = _run([sys.executable, "-P", "-c", "import ltsp_mesh; print(ltsp_mesh.__file__)"], env=env)
    assert Path(where.stdout.strip()).is_relative_to(unpacked), where.stdout + where.stderr
    shown = _run_packaged(unpacked, "--help")
    assert shown.returncode == 0, shown.stderr
    for name in _subcommands():
        assert name in shown.stdout


def test_every_python_module_but_the_lab_is_packaged(unpacked: Path) -> None:
    source = {p.relative_to(ROOT) for p in (ROOT / "ltsp_mesh").rglob("*.py")}
    source -= {p for p in source if p.parts[:2] == ("ltsp_mesh", "lab")}
    site = unpacked / DIST_PACKAGES
    assert {p.relative_to(site) for p in (site / "ltsp_mesh").rglob("*.py")} == source
    assert (site / f"ltsp_mesh-{ltsp_mesh.__version__}.dist-info" / "entry_points.txt").is_file()


def test_packaged_demo_says_the_lab_ships_with_the_source(unpacked: Path) -> None:
    # -S: without site-packages, so that this checkout's editable install cannot lend its lab.
    env = {**os.environ, "PYTHONPATH": str(unpacked / DIST_PACKAGES)}
    shown = _run(
        [sys.executable, "-S", "-P", str(unpacked / "usr/bin/ltsp-mesh"), "demo"], env=env, timeout=60
    )
    assert shown.returncode == 1 and "ships with the source" in shown.stderr, shown.stderr
    assert "Traceback" not in shown.stderr


def test_unit_is_the_one_in_packaging_systemd(unpacked: Path) -> None:
    assert _unit_path(unpacked).read_bytes() == UNIT.read_bytes()


def test_unit_is_enabled_and_started_on_install(unpacked: Path) -> None:
    postinst = (unpacked / "DEBIAN" / "postinst").read_text()
    assert "deb-systemd-helper enable 'ltsp-mesh.service'" in postinst
    assert re.search(r"deb-systemd-invoke \$_dh_action 'ltsp-mesh.service'", postinst)


def test_unit_never_starts_inside_a_thin_client_image() -> None:
    # LTSP5: its chroots and clients; LTSP 21+: images and NFS roots (test_install_roots.py
    # boots a root under systemd with each of these).
    lines = UNIT.read_text().splitlines()
    for condition in (
        "ConditionPathExists=!/etc/ltsp_chroot",
        "ConditionKernelCommandLine=!init=/sbin/init-ltsp",
        "ConditionKernelCommandLine=!ltsp.image",
        "ConditionPathExists=!/run/ltsp/client",
    ):
        assert condition in lines


def test_unit_hands_over_each_default_key_under_its_paths_name_with_a_stand_in() -> None:
    lines = UNIT.read_text().splitlines()
    for path in (mesh_conf.ServeSettings().host_key, "/etc/ltsp/ltsp-mesh.key"):
        assert credentials.load_line(path) in lines
        assert f"SetCredential={credentials.name(path)}:{credentials.NO_FILE}" in lines


def test_server_package_recommends_nothing_that_brings_sshd(control: dict[str, str]) -> None:
    # Recommends are installed by default, also in a client image: sshd would bring systemd and
    # host keys there (test_install_roots.py checks what an install brings).
    assert "Recommends" not in control
    assert control["Suggests"] == "openssh-server"


def test_hook_ships_for_copying_and_for_install_hooks_only(unpacked: Path, contents: list[str]) -> None:
    shipped = unpacked / SHIPPED_HOOK
    assert shipped.is_symlink(), f"{SHIPPED_HOOK} is not a link to the one copy"
    target = Path(os.path.realpath(shipped))
    assert target.is_relative_to(unpacked / DIST_PACKAGES), f"{SHIPPED_HOOK} points elsewhere: {target}"
    assert target.read_bytes() == REPO_HOOK.read_bytes()
    assert os.access(target, os.X_OK)
    # LDM's paths are ltsp-mesh-hook's alone: two packages owning one path cannot both install.
    assert not set(hook_install.HOOK_PATHS) & set(contents)


def test_server_package_diverts_nothing_but_gives_back_what_it_used_to(unpacked: Path) -> None:
    # ltsp-mesh before 0.2.0 diverted LDM's paths in its own name; this one only removes those.
    assert not (unpacked / "DEBIAN" / "preinst").exists()
    for script in ("postinst", "postrm"):
        ours = (DEBIAN / f"ltsp-mesh.{script}").read_text().split("#DEBHELPER#")[0]
        packaged = (unpacked / "DEBIAN" / script).read_text()
        assert packaged.startswith(ours), f"DEBIAN/{script} is not packaging/debian/ltsp-mesh.{script}"
        assert "--add" not in packaged


def test_packaged_install_hooks_puts_the_packaged_hook_into_an_image(unpacked: Path, tmp_path: Path) -> None:
    image = tmp_path / "i386"
    (image / "usr" / "bin").mkdir(parents=True)
    done = _run_packaged(unpacked, "install-hooks", "--chroot", str(image), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert {item["action"] for item in json.loads(done.stdout)["data"]} == {"installed"}
    for ldm_path in hook_install.HOOK_PATHS:
        assert (image / ldm_path).read_bytes() == REPO_HOOK.read_bytes()


def test_man_page_and_example_config_are_installed(unpacked: Path) -> None:
    with gzip.open(unpacked / "usr/share/man/man8/ltsp-mesh.8.gz") as page:
        assert page.read() == MAN_PAGE.read_bytes()
    assert (unpacked / "usr/share/doc/ltsp-mesh/examples/mesh.conf").read_bytes() == EXAMPLE_CONF.read_bytes()
    # dh_compress gzips documentation of more than 4 KiB.
    doc = unpacked / "usr/share/doc/ltsp-mesh"
    assert (doc / "README.Debian").is_file() or (doc / "README.Debian.gz").is_file()


# --- the hook package, for thin-client images ------------------------------------------------

# ltsp-mesh 0.1.0's maintainer scripts as released (its #DEBHELPER# added nothing to them): the
# diversions that ltsp-mesh-hook must take over were made by exactly these.
OLD_PREINST = """#!/bin/sh
set -e
if [ "$1" = install ] || [ "$1" = upgrade ]; then
    for hook in /usr/share/ltsp/get_hosts /usr/lib/ltsp/get_hosts; do
        dpkg-divert --package ltsp-mesh --rename --divert "$hook.before-ltsp-mesh" --add "$hook" >/dev/null
    done
fi
exit 0
"""
OLD_POSTRM = """#!/bin/sh
set -e
if [ "$1" = remove ] || [ "$1" = purge ] || [ "$1" = abort-install ] || [ "$1" = disappear ]; then
    for hook in /usr/share/ltsp/get_hosts /usr/lib/ltsp/get_hosts; do
        dpkg-divert --package ltsp-mesh --rename --divert "$hook.before-ltsp-mesh" --remove "$hook" >/dev/null
    done
fi
exit 0
"""
# dpkg-divert as Ubuntu bionic's dpkg 1.19.0.5 has it: no --no-rename yet, and no renaming by
# default (this machine's dpkg-divert then warns, which that one did not).
BIONIC_DPKG_DIVERT = """#!/bin/sh
for arg; do
    case $arg in
    --no-rename) echo "dpkg-divert: error: unknown option --no-rename" >&2; exit 2 ;;
    --help) "{real}" --help | grep -v -e --no-rename; exit 0 ;;
    esac
done
exec "{real}" "$@"
"""
OWN_HOOK = b"#!/bin/sh\necho 10.0.0.1\n"
# For the tests whose scripts take the --no-rename branch: once with each dpkg-divert.
WITH_BIONIC = pytest.mark.parametrize("scratch_root", ["dpkg", "bionic-dpkg"], indirect=True)


def test_source_builds_a_server_package_and_a_hook_package(debs: dict[str, Path]) -> None:
    assert sorted(debs) == ["ltsp-mesh", HOOK_PACKAGE]
    assert _control(debs[HOOK_PACKAGE])["Version"] == _control(debs["ltsp-mesh"])["Version"]


def test_hook_package_is_for_any_image_and_needs_nc_not_python(hook_control: dict[str, str]) -> None:
    assert hook_control["Architecture"] == "all"
    depends = _alternatives(hook_control["Depends"])
    assert not [name for item in depends for name in item if "python" in name], depends
    assert ["netcat-openbsd", "netcat-traditional", "busybox", "busybox-static"] in depends


def test_hook_package_is_never_unpacked_beside_an_older_ltsp_mesh(hook_control: dict[str, str]) -> None:
    # ltsp-mesh before 0.2.0 shipped LDM's paths and diverted them; see the comment in control
    # and test_the_hook_package_waits_for_ltsp_mesh_0_1_to_be_upgraded for why not Breaks.
    assert hook_control["Conflicts"] == "ltsp-mesh (<< 0.2.0~)"
    assert "Replaces" not in hook_control and "Breaks" not in hook_control


def test_hook_package_holds_the_hook_at_both_ldm_paths_and_docs_only(
    hook_unpacked: Path, hook_deb: Path
) -> None:
    files = {path for path in _contents(hook_deb) if not (hook_unpacked / path).is_dir()}
    docs = {f"usr/share/doc/{HOOK_PACKAGE}/copyright", f"usr/share/doc/{HOOK_PACKAGE}/changelog.gz"}
    assert files == {*hook_install.HOOK_PATHS, *docs}
    for path in hook_install.HOOK_PATHS:
        shipped = hook_unpacked / path
        # A real file: the image has no ltsp_mesh Python package for it to link into.
        assert not shipped.is_symlink() and os.access(shipped, os.X_OK), path
        assert shipped.read_bytes() == REPO_HOOK.read_bytes(), path


def test_hook_package_mentions_ltsp_mesh_as_its_preinst_expects() -> None:
    # preinst tells ltsp-mesh's hook (a copy install-hooks wrote) from an admin's by this name.
    assert b"ltsp-mesh" in REPO_HOOK.read_bytes()


def _fake_deb(
    out: Path, name: str, version: str, files: dict[str, bytes | str], scripts: dict[str, str]
) -> Path:
    """A minimal .deb: `files` maps a path to its bytes, or to a link target given as text."""
    tree = out / f"{name}_{version}"
    (tree / "DEBIAN").mkdir(parents=True)
    control = {
        "Package": name,
        "Version": version,
        "Architecture": "all",
        "Maintainer": "tests <t@example.org>",
        "Description": f"{name} as the packaging tests need it",
    }
    (tree / "DEBIAN" / "control").write_text("".join(f"{key}: {value}\n" for key, value in control.items()))
    for script, text in scripts.items():
        (tree / "DEBIAN" / script).write_text(text)
        (tree / "DEBIAN" / script).chmod(0o755)
    for path, content in files.items():
        target = tree / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            target.symlink_to(content)
        else:
            target.write_bytes(content)
            target.chmod(0o755)
    deb = out / f"{name}_{version}_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "--build", str(tree), str(deb)], check=True, capture_output=True
    )
    return deb


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Packages the install tests need besides ltsp-mesh-hook, small enough to install anywhere.

    "old": ltsp-mesh 0.1.0, with its own diverting scripts and links at LDM's paths. "new": this
    ltsp-mesh's own postinst and postrm (packaging/debian) without what debhelper adds, which
    would enable a unit and byte-compile Python on this machine. "nc": what the hook depends on.
    """
    out = tmp_path_factory.mktemp("stand-ins")
    copy = "usr/lib/python3/dist-packages/ltsp_mesh/hooks/get_hosts"

    def links(*paths: str | Path) -> dict[str, bytes | str]:
        return {str(path): os.path.relpath(f"/{copy}", os.path.dirname(f"/{path}")) for path in paths}

    old_files = {copy: REPO_HOOK.read_bytes(), **links(*hook_install.HOOK_PATHS, SHIPPED_HOOK)}
    new_files = {copy: REPO_HOOK.read_bytes(), **links(SHIPPED_HOOK)}
    new_scripts = {
        script: (DEBIAN / f"ltsp-mesh.{script}").read_text().replace("#DEBHELPER#", "")
        for script in ("postinst", "postrm")
    }
    return {
        "old": _fake_deb(
            out, "ltsp-mesh", "0.1.0", old_files, {"preinst": OLD_PREINST, "postrm": OLD_POSTRM}
        ),
        "new": _fake_deb(out, "ltsp-mesh", ltsp_mesh.__version__, new_files, new_scripts),
        "nc": _fake_deb(out, "netcat-openbsd", "1.219-1", {"bin/nc.openbsd": b"#!/bin/sh\n"}, {}),
    }


class ScratchRoot:
    """A root directory with its own, empty dpkg database, that `dpkg --root` installs into.

    Maintainer scripts run chrootless (--force-script-chrootless): with DPKG_ROOT set to the
    root, as dpkg-divert honours it, so the scratch root needs no shell or dpkg of its own.
    `dpkg_divert` is the dpkg-divert the scripts find first on PATH.
    """

    def __init__(self, path: Path, dpkg_divert: Path | None) -> None:
        self.path = path
        for directory in ("info", "updates", "triggers"):
            (path / "var/lib/dpkg" / directory).mkdir(parents=True)
        (path / "var/lib/dpkg/status").touch()
        self.env = dict(os.environ)
        if dpkg_divert is not None:
            self.env["PATH"] = f"{dpkg_divert.parent}:{self.env['PATH']}"
        self.quiet = dpkg_divert is None  # bionic's stand-in warns about every call, as said above

    def dpkg(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        """Run dpkg on this root; with `ok`, fail the test unless it succeeds, dpkg-divert unwarned."""
        done = _run(
            ["dpkg", f"--root={self.path}", "--force-script-chrootless", *args], env=self.env, timeout=60
        )
        if ok:
            assert done.returncode == 0, done.stdout + done.stderr
            # dpkg's own "directory not empty" on removal is expected: the diverted hook is there.
            assert not self.quiet or "dpkg-divert: warning" not in done.stderr, done.stderr
        return done

    def diversions(self) -> dict[str, str]:
        """Every diversion in this root's dpkg database: {diverted path: "divert-to by package"}."""
        listed = _run(["dpkg-divert", f"--root={self.path}", "--list"], timeout=60).stdout
        found = re.findall(
            r"^(?:local )?diversion of (\S+) to (\S+)(?: by (\S+))?$", listed, flags=re.MULTILINE
        )
        return {path: f"{to} by {owner or 'LOCAL'}" for path, to, owner in found}

    def hook_at(self, relative: str) -> bytes:
        """The file at `relative`, links followed inside the root."""
        path = hook_install.resolve_in_image(self.path, relative)
        assert path is not None and path.is_file(), f"{relative} is not in the scratch root"
        return path.read_bytes()

    def put_own_hook(self) -> None:
        """An admin's own hook at both LDM paths."""
        for relative in hook_install.HOOK_PATHS:
            (self.path / relative).parent.mkdir(parents=True, exist_ok=True)
            (self.path / relative).write_bytes(OWN_HOOK)


def _owned_by(package: str) -> dict[str, str]:
    return {
        f"/{path}": f"/{path}{hook_install.BACKUP_SUFFIX} by {package}" for path in hook_install.HOOK_PATHS
    }


def _kept(root: ScratchRoot) -> list[bytes]:
    return [root.hook_at(f"{path}{hook_install.BACKUP_SUFFIX}") for path in hook_install.HOOK_PATHS]


def _installed_hooks(root: ScratchRoot) -> list[bytes]:
    return [root.hook_at(path) for path in hook_install.HOOK_PATHS]


@pytest.fixture
def scratch_root(request: pytest.FixtureRequest, tmp_path: Path, stand_ins: dict[str, Path]) -> ScratchRoot:
    """A scratch root with nc installed, with this machine's dpkg-divert or (WITH_BIONIC) bionic's."""
    if os.geteuid() != 0:
        _cannot_run("installing a .deb into a scratch root with dpkg --root needs root")
    shim = None
    if getattr(request, "param", "dpkg") == "bionic-dpkg":
        real = shutil.which("dpkg-divert")
        assert real is not None
        shim = tmp_path / "bin" / "dpkg-divert"
        shim.parent.mkdir()
        shim.write_text(BIONIC_DPKG_DIVERT.replace("{real}", real))
        shim.chmod(0o755)
    root = ScratchRoot(tmp_path / "root", shim)
    root.dpkg("-i", str(stand_ins["nc"]))
    return root


def test_installing_the_hook_package_diverts_an_admins_own_hook(
    scratch_root: ScratchRoot, hook_deb: Path
) -> None:
    scratch_root.put_own_hook()
    scratch_root.dpkg("-i", str(hook_deb))
    assert scratch_root.diversions() == _owned_by(HOOK_PACKAGE)
    assert _kept(scratch_root) == [OWN_HOOK, OWN_HOOK]
    assert _installed_hooks(scratch_root) == [REPO_HOOK.read_bytes()] * 2


def test_removing_the_hook_package_gives_the_admins_hook_back(
    scratch_root: ScratchRoot, hook_deb: Path
) -> None:
    scratch_root.put_own_hook()
    scratch_root.dpkg("-i", str(hook_deb))
    scratch_root.dpkg("--purge", HOOK_PACKAGE)
    assert scratch_root.diversions() == {}
    assert _installed_hooks(scratch_root) == [OWN_HOOK, OWN_HOOK]
    assert not any(
        (scratch_root.path / f"{p}{hook_install.BACKUP_SUFFIX}").exists() for p in hook_install.HOOK_PATHS
    )


def test_the_hook_package_without_an_admins_hook_leaves_nothing_behind(
    scratch_root: ScratchRoot, hook_deb: Path
) -> None:
    scratch_root.dpkg("-i", str(hook_deb))
    assert _installed_hooks(scratch_root) == [REPO_HOOK.read_bytes()] * 2
    scratch_root.dpkg("--purge", HOOK_PACKAGE)
    assert scratch_root.diversions() == {}
    assert not (scratch_root.path / "usr/share/ltsp").exists()


@WITH_BIONIC
def test_upgrading_from_ltsp_mesh_0_1_hands_its_diversions_to_the_hook_package(
    scratch_root: ScratchRoot, hook_deb: Path, stand_ins: dict[str, Path]
) -> None:
    scratch_root.put_own_hook()
    scratch_root.dpkg("-i", str(stand_ins["old"]))
    assert scratch_root.diversions() == _owned_by("ltsp-mesh")
    # As apt does it: both unpacked (ltsp-mesh first, for Conflicts), then both configured.
    scratch_root.dpkg("-i", str(stand_ins["new"]), str(hook_deb))
    assert scratch_root.diversions() == _owned_by(HOOK_PACKAGE)
    assert _kept(scratch_root) == [OWN_HOOK, OWN_HOOK]
    assert _installed_hooks(scratch_root) == [REPO_HOOK.read_bytes()] * 2
    scratch_root.dpkg("--purge", HOOK_PACKAGE)
    assert _installed_hooks(scratch_root) == [OWN_HOOK, OWN_HOOK]


def test_the_hook_package_waits_for_ltsp_mesh_0_1_to_be_upgraded(
    scratch_root: ScratchRoot, hook_deb: Path, stand_ins: dict[str, Path]
) -> None:
    # Unpacked first, with the old links counted as diverted, upgrading ltsp-mesh afterwards
    # would delete them at get_hosts.before-ltsp-mesh: the admin's own hook. Conflicts stops it.
    scratch_root.put_own_hook()
    scratch_root.dpkg("-i", str(stand_ins["old"]))
    refused = scratch_root.dpkg("--auto-deconfigure", "-i", str(hook_deb), ok=False)
    assert refused.returncode != 0 and "conflicts with ltsp-mesh" in refused.stderr, refused.stderr
    scratch_root.dpkg("-i", str(stand_ins["new"]))
    scratch_root.dpkg("-i", str(hook_deb))
    assert scratch_root.diversions() == _owned_by(HOOK_PACKAGE)
    assert _kept(scratch_root) == [OWN_HOOK, OWN_HOOK]


def test_upgrading_ltsp_mesh_alone_gives_the_admins_hook_back(
    scratch_root: ScratchRoot, stand_ins: dict[str, Path]
) -> None:
    # A server: the new ltsp-mesh no longer ships the hook at LDM's paths, nor diverts them.
    scratch_root.put_own_hook()
    scratch_root.dpkg("-i", str(stand_ins["old"]))
    scratch_root.dpkg("-i", str(stand_ins["new"]))
    assert scratch_root.diversions() == {}
    assert _installed_hooks(scratch_root) == [OWN_HOOK, OWN_HOOK]


def test_removing_an_upgraded_ltsp_mesh_not_yet_configured_gives_the_admins_hook_back(
    scratch_root: ScratchRoot, stand_ins: dict[str, Path]
) -> None:
    scratch_root.put_own_hook()
    scratch_root.dpkg("-i", str(stand_ins["old"]))
    scratch_root.dpkg("--unpack", str(stand_ins["new"]))
    scratch_root.dpkg("--remove", "ltsp-mesh")
    assert scratch_root.diversions() == {}
    assert _installed_hooks(scratch_root) == [OWN_HOOK, OWN_HOOK]


@WITH_BIONIC
def test_the_hook_package_replaces_a_hook_install_hooks_put_there(
    scratch_root: ScratchRoot, hook_deb: Path
) -> None:
    # install-hooks kept the admin's hook under the very name the diversion uses.
    scratch_root.put_own_hook()
    hook_install.install(scratch_root.path)
    scratch_root.dpkg("-i", str(hook_deb))
    assert scratch_root.diversions() == _owned_by(HOOK_PACKAGE)
    assert _kept(scratch_root) == [OWN_HOOK, OWN_HOOK]
    scratch_root.dpkg("--purge", HOOK_PACKAGE)
    assert _installed_hooks(scratch_root) == [OWN_HOOK, OWN_HOOK]


def test_the_hook_package_refuses_to_lose_either_of_two_admin_hooks(
    scratch_root: ScratchRoot, hook_deb: Path
) -> None:
    scratch_root.put_own_hook()
    other = scratch_root.path / f"{hook_install.HOOK_PATHS[0]}{hook_install.BACKUP_SUFFIX}"
    other.write_bytes(b"#!/bin/sh\necho 10.0.0.2\n")
    refused = scratch_root.dpkg("-i", str(hook_deb), ok=False)
    assert refused.returncode != 0 and "move one of them away" in refused.stderr
    assert other.read_bytes() == b"#!/bin/sh\necho 10.0.0.2\n"
    assert _installed_hooks(scratch_root) == [OWN_HOOK, OWN_HOOK]
    assert scratch_root.diversions() == {}


# --- the unit -------------------------------------------------------------------------------


def test_unit_passes_systemd_analyze_verify(unpacked: Path, tmp_path: Path) -> None:
    require_tools("systemd-analyze", debian="systemd")
    text = UNIT.read_text()
    assert "\nExecStart=/usr/bin/ltsp-mesh serve\n" in text
    # verify wants the ExecStart binary to exist: point it at the packaged one.
    unit = tmp_path / "ltsp-mesh.service"
    unit.write_text(text.replace("\nExecStart=/usr/bin/", f"\nExecStart={unpacked}/usr/bin/"))
    # Documentation=man:ltsp-mesh(8) is looked up with man(1), in the packaged man pages.
    man = [] if shutil.which("man") else ["--man=no"]
    env = {**os.environ, "MANPATH": str(unpacked / "usr/share/man")}
    verified = _run(["systemd-analyze", "verify", *man, str(unit)], env=env, cwd=tmp_path, timeout=60)
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")


SECURITY_TARGET = 2.0  # issue 12: the usual hardening, without what the daemon needs


def test_unit_scores_at_most_2_in_systemd_analyze_security(unpacked: Path, tmp_path: Path) -> None:
    # Offline, on the unit file as packaged; test_install_roots.py asks each release's own
    # systemd about the installed unit.
    require_tools("systemd-analyze", debian="systemd")
    unit = tmp_path / "ltsp-mesh.service"
    unit.write_text(UNIT.read_text().replace("\nExecStart=/usr/bin/", f"\nExecStart={unpacked}/usr/bin/"))
    shown = _run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(unit)], cwd=tmp_path, timeout=60
    )
    score = re.search(r"Overall exposure level for ltsp-mesh.service: (\d+\.\d+)", shown.stdout)
    assert score, shown.stdout + shown.stderr
    print(f"systemd-analyze security --offline=yes: {score.group(1)}")
    assert float(score.group(1)) <= SECURITY_TARGET, shown.stdout


# --- the man page ---------------------------------------------------------------------------


def test_man_page_renders_without_warnings() -> None:
    require_tools("groff", debian="groff-base")
    rendered = _run(["groff", "-man", "-Tutf8", "-ww", "-z", str(MAN_PAGE)], timeout=60)
    assert (rendered.returncode, rendered.stderr) == (0, "")


def test_installed_man_page_reads_without_warnings(unpacked: Path) -> None:
    require_tools("man", debian="man-db")
    env = {**os.environ, "LC_ALL": "C.UTF-8", "MANWIDTH": "80"}
    page = unpacked / "usr/share/man/man8/ltsp-mesh.8.gz"
    shown = _run(["man", "--warnings", "-E", "UTF-8", "-l", str(page)], env=env, timeout=60)
    assert (shown.returncode, shown.stderr) == (0, "")
    assert re.search(r"ltsp-mesh\s+-\s+zero-configuration load balancing", shown.stdout)


def test_man_page_documents_every_subcommand() -> None:
    headings = re.findall(r'^\.SS "ltsp-mesh ([a-z-]+)', _man_text(), flags=re.MULTILINE)
    missing = sorted(set(_subcommands()) - set(headings))
    assert not missing, f"packaging/man/ltsp-mesh.8 has no .SS section for: {missing}"


def test_man_page_documents_every_option() -> None:
    text = _man_text()
    parsers = {"ltsp-mesh": build_parser(), **{f"ltsp-mesh {n}": p for n, p in _subcommands().items()}}
    missing = [
        f"{command} {option}"
        for command, parser in parsers.items()
        for option in _documented_options(parser)
        if option.replace("-", r"\-") not in text
    ]
    assert not missing, f"packaging/man/ltsp-mesh.8 does not document: {missing}"


def test_man_page_documents_every_exit_code() -> None:
    section = _man_text().split(".SH EXIT STATUS", 1)[1].split("\n.SH ", 1)[0]
    codes = {int(v) for n, v in vars(exit_codes).items() if n.isupper() and isinstance(v, int)}
    documented = {int(c) for c in re.findall(r"^\.B (\d+)$", section, flags=re.MULTILINE)}
    assert documented == codes


def test_man_page_documents_every_config_key_and_lts_conf_variable() -> None:
    text = _man_text()
    keys = set(mesh_conf.KNOWN_KEYS) | set(client_settings.KNOWN_KEYS)
    missing = sorted(k for k in keys if f"\n.B {k}\n" not in text)
    assert not missing, f"packaging/man/ltsp-mesh.8 has no .TP entry for: {missing}"


def test_man_page_names_the_files_the_package_ships() -> None:
    text = _man_text()
    shipped = ("/usr/bin/ltsp-mesh", "ltsp-mesh.service", f"/{SHIPPED_HOOK}", "/usr/share/doc/ltsp-mesh/")
    for path in (*shipped, mesh_conf.DEFAULT_PATH, mesh_conf.ServeSettings().state_dir):
        assert path in text


# --- the example configuration --------------------------------------------------------------


def test_example_config_as_shipped_gives_the_defaults() -> None:
    conf = ltsconf.parse(EXAMPLE_CONF.read_text(), str(EXAMPLE_CONF))
    assert mesh_conf.settings(mesh_conf.values_from_conf(conf)) == mesh_conf.ServeSettings()


def test_example_config_values_are_all_valid_when_uncommented() -> None:
    text = re.sub(r"^(\s*)#([A-Z_]+ =)", r"\1\2", EXAMPLE_CONF.read_text(), flags=re.MULTILINE)
    values = mesh_conf.values_from_conf(ltsconf.parse(text, str(EXAMPLE_CONF)))
    assert set(values) <= mesh_conf.KNOWN_KEYS and len(values) >= 6
    mesh_conf.settings(values)


def test_greeter_feed_format_is_documented_where_the_man_page_says(unpacked: Path) -> None:
    assert "greeter-feed.md" in (ROOT / "packaging" / "man" / "ltsp-mesh.8").read_text()
    assert (unpacked / "usr/share/doc/ltsp-mesh/greeter-feed.md").is_file()
