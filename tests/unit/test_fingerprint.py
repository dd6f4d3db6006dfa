"""core/trust/ssh_keys.py fingerprint(): the SHA256 fingerprint of an OpenSSH public key, as `ssh-keygen -lf` prints it."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.trust.ssh_keys import fingerprint
from ltsp_mesh.errors import DecodeError
from tests.records import record

from .strategies import PROPERTY

# Keys made with ssh-keygen (OpenSSH 9) for these tests; the fingerprints are what
# `ssh-keygen -lf` printed for them.
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICh00K3GMNKWGy4hFPgHxg+yPJx5a2/h1foZEgsoZvw1 root@app1"
ED25519_FP = "SHA256:nk66K+YVPC8ikwssL4uEHNHSZ5xd492nCBVRE6seZ90"
RSA = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDt//fxshbbLO79igShEtSGPg/a2uX1Cb0ZekBO2HmyD+K/ELedym8BY2ep"
    "0ZE1BAe6sWPjppck+pGCTdfXQDw4zBxkx75+jEXx63DGcTCfa5BMnN2R6PmlmsRU4M7mMPIDXMutr+mx7LlecFqVh6WOIb2M3jw9"
    "FwD5MdSkw2sRmQ=="
)
RSA_FP = "SHA256:Wf39vPK5vc4p+un4SwklMyQEJwcNVj+a0H/d5wf19BI"
FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")


@pytest.mark.parametrize(("line", "expected"), [(ED25519, ED25519_FP), (RSA, RSA_FP)], ids=["ed25519", "rsa"])
def test_fingerprint_matches_ssh_keygen(line: str, expected: str) -> None:
    assert fingerprint(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        ED25519.rsplit(" ", 1)[0],  # no comment
        ED25519 + " more words in the comment",
        "  " + ED25519.replace(" ", "\t") + "\n",  # tabs and a trailing newline, as read from a file
    ],
)
def test_fingerprint_ignores_the_comment_and_surrounding_whitespace(line: str) -> None:
    assert fingerprint(line) == ED25519_FP


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        "ssh-ed25519",
        "ssh-ed25519 not-base64!",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICh00K3GMNKWGy4",
        "ssh-ed25519 AAAA\u00e9AAA",
        "ssh-ed25519 QQ=",
    ],
)
def test_fingerprint_rejects_a_line_that_is_not_a_public_key(line: str) -> None:
    with pytest.raises(DecodeError):
        fingerprint(line)


def test_fingerprint_is_a_valid_record_host_key() -> None:
    built = record(
        server_id="x", cpus=1, load_per_cpu=0.0, mem_percent=0, capacity=1, host_key_fp=fingerprint(RSA)
    )
    assert built.host_key_fp == RSA_FP


@given(st.binary(min_size=1, max_size=600), st.text(max_size=20))
@PROPERTY
def test_fingerprint_of_any_key_blob_is_sha256_in_unpadded_base64(blob: bytes, comment: str) -> None:
    line = f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}"
    assert FINGERPRINT.fullmatch(fingerprint(line))


@given(st.text(max_size=200))
@PROPERTY
def test_fingerprint_raises_only_decode_error_on_any_text(line: str) -> None:
    try:
        result = fingerprint(line)
    except DecodeError:
        return
    assert FINGERPRINT.fullmatch(result)
