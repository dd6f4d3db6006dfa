"""Root-only key files reach the sandboxed daemon as systemd credentials named for their path.

The unit's dynamic user cannot read a 0600 key; systemd loads it into $CREDENTIALS_DIRECTORY
under a name made of its path (core/config/credentials.py). These run the readers as nobody, as
the unit would, with and without the credential. tests/packaging/test_install_roots.py runs
the same under a real systemd.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ltsp_mesh.core.config import credentials
from ltsp_mesh.errors import ConfigError
from ltsp_mesh.shell.server import dnssd_register
from tests.conftest import require_tools
from tests.shell import unprivileged

TSIG_KEY = """key "ltsp-mesh" {
	algorithm hmac-sha256;
	secret "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";
};
"""


@pytest.fixture
def shared() -> Iterator[Path]:
    yield from unprivileged.open_dir()


def _as_systemds_service(code: str, credentials_dir: Path | None = None) -> str:
    """Run `code` as nobody with the environment systemd gives a service; its output."""
    environ = {"INVOCATION_ID": "0123456789abcdef0123456789abcdef"}
    if credentials_dir is not None:
        environ["CREDENTIALS_DIRECTORY"] = str(credentials_dir)
    done = unprivileged.as_nobody(
        "from ltsp_mesh.errors import ConfigError\n"
        "from ltsp_mesh.shell import keys\n"
        "from ltsp_mesh.shell.server import dnssd_register\n"
        f"environ = {environ!r}\n"
        "try:\n"
        f"{code}\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
    )
    assert done.stderr == "", done.stderr
    return done.stdout


def _credential_dir(shared: Path, path: Path, content: str) -> Path:
    """A directory as systemd makes it: readable by the service alone (here: nobody)."""
    directory = shared / "credentials"
    directory.mkdir()
    (directory / credentials.name(str(path))).write_text(content)
    subprocess.run(["chown", "-R", "nobody", str(directory)], check=True)
    return directory


def test_an_unreadable_host_key_under_systemd_names_the_line_that_hands_it_over(shared: Path) -> None:
    require_tools("ssh-keygen", debian="openssh-client")
    key = shared / "mesh_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    said = _as_systemds_service(f"    keys.load({str(key)!r}, environ, required=True)")
    assert said == (
        f"cannot read the host key {key} (Permission denied): hand it to the daemon as a credential: "
        f"`systemctl edit ltsp-mesh`, add [Service] {credentials.load_line(str(key))}\n"
    )


def test_an_unreadable_tsig_key_under_systemd_names_the_line_that_hands_it_over(shared: Path) -> None:
    key = shared / "tsig.key"
    key.write_text(TSIG_KEY)
    key.chmod(0o600)
    said = _as_systemds_service(f"    dnssd_register.read_key({str(key)!r}, environ)")
    assert said == (
        f"TSIG_KEY: cannot read {key} (Permission denied): hand it to the daemon as a credential: "
        f"`systemctl edit ltsp-mesh`, add [Service] {credentials.load_line(str(key))}\n"
    )


def test_a_0600_tsig_key_is_read_from_the_credential_loaded_from_its_path(shared: Path) -> None:
    key = shared / "tsig.key"
    key.write_text(TSIG_KEY)
    key.chmod(0o600)
    directory = _credential_dir(shared, key, TSIG_KEY)
    said = _as_systemds_service(f"    print(dnssd_register.read_key({str(key)!r}, environ).name)", directory)
    assert said == "ltsp-mesh\n"


def test_the_units_stand_in_for_a_missing_tsig_key_reads_as_missing(tmp_path: Path) -> None:
    directory = tmp_path / "credentials"
    directory.mkdir()
    absent = tmp_path / "ltsp-mesh.key"
    (directory / credentials.name(str(absent))).write_text(credentials.NO_FILE)
    with pytest.raises(ConfigError, match=rf"TSIG_KEY: cannot read {absent}: .*No such file"):
        dnssd_register.read_key(str(absent), {"CREDENTIALS_DIRECTORY": str(directory)})
