"""The names of the key files systemd hands the sandboxed daemon (core/config/credentials.py)."""

from __future__ import annotations

import pytest

from ltsp_mesh.core.config import credentials


def test_a_credential_is_named_for_its_whole_path() -> None:
    assert credentials.name("/etc/ssh/ssh_host_ed25519_key") == "etc_ssh_ssh_host_ed25519_key"
    assert credentials.name("/etc/ltsp/ltsp-mesh.key") == "etc_ltsp_ltsp-mesh.key"


def test_the_same_file_name_in_two_directories_gets_two_credentials() -> None:
    # The bug this naming fixes: one credential for "the host key" signed whatever HOST_KEY said.
    assert credentials.name("/etc/ssh/ssh_host_ed25519_key") != credentials.name(
        "/etc/ltsp/ssh_host_ed25519_key"
    )


def test_the_load_line_names_the_credential_and_the_file() -> None:
    line = credentials.load_line("/etc/ltsp/mesh_host_key")
    assert line == "LoadCredential=etc_ltsp_mesh_host_key:/etc/ltsp/mesh_host_key"


@pytest.mark.parametrize(
    "path", ["/etc/ltsp/my key", "/etc/ltsp/a:b", "/etc/ltsp/100%", "relative/key", "/etc/ltsp/\\x2d"]
)
def test_a_path_a_unit_file_would_change_is_not_loadable(path: str) -> None:
    assert not credentials.loadable(path)
    assert "move it to a path" in credentials.advice(path)


def test_the_advice_for_a_plain_path_is_the_line_to_add() -> None:
    advice = credentials.advice("/srv/keys/tsig.key")
    assert "systemctl edit ltsp-mesh" in advice
    assert "LoadCredential=srv_keys_tsig.key:/srv/keys/tsig.key" in advice
    assert "\n" not in advice


@pytest.mark.parametrize("content", [b"no-such-file", b"no-such-file\n"])
def test_the_units_stand_in_for_a_missing_file_is_recognised(content: bytes) -> None:
    assert credentials.is_placeholder(content)


def test_a_real_key_is_no_placeholder() -> None:
    assert not credentials.is_placeholder(b"-----BEGIN OPENSSH PRIVATE KEY-----\n")
