"""The server's host key: from its path, or from the copy systemd's LoadCredential= hands over."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ltsp_mesh.core.config import credentials
from ltsp_mesh.errors import ConfigError
from ltsp_mesh.shell import keys
from tests.conftest import require_tools
from tests.shell import unprivileged


@pytest.fixture
def shared() -> Iterator[Path]:
    yield from unprivileged.open_dir()


def _keygen(path: Path) -> str:
    require_tools("ssh-keygen", debian="openssh-client")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return subprocess.run(
        ["ssh-keygen", "-lf", str(path) + ".pub"], capture_output=True, text=True, check=True
    ).stdout.split()[1]


def test_the_key_at_its_path_signs_and_names_its_fingerprint(tmp_path: Path) -> None:
    fingerprint = _keygen(tmp_path / "key")
    loaded = keys.load(str(tmp_path / "key"), environ={})
    assert loaded is not None and loaded.fingerprint == fingerprint


def test_systemds_credential_loaded_from_the_configured_path_signs(tmp_path: Path) -> None:
    directory = tmp_path / "credentials"
    directory.mkdir()
    fingerprint = _keygen(directory / credentials.name("/nonexistent/ssh_host_ed25519_key"))
    loaded = keys.load("/nonexistent/ssh_host_ed25519_key", environ={"CREDENTIALS_DIRECTORY": str(directory)})
    assert loaded is not None and loaded.fingerprint == fingerprint


def test_a_credential_loaded_from_another_path_never_replaces_the_configured_key(tmp_path: Path) -> None:
    # The unit loads sshd's key by default; HOST_KEY naming another key must sign with that one.
    directory = tmp_path / "credentials"
    directory.mkdir()
    _keygen(directory / credentials.name("/etc/ssh/ssh_host_ed25519_key"))
    configured = _keygen(tmp_path / "ssh_host_ed25519_key")
    loaded = keys.load(
        str(tmp_path / "ssh_host_ed25519_key"), environ={"CREDENTIALS_DIRECTORY": str(directory)}
    )
    assert loaded is not None and loaded.fingerprint == configured


def test_the_units_stand_in_for_a_missing_key_reads_as_no_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "credentials"
    directory.mkdir()
    absent = str(tmp_path / "ssh_host_ed25519_key")
    (directory / credentials.name(absent)).write_text(credentials.NO_FILE)
    assert keys.load(absent, environ={"CREDENTIALS_DIRECTORY": str(directory)}) is None
    assert "does not exist" in caplog.text


def test_without_a_readable_key_the_server_runs_unsigned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert keys.load(str(tmp_path / "absent"), environ={}) is None
    assert "not signing" in caplog.text


def test_the_unit_hands_the_default_host_key_over_under_the_name_the_daemon_reads() -> None:
    unit = (Path(__file__).resolve().parents[2] / "packaging" / "systemd" / "ltsp-mesh.service").read_text()
    assert credentials.load_line("/etc/ssh/ssh_host_ed25519_key") in unit.splitlines()


def test_a_host_key_that_was_set_and_is_missing_names_it_and_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        keys.load(str(tmp_path / "absent"), environ={}, required=True)
    assert str(raised.value).startswith(
        f"the host key {tmp_path / 'absent'} does not exist: set HOST_KEY in mesh.conf or --host-key"
    )


def test_an_rsa_host_key_is_refused_naming_what_signs(tmp_path: Path) -> None:
    require_tools("ssh-keygen", debian="openssh-client")
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(tmp_path / "rsa")], check=True
    )
    with pytest.raises(ConfigError) as raised:
        keys.load(str(tmp_path / "rsa"), environ={})
    assert str(raised.value) == (
        f"the host key {tmp_path / 'rsa'} cannot sign (host key is a ssh-rsa key; ltsp-mesh signs with "
        "Ed25519 only): set HOST_KEY in mesh.conf or --host-key to an unencrypted Ed25519 key "
        "(ssh-keygen -t ed25519)"
    )


def test_a_public_key_given_as_the_host_key_is_refused(tmp_path: Path) -> None:
    _keygen(tmp_path / "key")
    with pytest.raises(ConfigError, match=r"key\.pub cannot sign \(host key is not an OpenSSH private key"):
        keys.load(str(tmp_path / "key.pub"), environ={})


def test_a_binary_file_given_as_the_host_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "key").write_bytes(bytes(range(256)))
    with pytest.raises(ConfigError, match=r"is not an OpenSSH private key \(it is binary\): set HOST_KEY"):
        keys.load(str(tmp_path / "key"), environ={})


def test_an_unreadable_host_key_says_to_run_as_root(shared: Path) -> None:
    _keygen(shared / "key")  # ssh-keygen makes it 0600, root's
    checked = unprivileged.as_nobody(
        "from ltsp_mesh.shell import keys\n"
        "from ltsp_mesh.errors import ConfigError\n"
        "try:\n"
        f"    keys.load({str(shared / 'key')!r}, environ={{}})\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
    )
    assert checked.stdout == (
        f"cannot read the host key {shared / 'key'} (Permission denied): run serve as root (the systemd unit "
        "hands the key over as a credential), or set HOST_KEY in mesh.conf or --host-key to a key this user "
        "can read\n"
    ), checked.stderr
