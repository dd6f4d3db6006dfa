"""core/trust/ssh_cert.py: OpenSSH host certificates made by ssh-keygen, decoded and checked."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given
from hypothesis import strategies as st

from ltsp_mesh.core.trust import ssh_cert, ssh_keys
from ltsp_mesh.core.trust.ssh_cert import CertProblem
from ltsp_mesh.errors import DecodeError

from .openssh import NOW, T2024, T2025, OpenSSH, openssh
from .strategies import PROPERTY

__all__ = ["openssh"]

CA = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
HOST = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
HOST_KEY = ssh_keys.ed25519_public_key(HOST.public_key())
CA_KEY = ssh_keys.ed25519_public_key(CA.public_key())


def issued(**changes: object) -> ssh_cert.Certificate:
    fields: dict[str, object] = {
        "key_id": "app1",
        "principals": ["app1", "10.0.0.5"],
        "valid_after": T2024,
        "valid_before": T2025,
        "nonce": bytes(32),
        **changes,
    }
    return ssh_cert.decode_certificate(ssh_cert.issue_certificate(CA, HOST_KEY, **fields))  # type: ignore[arg-type]


def check(
    cert: ssh_cert.Certificate,
    names: tuple[str, ...] = ("10.0.0.5",),
    now: float = NOW,
    authorities: tuple[ssh_keys.PublicKey, ...] | None = None,
) -> CertProblem | None:
    problem = ssh_cert.check_host_certificate(
        cert, authorities=authorities if authorities is not None else (cert.ca_key,), names=names, now=now
    )
    return None if problem is None else problem[0]


def test_decode_reads_an_ssh_keygen_host_certificate(openssh: OpenSSH) -> None:
    ca, host = openssh.key("ca"), openssh.key("host")
    cert = ssh_cert.parse_certificate_line(openssh.certify(ca, host, identity="app1 host key"))
    assert cert.key == host.public
    assert cert.ca_key == ca.public
    assert (cert.key_id, cert.principals, cert.cert_type) == (
        "app1 host key",
        ("app1", "10.0.0.5"),
        ssh_cert.HOST_CERT,
    )
    assert (cert.valid_after, cert.valid_before) == (T2024, T2025)


def test_check_accepts_an_ssh_keygen_certificate_for_a_listed_address(openssh: OpenSSH) -> None:
    cert = ssh_cert.parse_certificate_line(openssh.certify(openssh.key("ca"), openssh.key("host")))
    assert check(cert, ("10.0.0.5",)) is None
    assert check(cert, ("app1",)) is None


def test_check_accepts_a_wildcard_principal(openssh: OpenSSH) -> None:
    line = openssh.certify(openssh.key("ca"), openssh.key("host"), principals="10.0.0.*,*.example.org")
    cert = ssh_cert.parse_certificate_line(line)
    assert check(cert, ("10.0.0.77",)) is None
    assert check(cert, ("App1.Example.Org",)) is None
    assert check(cert, ("10.0.1.5",)) is CertProblem.WRONG_PRINCIPAL


def test_check_refuses_a_principal_for_another_host(openssh: OpenSSH) -> None:
    cert = ssh_cert.parse_certificate_line(openssh.certify(openssh.key("ca"), openssh.key("host")))
    assert check(cert, ("10.0.0.6", "app2")) is CertProblem.WRONG_PRINCIPAL


def test_check_refuses_a_ca_that_is_not_trusted_for_the_host(openssh: OpenSSH) -> None:
    cert = ssh_cert.parse_certificate_line(openssh.certify(openssh.key("ca"), openssh.key("host")))
    assert check(cert, authorities=(openssh.key("other-ca").public,)) is CertProblem.UNTRUSTED_CA
    assert check(cert, authorities=()) is CertProblem.UNTRUSTED_CA


def test_check_honours_the_validity_window_at_its_edges(openssh: OpenSSH) -> None:
    cert = ssh_cert.parse_certificate_line(openssh.certify(openssh.key("ca"), openssh.key("host")))
    assert check(cert, now=T2024 - 0.5) is CertProblem.NOT_YET_VALID
    assert check(cert, now=T2024) is None  # valid after <= now
    assert check(cert, now=T2025 - 0.5) is None
    assert check(cert, now=T2025) is CertProblem.EXPIRED  # now < valid before


def test_check_accepts_a_certificate_valid_forever(openssh: OpenSSH) -> None:
    line = openssh.certify(openssh.key("ca"), openssh.key("host"), validity="always:forever")
    assert check(ssh_cert.parse_certificate_line(line), now=4e9) is None


def test_check_refuses_a_user_certificate(openssh: OpenSSH) -> None:
    line = openssh.certify(openssh.key("ca"), openssh.key("host"), host_cert=False, principals="10.0.0.5")
    assert check(ssh_cert.parse_certificate_line(line)) is CertProblem.NOT_HOST


def test_check_refuses_a_certificate_without_principals(openssh: OpenSSH) -> None:
    # OpenSSH's client refuses these too ("Certificate lacks principal list").
    line = openssh.certify(openssh.key("ca"), openssh.key("host"), principals=None)
    assert check(ssh_cert.parse_certificate_line(line)) is CertProblem.NO_PRINCIPALS


def test_check_refuses_a_certificate_with_critical_options() -> None:
    assert check(issued(critical_options=[("source-address", b"10.0.0.0/8")])) is CertProblem.CRITICAL_OPTIONS


@pytest.mark.parametrize("key_type,algorithm", [("rsa", None), ("rsa", "rsa-sha2-256"), ("ecdsa", None)])
def test_check_accepts_rsa_sha2_and_ecdsa_cas(openssh: OpenSSH, key_type: str, algorithm: str | None) -> None:
    ca = openssh.key(f"{key_type}-ca", key_type)
    cert = ssh_cert.parse_certificate_line(openssh.certify(ca, openssh.key("host"), algorithm=algorithm))
    assert check(cert) is None


def test_check_refuses_a_sha1_rsa_ca_signature(openssh: OpenSSH) -> None:
    line = openssh.certify(openssh.key("rsa-ca", "rsa"), openssh.key("host"), algorithm="ssh-rsa")
    assert check(ssh_cert.parse_certificate_line(line)) is CertProblem.UNSUPPORTED


def test_check_refuses_a_certificate_whose_principals_were_edited(openssh: OpenSSH) -> None:
    line = openssh.certify(openssh.key("ca"), openssh.key("host"), principals="10.0.0.5")
    blob = base64.b64decode(line.split()[1]).replace(b"10.0.0.5", b"10.0.0.6")
    cert = ssh_cert.decode_certificate(blob)
    assert cert.principals == ("10.0.0.6",)
    assert check(cert, ("10.0.0.6",)) is CertProblem.BAD_SIGNATURE


def test_decode_refuses_a_certificate_of_an_rsa_host_key(openssh: OpenSSH) -> None:
    line = openssh.certify(openssh.key("ca"), openssh.key("rsa-host", "rsa"))
    with pytest.raises(DecodeError, match=r"does not start with ssh-ed25519-cert-v01@openssh\.com"):
        ssh_cert.parse_certificate_line(line)
    with pytest.raises(DecodeError, match=r"is not ssh-ed25519-cert-v01@openssh\.com"):
        ssh_cert.decode_certificate(base64.b64decode(line.split()[1]))


def test_issue_certificate_makes_what_ssh_keygen_reads(openssh: OpenSSH, tmp_path: object) -> None:
    blob = ssh_cert.issue_certificate(
        CA,
        HOST_KEY,
        key_id="lab",
        principals=["10.0.0.9"],
        valid_after=T2024,
        valid_before=T2025,
        nonce=bytes(16),
        serial=7,
    )
    path = openssh.fresh("issued-cert.pub")
    path.write_text(f"{ssh_cert.ED25519_CERT} {base64.b64encode(blob).decode()}\n")
    listing = openssh.run("-L", "-f", str(path)).stdout.decode()
    assert "host certificate" in listing and "Serial: 7" in listing and "10.0.0.9" in listing
    assert CA_KEY.fingerprint in listing


def test_decode_refuses_options_out_of_lexical_order() -> None:
    blob = ssh_cert.issue_certificate(
        CA,
        HOST_KEY,
        key_id="x",
        principals=["a"],
        valid_after=0,
        valid_before=1,
        nonce=b"",
        critical_options=[("b", b""), ("a", b"")],
    )
    # issue_certificate sorts them; swap them back by hand.
    swapped = blob.replace(
        b"\x00\x00\x00\x01a\x00\x00\x00\x00\x00\x00\x00\x01b",
        b"\x00\x00\x00\x01b\x00\x00\x00\x00\x00\x00\x00\x01a",
    )
    assert swapped != blob
    with pytest.raises(DecodeError, match="lexical order"):
        ssh_cert.decode_certificate(swapped)


def test_decode_refuses_an_oversized_certificate() -> None:
    with pytest.raises(DecodeError, match="over 1024"):
        issued(principals=["p" * 100] * 10)


@given(data=st.binary(max_size=400))
@PROPERTY
def test_decode_raises_only_decode_error_on_any_bytes(data: bytes) -> None:
    try:
        ssh_cert.decode_certificate(data)
    except DecodeError:
        pass


def test_no_single_bit_change_yields_a_certificate_that_checks(openssh: OpenSSH) -> None:
    line = openssh.certify(openssh.key("ca"), openssh.key("host"))
    blob = base64.b64decode(line.split()[1])
    original = ssh_cert.decode_certificate(blob)
    for bit in range(len(blob) * 8):
        flipped = bytearray(blob)
        flipped[bit // 8] ^= 1 << (bit % 8)
        try:
            cert = ssh_cert.decode_certificate(bytes(flipped))
        except DecodeError:
            continue
        assert check(cert, ("10.0.0.5", "app1"), authorities=(original.ca_key,)) is not None, f"bit {bit}"
