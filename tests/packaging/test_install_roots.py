"""Installing as an admin would, on Debian 13 (trixie) and Debian 12 (bookworm).

For each release: a debootstrap minbase root (tests/packaging/roots.py caches it per day),
the two .debs built on that release (on this machine when it runs that release, else in a root
of it with the build tools), and `apt install ./ltsp-mesh_*.deb` resolving every dependency
from that release's own archive. Then, from the root: `ltsp-mesh --version`; `serve` chrooted
in a lab namespace answering clients in another (the root's own Python client, this checkout's
with the newest cryptography, and the sh hook of ltsp-mesh-hook); the unit under the root's
own systemd (systemd-nspawn, in a lab namespace): dynamic user, credentials, hardening,
conditions, drain, utmp, TSIG against a real BIND; purging, which gives an admin's own hook
back. Debian 12's root holds exactly the dependency floors of pyproject.toml, so `serve` signs
and verifies there with the oldest cryptography allowed (38.0.4).

Figures (seconds per step) go to reports/install-roots.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import ltsp_mesh
from ltsp_mesh.core.config import credentials
from ltsp_mesh.lab import bind as lab_bind
from ltsp_mesh.lab import mesh
from ltsp_mesh.lab.netns import Lab, LabProcess, mesh_argv
from ltsp_mesh.shell import hook_install
from tests.conftest import LabFactory, require_tools
from tests.lab.helpers import load as mesh_load
from tests.lab.helpers import wait_until
from tests.packaging import roots
from tests.packaging.test_debian_package import _cannot_run, ensure_build_deps

pytestmark = [pytest.mark.packaging, pytest.mark.lab]

ROOT = Path(__file__).resolve().parents[2]
DEBIAN = ROOT / "packaging" / "debian"
RELEASES = ("trixie", "bookworm")
OLDEST = "bookworm"  # the release whose packages are pyproject.toml's floors
TIMINGS = roots.Timings(ROOT / "reports" / "install-roots.json")
ADMIN_HOOK = "#!/bin/sh\necho 10.0.0.1\n"
# Where the chrooted `serve` keeps its test files inside a root.
TEST_ETC = "/etc/ltsp-mesh-test"
# The unit's configuration in the booted root: HOST_KEY is not sshd's key, so the unit's
# default credential must not be what signs.
HOST_KEY = "/etc/ltsp/mesh_host_key"
TSIG_KEY = "/etc/ltsp/ltsp-mesh.key"
UNIT = "ltsp-mesh.service"
SECURITY_TARGET = 2.0
# Only the capability to bind ports 377 and 378 (bit 10 of the capability sets).
CAP_NET_BIND_SERVICE = 1 << 10


def _require() -> None:
    require_tools("debootstrap", debian="debootstrap")
    require_tools("systemd-nspawn", debian="systemd-container")
    require_tools("unshare", "nsenter", debian="util-linux")
    require_tools("ssh-keygen", debian="openssh-client")
    require_tools(*lab_bind.TOOLS, debian=lab_bind.DEBIAN_PACKAGES)
    if os.geteuid() != 0:
        _cannot_run("debootstrap, chroot, overlays and systemd-nspawn need root")


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=False, capture_output=True, text=True, **kwargs)


# --- the packages, built on each release ------------------------------------------------------


def _build_tools() -> list[str]:
    """Build-Depends of packaging/debian/control as apt names, build-essential and lintian."""
    control = (DEBIAN / "control").read_text()
    field_text = re.search(r"^Build-Depends:(.*?)^\S", control, flags=re.MULTILINE | re.DOTALL)
    assert field_text, "packaging/debian/control has no Build-Depends"
    names = [re.split(r"[\s(]", item.strip(), maxsplit=1)[0] for item in field_text.group(1).split(",")]
    # debhelper provides the virtual debhelper-compat; dpkg-checkbuilddeps wants build-essential.
    names = ["debhelper" if n == "debhelper-compat" else n for n in names if n]
    return sorted({*names, "build-essential", "lintian"})


def _tree_files() -> bytes:
    listed = _run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"])
    assert listed.returncode == 0, listed.stderr
    return listed.stdout.encode()


@dataclass
class Build:
    """A release's two .debs and what its lintian said of them."""

    debs: dict[str, Path]
    lintian: subprocess.CompletedProcess[str]


