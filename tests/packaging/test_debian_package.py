"""The Debian package: it builds, ships what an admin needs, and its unit and man page check out.

The .deb is built once per module with packaging/debian/build (dpkg-buildpackage in a scratch
copy of the tree) and unpacked with dpkg-deb into a scratch root; nothing is installed on this
machine except missing Build-Depends. Select these tests with `-m packaging`.
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
from ltsp_mesh.core import client_settings, ltsconf, mesh_conf
from ltsp_mesh.shell import hooks
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
# Debian 12's debhelper installs units in /lib, Debian 13's in /usr/lib.
UNIT_DIRS = (Path("lib/systemd/system"), Path("usr/lib/systemd/system"))
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
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The .deb built from this working tree."""
    scratch = tmp_path_factory.mktemp("deb")
    ensure_build_deps(scratch)
    out = scratch / "out"
    built = _run([str(DEBIAN / "build"), str(out)], timeout=BUILD_TIMEOUT_S)
    if built.returncode != 0:
        log = (built.stdout + built.stderr)[-4000:]
        pytest.fail(f"packaging/debian/build failed ({built.returncode}):\n{log}")
    debs = sorted(out.glob("ltsp-mesh_*_all.deb"))
    assert len(debs) == 1, f"expected one ltsp-mesh .deb in {out}: {sorted(p.name for p in out.iterdir())}"
    return debs[0]


@pytest.fixture(scope="module")
def unpacked(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's files under a scratch root (dpkg-deb -x), control files in its DEBIAN/."""
    root = tmp_path_factory.mktemp("root")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    subprocess.run(["dpkg-deb", "-e", str(deb), str(root / "DEBIAN")], check=True)
    return root


@pytest.fixture(scope="module")
def control(deb: Path) -> dict[str, str]:
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


@pytest.fixture(scope="module")
def contents(deb: Path) -> list[str]:
    """Every path in the package, as dpkg-deb -c lists it, without the leading "./"."""
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    paths = []
    for line in listing.splitlines():
        name = line.split(None, 5)[5]
        paths.append(name.split(" -> ")[0].removeprefix("./").rstrip("/"))
    return paths


def _depends(control: dict[str, str]) -> dict[str, str]:
    """Depends as {package: version constraint or ""}, with any :arch qualifier dropped."""
    out = {}
    for item in control["Depends"].replace("\n", " ").split(","):
        match = re.fullmatch(r"\s*([a-z0-9.+-]+)(?::[a-z]+)?\s*(?:\(([^)]*)\))?\s*", item)
        assert match, f"cannot read the Depends item {item!r}"
        out[match.group(1)] = (match.group(2) or "").replace(" ", "")
    return out


def _run_packaged(unpacked: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the packaged /usr/bin/ltsp-mesh on the packaged modules (this venv gives the dependencies)."""
    env = {**os.environ, "PYTHONPATH": str(unpacked / DIST_PACKAGES)}
    return _run([sys.executable, str(unpacked / "usr/bin/ltsp-mesh"), *args], env=env, timeout=60)


def _unit_path(unpacked: Path) -> Path:
    found = [path for d in UNIT_DIRS if (path := unpacked / d / "ltsp-mesh.service").is_file()]
    assert len(found) == 1, f"expected ltsp-mesh.service in one of {[str(d) for d in UNIT_DIRS]}"
    return found[0]


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
    assert depends["python3-zeroconf"] == ">=0.131"


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


def test_every_python_module_is_packaged(unpacked: Path) -> None:
    source = {p.relative_to(ROOT) for p in (ROOT / "ltsp_mesh").rglob("*.py")}
    site = unpacked / DIST_PACKAGES
    assert {p.relative_to(site) for p in (site / "ltsp_mesh").rglob("*.py")} == source
    assert (site / f"ltsp_mesh-{ltsp_mesh.__version__}.dist-info" / "entry_points.txt").is_file()


def test_unit_is_the_one_in_packaging_systemd(unpacked: Path) -> None:
    assert _unit_path(unpacked).read_bytes() == UNIT.read_bytes()


def test_unit_is_enabled_and_started_on_install(unpacked: Path) -> None:
    postinst = (unpacked / "DEBIAN" / "postinst").read_text()
    assert "deb-systemd-helper enable 'ltsp-mesh.service'" in postinst
    assert re.search(r"deb-systemd-invoke \$_dh_action 'ltsp-mesh.service'", postinst)


def test_unit_never_starts_inside_a_thin_client_image() -> None:
    text = UNIT.read_text()
    assert "ConditionPathExists=!/etc/ltsp_chroot" in text
    assert "ConditionKernelCommandLine=!init=/sbin/init-ltsp" in text


def test_hook_ships_at_both_ldm_paths_and_for_copying(unpacked: Path) -> None:
    for path in (SHIPPED_HOOK, *hooks.HOOK_PATHS):
        shipped = unpacked / path
        assert shipped.is_symlink(), f"{path} is not a link to the one copy"
        target = Path(os.path.realpath(shipped))
        assert target.is_relative_to(unpacked), f"{path} points outside the package: {target}"
        assert target.read_bytes() == REPO_HOOK.read_bytes()
        assert os.access(target, os.X_OK)


def test_an_admins_own_hook_is_diverted_not_overwritten(unpacked: Path) -> None:
    preinst = (unpacked / "DEBIAN" / "preinst").read_text()
    postrm = (unpacked / "DEBIAN" / "postrm").read_text()
    for path in hooks.HOOK_PATHS:
        assert f"/{path}" in preinst and f"/{path}" in postrm
    assert "dpkg-divert --package ltsp-mesh --rename" in preinst and "--add" in preinst
    assert "dpkg-divert --package ltsp-mesh --rename" in postrm and "--remove" in postrm


def test_packaged_install_hooks_puts_the_packaged_hook_into_an_image(unpacked: Path, tmp_path: Path) -> None:
    image = tmp_path / "i386"
    (image / "usr" / "bin").mkdir(parents=True)
    done = _run_packaged(unpacked, "install-hooks", "--chroot", str(image), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert {item["action"] for item in json.loads(done.stdout)["data"]} == {"installed"}
    for ldm_path in hooks.HOOK_PATHS:
        assert (image / ldm_path).read_bytes() == REPO_HOOK.read_bytes()


def test_man_page_and_example_config_are_installed(unpacked: Path) -> None:
    with gzip.open(unpacked / "usr/share/man/man8/ltsp-mesh.8.gz") as page:
        assert page.read() == MAN_PAGE.read_bytes()
    assert (unpacked / "usr/share/doc/ltsp-mesh/examples/mesh.conf").read_bytes() == EXAMPLE_CONF.read_bytes()
    assert (unpacked / "usr/share/doc/ltsp-mesh/README.Debian").is_file()


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
