"""The server's host key: from its path, or from the copy systemd's LoadCredential= hands over."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ltsp_mesh.shell import keys
from tests.conftest import require_tools


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


def test_systemds_credential_wins_over_an_unreadable_path(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    fingerprint = _keygen(credentials / keys.CREDENTIAL)
    loaded = keys.load(
        "/nonexistent/ssh_host_ed25519_key", environ={"CREDENTIALS_DIRECTORY": str(credentials)}
    )
    assert loaded is not None and loaded.fingerprint == fingerprint


def test_without_a_readable_key_the_server_runs_unsigned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert keys.load(str(tmp_path / "absent"), environ={}) is None
    assert "not signing" in caplog.text


def test_the_unit_hands_the_host_key_over_under_the_name_the_daemon_reads() -> None:
    unit = (Path(__file__).resolve().parents[2] / "packaging" / "systemd" / "ltsp-mesh.service").read_text()
    assert f"LoadCredential={keys.CREDENTIAL}:/etc/ssh/ssh_host_ed25519_key" in unit