def _lintian_argv(paths: list[str]) -> list[str]:
    # --fail-on error,warning: the exit status says whether any error or warning was left.
    return ["lintian", "--fail-on", "error,warning", "--no-tag-display-limit", *paths]


def _build_on_this_machine(out: Path) -> Build:
    ensure_build_deps(out)
    with TIMINGS.step(f"{roots.host_codename()} build on this machine"):
        built = _run([str(DEBIAN / "build"), str(out / "debs")], timeout=600)
    assert built.returncode == 0, (built.stdout + built.stderr)[-3000:]
    debs = sorted(str(p) for p in (out / "debs").glob("*.deb"))
    require_tools("lintian", debian="lintian")
    with TIMINGS.step(f"{roots.host_codename()} lintian"):
        lint = _run(_lintian_argv(debs), timeout=600)
    return Build({Path(p).name.split("_")[0]: Path(p) for p in debs}, lint)


def _build_in_root(release: str, out: Path) -> Build:
    tools = _build_tools()
    name = "build-" + hashlib.sha256(" ".join(tools).encode()).hexdigest()[:8]
    lower = roots.layer(release, name, tools, TIMINGS)
    with roots.overlay(lower, out / "overlay") as root:
        src = root / "src"
        src.mkdir()
        copy = subprocess.run(
            ["tar", "--null", "--no-recursion", "-T", "-", "-cf", "-"],
            input=_tree_files(),
            cwd=ROOT,
            capture_output=True,
        )
        subprocess.run(["tar", "-xf", "-", "-C", str(src)], input=copy.stdout, check=True)
        with TIMINGS.step(f"{release} build in its root"):
            built = roots.chroot(root, ["/src/packaging/debian/build", "/out"], timeout=600)
        assert built.returncode == 0, (built.stdout + built.stderr)[-3000:]
        with TIMINGS.step(f"{release} lintian"):
            lint = roots.chroot(root, ["sh", "-c", " ".join(_lintian_argv(["/out/*.deb"]))], timeout=600)
        (out / "debs").mkdir()
        debs = {}
        for deb in (root / "out").glob("*.deb"):
            debs[deb.name.split("_")[0]] = Path(shutil.copy(deb, out / "debs"))
    return Build(debs, lint)


_BUILDS: dict[str, Build] = {}
_WARMING: list[threading.Thread] = []


def _warm(release: str) -> None:
    try:
        roots.base_root(release, TIMINGS)
    except roots.RootError:
        pass  # whoever needs the root makes it again and says why it failed


def _warm_every_release() -> None:
    """Start making every release's root at once: on a fresh machine the downloads and unpacking
    of the two overlap with the build. Each is made under its lock, so a test that needs one
    waits for it."""
    if not _WARMING:
        for release in RELEASES:
            _WARMING.append(threading.Thread(target=_warm, args=(release,), daemon=True))
            _WARMING[-1].start()


def build_for(release: str, tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The release's packages, built once per test run on that release."""
    if release not in _BUILDS:
        _require()
        _warm_every_release()
        out = tmp_path_factory.mktemp(f"build-{release}")
        on_host = release == roots.host_codename()
        _BUILDS[release] = _build_on_this_machine(out) if on_host else _build_in_root(release, out)
        assert set(_BUILDS[release].debs) == {"ltsp-mesh", "ltsp-mesh-hook"}
    return _BUILDS[release]


def test_lintian_finds_no_error_or_warning_in_the_trixie_packages(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    lint = build_for("trixie", tmp_path_factory).lintian
    tags = [line for line in lint.stdout.splitlines() if re.match(r"[EW]: ", line)]
    assert (lint.returncode, tags) == (0, []), lint.stdout + lint.stderr


# --- a root per release with the packages installed -------------------------------------------


@pytest.fixture(scope="module", params=RELEASES)
def release(request: pytest.FixtureRequest) -> str:
    """Debian 13, then Debian 12 (each one's roots are set up and torn down in turn)."""
    return str(request.param)


def _apt_install(root: Path, release: str, debs: list[Path], *extra: str) -> None:
    (root / "tmp/debs").mkdir(parents=True, exist_ok=True)
    for deb in debs:
        shutil.copy(deb, root / "tmp/debs")
    names = [f"/tmp/debs/{deb.name}" for deb in debs]
    with TIMINGS.step(
        f"{release} apt install {' '.join(d.name.split('_')[0] for d in debs)} {' '.join(extra)}"
    ):
        roots.apt(root, release, "install", "-y", *names, *extra)


def _put_admin_hook(root: Path) -> None:
    for path in hook_install.HOOK_PATHS:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(ADMIN_HOOK)
        (root / path).chmod(0o755)


def _installed_versions(root: Path) -> dict[str, str]:
    shown = roots.chroot(root, ["dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Status}\\n"])
    return {
        name: version
        for name, version, status in (line.split() for line in shown.stdout.splitlines())
        if status == "installed"
    }


@dataclass
class Installed:
    """A root of the release with both packages, as apt installs them (Recommends included) on
    the bare root, over an admin's own hook at LDM's paths; then systemd, as a server has it.

    `versions`, `version_line` and `ssh_files` are read right after the packages went in,
    before systemd: what they brought, and nothing else.
    """

    path: Path
    scratch: Path
    release: str
    versions: dict[str, str]
    version_line: str
    ssh_files: list[str]


@pytest.fixture(scope="module")
def installed(release: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """The release's root with the packages installed (see Installed), for the module."""
    build = build_for(release, tmp_path_factory)
    base = roots.base_root(release, TIMINGS)
    scratch = tmp_path_factory.mktemp(f"installed-{release}")
    with roots.overlay([base], scratch) as root:
        _put_admin_hook(root)
        _apt_install(root, release, [build.debs["ltsp-mesh"], build.debs["ltsp-mesh-hook"]])
        version = roots.chroot(root, ["ltsp-mesh", "--version"])
        ssh = (
            sorted(p.name for p in (root / "etc/ssh").glob("ssh_host_*"))
            if (root / "etc/ssh").is_dir()
            else []
        )
        versions = _installed_versions(root)
        with TIMINGS.step(f"{release} apt install systemd"):
            roots.apt(root, release, "install", "-y", "systemd", "systemd-sysv")
        yield Installed(
            root, scratch, release, versions, version.stdout.strip() + version.stderr.strip(), ssh
        )


def test_the_package_installs_from_the_release_archive_and_runs(installed: Installed) -> None:
    assert installed.version_line == f"ltsp-mesh {ltsp_mesh.__version__}"
    assert installed.versions["ltsp-mesh"] == installed.versions["ltsp-mesh-hook"] == ltsp_mesh.__version__


def _floors() -> dict[str, str]:
    """pyproject.toml's dependency floors, by Debian package name."""
    floors = {}
    for requirement in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", requirement.replace(" ", ""))
        assert match, f"{requirement}: every dependency needs a floor, as name>=version"
        floors[f"python3-{match.group(1).lower().replace('_', '-')}"] = match.group(2)
    return floors


def _upstream(version: str) -> str:
    return re.sub(r"^\d+:", "", version).rsplit("-", 1)[0].split("+")[0]


def test_the_dependency_floors_are_what_debian_12_installs(installed: Installed) -> None:
    # Debian 12's root is where `serve` runs on the oldest versions pyproject.toml allows: the
    # floors must be exactly what it installs, or that proof would be of other versions.
    floors = _floors()
    got = {name: _upstream(installed.versions.get(name, "missing")) for name in floors}
    if installed.release == OLDEST:
        assert got == floors
    else:
        too_old = {
            name: version
            for name, version in got.items()
            if _run(["dpkg", "--compare-versions", version, "ge", floors[name]]).returncode != 0
        }
        assert too_old == {}


def test_installing_brings_no_sshd_systemd_or_host_keys(installed: Installed) -> None:
    # A client image that gets these packages must not get a second sshd, an init, or host keys.
    assert not {"openssh-server", "systemd", "systemd-sysv"} & set(installed.versions)
    assert installed.ssh_files == []


def test_the_hook_package_keeps_the_admins_own_hook_aside(installed: Installed) -> None:
    for path in hook_install.HOOK_PATHS:
        kept = installed.path / f"{path}{hook_install.BACKUP_SUFFIX}"
        assert kept.read_text() == ADMIN_HOOK
        assert (installed.path / path).read_bytes() == (ROOT / "chroot_hooks/get_hosts").read_bytes()


def test_purging_both_packages_gives_the_hook_back_and_leaves_nothing(
    installed: Installed, tmp_path: Path
) -> None:
    # On an overlay of its own: the other tests' server keeps running from the installed root.
    with roots.overlay([installed.path], tmp_path / "purged") as root:
        _purge_and_check(root, installed.release)


def _purge_and_check(root: Path, release: str) -> None:
    # The drain state where the unit's StateDirectory= keeps it for a dynamic user.
    (root / "var/lib/private/ltsp-mesh").mkdir(parents=True, exist_ok=True)
    (root / "var/lib/private/ltsp-mesh/drain.json").write_text("{}")
    (root / "var/lib/ltsp-mesh").symlink_to("private/ltsp-mesh")
    with TIMINGS.step(f"{release} apt purge"):
        roots.apt(root, release, "purge", "-y", "ltsp-mesh", "ltsp-mesh-hook")
    for path in hook_install.HOOK_PATHS:
        assert (root / path).read_text() == ADMIN_HOOK
        assert not (root / f"{path}{hook_install.BACKUP_SUFFIX}").exists()
    left = {
        p
        for p in (
            "usr/bin/ltsp-mesh",
            "usr/share/ltsp-mesh",
            "usr/lib/systemd/system/ltsp-mesh.service",
            "usr/lib/python3/dist-packages/ltsp_mesh",
            "var/lib/ltsp-mesh",
            "var/lib/private/ltsp-mesh",
            "etc/systemd/system/multi-user.target.wants/ltsp-mesh.service",
        )
        if (root / p).exists() or (root / p).is_symlink()
    }
    assert left == set()
    diversions = roots.chroot(root, ["dpkg-divert", "--list", "*get_hosts*"]).stdout
    assert diversions == ""


# --- serve from the root, chrooted in a lab namespace -------------------------------------------


def _host_key(directory: Path, name: str) -> Path:
    key = directory / name
    made = _run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{name}", "-f", str(key)], timeout=30
    )
    assert made.returncode == 0, made.stderr
    return key


def _place(root: Path, path: str, text: str, mode: int) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    target.chmod(mode)


@dataclass
class Server:
    """A booted-or-chrooted server root and its lab; `keys` holds the public keys by name."""

    root: Path
    release: str
    lab: Lab
    keys: dict[str, str]
    process: LabProcess | None = None


@pytest.fixture(scope="module")
def chrooted(installed: Installed, release: str, module_lab_factory: LabFactory) -> Server:
    """`serve` from the root, chrooted in the lab's "server" namespace, with a key of its own."""
    root, scratch = installed.path, installed.scratch
    lab = module_lab_factory(["server", "newest", "client"])
    key = _host_key(scratch, "chrooted_key")
    other = _host_key(scratch, "other_key")
    _place(root, f"{TEST_ETC}/host_key", key.read_text(), 0o600)
    _place(root, f"{TEST_ETC}/host_key.pub", key.with_suffix(".pub").read_text(), 0o644)
    public = key.with_suffix(".pub").read_text().strip()
    _place(root, f"{TEST_ETC}/known_hosts", f"{lab.address('server')} {public}\n", 0o644)
    _place(
        root,
        f"{TEST_ETC}/other_known_hosts",
        f"{lab.address('server')} {other.with_suffix('.pub').read_text()}",
        0o644,
    )
    _place(root, f"{TEST_ETC}/mesh.conf", "[default]\n", 0o644)
    argv = [
        "ltsp-mesh",
        "-v",
        "serve",
        "--interface",
        "eth0",
        "--host-key",
        f"{TEST_ETC}/host_key",
        "--known-hosts",
        f"{TEST_ETC}/known_hosts",
        "--config",
        f"{TEST_ETC}/mesh.conf",
        "--state-dir",
        "/var/lib/ltsp-mesh-test",
        "--control-socket",
        "/run/ltsp-mesh-test.sock",
    ]
    with TIMINGS.step(f"{release} chrooted serve ready"):
        proc = lab.spawn("server", roots.in_root_argv(root, argv), log_name="serve-chrooted")
        lab.wait_for_log(proc, "ready:", 60)
    return Server(
        root, release, lab, {"server": public, "other": other.with_suffix(".pub").read_text().strip()}, proc
    )


def _hosts_in_root(site: Server, known_hosts: str) -> list[str]:
    env = [
        "LDM_LB_TRUST=known-hosts",
        f"LDM_LB_KNOWN_HOSTS={known_hosts}",
        "LTSP_MESH_CACHE_DIR=/tmp/mesh-cache",
    ]
    argv = ["env", *env, "ltsp-mesh", "hosts", "--interface", "eth0", "--json"]
    done = site.lab.run("client", roots.in_root_argv(site.root, argv), check=False, timeout_s=60)
    assert "Traceback" not in done.stderr, done.stderr
    return list(json.loads(done.stdout)["data"]["hosts"])


def test_serve_from_the_root_is_verified_by_the_roots_own_client(chrooted: Server) -> None:
    # On Debian 12 both ends run cryptography 38.0.4, the oldest pyproject.toml allows.
    assert _hosts_in_root(chrooted, f"{TEST_ETC}/known_hosts") == [chrooted.lab.address("server")]


def test_the_roots_client_refuses_the_server_under_another_key(chrooted: Server) -> None:
    assert _hosts_in_root(chrooted, f"{TEST_ETC}/other_known_hosts") == []


def test_the_newest_cryptography_verifies_what_the_root_signs(chrooted: Server, tmp_path: Path) -> None:
    # This checkout's venv has the newest cryptography pip found (./dev test installs it).
    known = tmp_path / "known_hosts"
    known.write_text(f"{chrooted.lab.address('server')} {chrooted.keys['server']}\n")
    env = {"LDM_LB_TRUST": "known-hosts", "LDM_LB_KNOWN_HOSTS": str(known)}
    done = chrooted.lab.run(
        "client", mesh_argv("hosts", "--interface", "eth0", "--json"), env=env, check=False
    )
    assert json.loads(done.stdout)["data"]["hosts"] == [chrooted.lab.address("server")], done.stderr


def test_the_roots_oldest_cryptography_verifies_what_the_newest_signs(chrooted: Server) -> None:
    # `serve` from this checkout's venv (newest cryptography) beside the root's; the root's
    # client, on Debian 12 with cryptography 38.0.4, must take its signature too.
    lab = chrooted.lab
    mesh.wait_ready(lab, [mesh.start_server(lab, "newest", mesh_load())])
    public = Path(str(mesh.ensure_host_key(lab, "newest")) + ".pub").read_text().strip()
    _place(chrooted.root, f"{TEST_ETC}/newest_known_hosts", f"{lab.address('newest')} {public}\n", 0o644)
    try:
        assert _hosts_in_root(chrooted, f"{TEST_ETC}/newest_known_hosts") == [lab.address("newest")]
    finally:
        for proc in [p for p in lab.processes if p.host == "newest"]:
            lab.stop(proc)


def test_the_packaged_sh_hook_in_the_root_prints_the_server(chrooted: Server) -> None:
    address = chrooted.lab.address("server")
    hook = hook_install.HOOK_PATHS[0]
    done = chrooted.lab.run(
        "client", roots.in_root_argv(chrooted.root, ["env", f"SERVER={address}", f"/{hook}"]), check=False
    )
    assert (done.returncode, done.stdout) == (0, f"{address}\n"), done.stderr


# --- the unit, under the root's own systemd -----------------------------------------------------


@dataclass
class Unit:
    """The root booted in the lab's "unit" namespace, its unit configured as an admin would."""

    booted: roots.Booted
    lab: Lab
    bind: lab_bind.Bind
    release: str
    configured_key: str
    sshd_key: str


def _unit_config(bind: lab_bind.Bind) -> str:
    return (
        "[default]\n"
        "    INTERFACES = eth0\n"
        f"    HOST_KEY = {HOST_KEY}\n"
        f"    DNS_SD_DOMAIN = {bind.zone}\n"
        f"    TSIG_KEY = {TSIG_KEY}\n"
    )


@pytest.fixture(scope="module")
def unit(installed: Installed, release: str, module_lab_factory: LabFactory) -> Iterator[Unit]:
    """The installed unit, started at boot: HOST_KEY is a key of the admin's (a drop-in hands it
    over), sshd's own key sits at the default path, the TSIG key is 0600 at README's path."""
    root, scratch = installed.path, installed.scratch
    lab = module_lab_factory(["unit", "client", "dns"])
    bind = lab_bind.Bind(lab, "dns")
    configured = _host_key(scratch, "configured_key")
    sshd = _host_key(scratch, "ssh_host_ed25519_key")
    _place(root, HOST_KEY, configured.read_text(), 0o600)
    _place(root, HOST_KEY + ".pub", configured.with_suffix(".pub").read_text(), 0o644)
    _place(root, "/etc/ssh/ssh_host_ed25519_key", sshd.read_text(), 0o600)
    _place(root, "/etc/ssh/ssh_host_ed25519_key.pub", sshd.with_suffix(".pub").read_text(), 0o644)
    _place(root, TSIG_KEY, bind.key_path.read_text(), 0o600)
    _place(root, "/etc/ltsp/mesh.conf", _unit_config(bind), 0o644)
    _place(
        root,
        f"/etc/systemd/system/{UNIT}.d/host-key.conf",
        f"[Service]\n{credentials.load_line(HOST_KEY)}\n",
        0o644,
    )
    _place(root, "/etc/resolv.conf", f"nameserver {bind.address}\n", 0o644)
    with roots.booted(root, lab.netns("unit"), scratch / "boot.log") as booted:
        site = Unit(
            booted,
            lab,
            bind,
            release,
            configured.with_suffix(".pub").read_text().strip(),
            sshd.with_suffix(".pub").read_text().strip(),
        )
        wait_until(lambda: _active(site), 60, "the unit to be active")
        TIMINGS.record(f"{release} boot until the unit is active", booted.boot_s)
        yield site


def _active(site: Unit) -> bool:
    return site.booted.run(["systemctl", "is-active", UNIT]).stdout.strip() == "active"


def _main_pid(site: Unit) -> int:
    return int(site.booted.run(["systemctl", "show", "-P", "MainPID", UNIT]).stdout)


def _listed_by_client(site: Unit, public_key: str, tmp_path: Path) -> list[str]:
    known = tmp_path / "known_hosts"
    known.write_text(f"{site.lab.address('unit')} {public_key}\n")
    env = {"LDM_LB_TRUST": "known-hosts", "LDM_LB_KNOWN_HOSTS": str(known)}
    done = site.lab.run("client", mesh_argv("hosts", "--interface", "eth0", "--json"), env=env, check=False)
    return list(json.loads(done.stdout)["data"]["hosts"])


def test_the_unit_runs_as_a_dynamic_user_with_cap_net_bind_service_alone(unit: Unit) -> None:
    status = unit.booted.run(["cat", f"/proc/{_main_pid(unit)}/status"]).stdout
    uid = int(re.search(r"^Uid:\s+(\d+)", status, flags=re.MULTILINE).group(1))  # type: ignore[union-attr]
    caps = {k: int(v, 16) for k, v in re.findall(r"^(Cap\w+):\s+([0-9a-f]+)$", status, flags=re.MULTILINE)}
    assert 61184 <= uid <= 65519  # systemd's range for DynamicUser=
    assert caps["CapEff"] == caps["CapPrm"] == caps["CapBnd"] == CAP_NET_BIND_SERVICE


def test_the_unit_binds_377_and_signs_with_the_configured_host_key(unit: Unit, tmp_path: Path) -> None:
    wait_until(
        lambda: _listed_by_client(unit, unit.configured_key, tmp_path), 30, "the client to list the unit"
    )


def test_the_unit_never_signs_with_sshds_key_when_host_key_names_another(unit: Unit, tmp_path: Path) -> None:
    wait_until(lambda: _listed_by_client(unit, unit.configured_key, tmp_path), 30, "the unit to answer")
    assert _listed_by_client(unit, unit.sshd_key, tmp_path) == []


def test_the_unit_reads_the_0600_tsig_key_and_registers_in_dns(unit: Unit) -> None:
    assert unit.booted.run(["stat", "-c", "%a %U", TSIG_KEY]).stdout.split() == ["600", "root"]
    wait_until(lambda: "registered" in unit.booted.journal(UNIT), 30, "the unit to register in DNS")
    ptr = f"_ltsp._tcp.{unit.bind.zone}"
    assert len(unit.bind.dig("client", ptr, "PTR")) == 1


def _record(unit: Unit) -> dict[str, Any]:
    done = unit.lab.run(
        "client",
        mesh_argv("hosts", "--interface", "eth0", "--json"),
        env={"LDM_LB_TRUST": "any"},
        check=False,
    )
    servers = json.loads(done.stdout)["data"]["servers"]
    found = [s["record"] for s in servers if s["address"] == unit.lab.address("unit")]
    return found[0] if found else {}


# One remote login as sshd writes it for LDM, in glibc's x86-64 utmp layout (384 bytes): type 7
# (USER_PROCESS), pid 1 (alive), line, id, user, host, exit status, session, time, address.
UTMP_LOGIN = (
    "import socket, struct, time\n"
    "record = struct.pack('<hhi32s4s32s256shhiii16s20s', 7, 0, 1, b'pts/7', b'ts/7', b'alice',"
    " b'10.77.0.99', 0, 0, 0, int(time.time()), 0, socket.inet_aton('10.77.0.99'), b'')\n"
    "open('/run/utmp', 'ab').write(record)\n"
)


def test_the_unit_counts_a_login_it_reads_in_utmp(unit: Unit) -> None:
    written = unit.booted.run(["python3", "-c", UTMP_LOGIN])
    assert written.returncode == 0, written.stderr
    wait_until(lambda: _record(unit).get("sessions") == 1, 30, "the unit to count the session")


def _status(unit: Unit) -> str:
    done = unit.lab.run(
        "client",
        mesh_argv("status", "--interface", "eth0", "--json"),
        env={"LDM_LB_TRUST": "any"},
        check=False,
    )
    rows = json.loads(done.stdout)["data"]["servers"]
    return next((str(row["status"]) for row in rows if row["address"] == unit.lab.address("unit")), "")


def test_drain_reaches_the_unit_through_its_control_socket(unit: Unit) -> None:
    drained = unit.booted.run(["ltsp-mesh", "drain", "on", "--reason", "install test"])
    try:
        assert drained.returncode == 0, drained.stdout + drained.stderr
        wait_until(lambda: _status(unit) == "Draining", 30, "the unit to announce drain")
    finally:
        unit.booted.run(["ltsp-mesh", "drain", "off"])
    wait_until(lambda: _status(unit) not in ("", "Draining"), 30, "the unit to take logins again")


def test_systemd_analyze_security_scores_the_installed_unit_at_most_2(unit: Unit) -> None:
    shown = unit.booted.run(["systemd-analyze", "security", "--no-pager", UNIT])
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", shown.stdout)
    assert score, shown.stdout + shown.stderr
    print(f"{unit.release}: systemd-analyze security {UNIT}: {score.group(1)}")
    assert float(score.group(1)) <= SECURITY_TARGET


def _restart_and_state(unit: Unit) -> tuple[str, str]:
    unit.booted.run(["systemctl", "restart", UNIT])
    shown = unit.booted.run(["systemctl", "show", "-P", "ConditionResult", UNIT]).stdout.strip()
    return shown, unit.booted.run(["systemctl", "is-active", UNIT]).stdout.strip()


@pytest.mark.parametrize(
    "marker", ["/etc/ltsp_chroot", "/run/ltsp/client"], ids=["ltsp5-chroot", "ltsp21-client"]
)
def test_the_unit_skips_an_ltsp_client(unit: Unit, marker: str) -> None:
    # LTSP5 marks its chroots with /etc/ltsp_chroot; LTSP 21+'s init makes /run/ltsp/client on
    # every client it boots, from an image (ltsp image /) or an NFS root.
    unit.booted.run(["sh", "-c", f"mkdir -p {os.path.dirname(marker)} && touch {marker}"])
    try:
        assert _restart_and_state(unit) == ("no", "inactive")
    finally:
        unit.booted.run(["rm", "-f", marker])
    assert _restart_and_state(unit) == ("yes", "active")


@pytest.mark.parametrize("argument", ["init=/sbin/init-ltsp", "ltsp.image=images/x86_64.img"])
def test_the_unit_skips_a_client_booted_with_ltsps_kernel_arguments(
    installed: Installed, unit: Unit, argument: str, tmp_path: Path
) -> None:
    # In a container, systemd reads its own arguments as the kernel command line. A second
    # overlay on the server's root, booted beside it in a namespace of its own.
    root = installed.path
    lab = unit.lab
    with roots.overlay([root], tmp_path / "client") as client_root:
        (client_root / "etc/ltsp/mesh.conf").write_text("[default]\n")
        with roots.booted(
            client_root, lab.netns("client"), tmp_path / "boot.log", arguments=[argument]
        ) as booted:
            result = booted.run(["systemctl", "show", "-P", "ConditionResult", UNIT]).stdout.strip()
            state = booted.run(["systemctl", "is-active", UNIT]).stdout.strip()
    assert (result, state) == ("no", "inactive")


def test_a_missing_host_key_fails_the_unit_with_one_line(unit: Unit) -> None:
    conf = _unit_config(unit.bind).replace(HOST_KEY, "/etc/ltsp/absent_key")
    unit.booted.run(["sh", "-c", f"printf '%s' '{conf}' > /etc/ltsp/mesh.conf"])
    try:
        unit.booted.run(["systemctl", "restart", UNIT])
        wait_until(lambda: "/etc/ltsp/absent_key" in unit.booted.journal(UNIT), 30, "the unit to say why")
        journal = unit.booted.journal(UNIT)
        said = {line for line in journal.splitlines() if "/etc/ltsp/absent_key" in line}
        assert len(said) == 1 and "Traceback" not in journal, journal[-3000:]
    finally:
        unit.booted.run(["sh", "-c", f"printf '%s' '{_unit_config(unit.bind)}' > /etc/ltsp/mesh.conf"])
        unit.booted.run(["systemctl", "reset-failed", UNIT])
        unit.booted.run(["systemctl", "restart", UNIT])
    wait_until(lambda: _active(unit), 30, "the unit to start again")
