"""The server's SSH host key (and host certificate) for signing: read once, at start-up."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from ltsp_mesh.core.config import credentials
from ltsp_mesh.core.trust import ssh_cert, ssh_keys
from ltsp_mesh.errors import ConfigError, MeshError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostKey:
    """The key that signs TXT records and replies, and the certificate that vouches for it."""

    private: ed25519.Ed25519PrivateKey
    fingerprint: str
    certificate: bytes = b""  # the certificate blob, or empty


def readable_path(configured: str, environ: Mapping[str, str]) -> Path:
    """Where to read the key file configured at `configured`: the copy systemd loaded from that
    very path for the sandboxed daemon (core/config/credentials.py), else the path itself."""
    directory = environ.get("CREDENTIALS_DIRECTORY")
    if directory:
        candidate = Path(directory) / credentials.name(configured)
        try:
            if not credentials.is_placeholder(candidate.read_bytes()):
                return candidate
        except OSError:
            pass  # no credential for this path: the unit did not load it
    return Path(configured)


def under_systemd(environ: Mapping[str, str]) -> bool:
    """Whether systemd started this process as a service (it sets INVOCATION_ID for each start)."""
    return bool(environ.get("INVOCATION_ID"))


def load(
    configured: str, environ: Mapping[str, str] | None = None, *, required: bool = False
) -> HostKey | None:
    """The host key at `configured` (or systemd's credential loaded from it), or None when there is none.

    A key that is there but cannot be read or is no Ed25519 private key raises ConfigError in
    one line naming the file and the fix, as does a missing key when `required` (HOST_KEY was
    set). Without a key at the default path the server still works, unsigned: clients that
    trust only known hosts will not list it, which the log says.
    """
    environ = os.environ if environ is None else environ
    path = readable_path(configured, environ)
    fix = "set HOST_KEY in mesh.conf or --host-key"
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        if required:
            raise ConfigError(
                f"the host key {path} does not exist: {fix} to the server's SSH host key "
                "(/etc/ssh/ssh_host_ed25519_key; sshd makes it)"
            ) from None
        log.warning(
            "not signing (host key %s does not exist): clients that trust only known hosts will not list "
            "this server; install openssh-server or set HOST_KEY",
            path,
        )
        return None
    except OSError as exc:
        if under_systemd(environ):
            # The unit's dynamic user reads a root-only key only as a credential loaded from it.
            raise ConfigError(
                f"cannot read the host key {path} ({exc.strerror}): {credentials.advice(configured)}"
            ) from None
        raise ConfigError(
            f"cannot read the host key {path} ({exc.strerror}): run serve as root (the systemd unit hands "
            f"the key over as a credential), or {fix} to a key this user can read"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(
            f"the host key {path} is not an OpenSSH private key (it is binary): {fix} to an Ed25519 key"
        ) from None
    try:
        private = ssh_keys.load_private_key(text)
    except MeshError as exc:
        raise ConfigError(
            f"the host key {path} cannot sign ({exc}): {fix} to an unencrypted Ed25519 key "
            "(ssh-keygen -t ed25519)"
        ) from None
    fingerprint = ssh_keys.ed25519_public_key(private.public_key()).fingerprint
    certificate = b""
    cert_path = Path(configured + "-cert.pub")
    try:
        cert = ssh_cert.parse_certificate_line(cert_path.read_text(encoding="ascii"))
        if cert.key.fingerprint != fingerprint:
            log.warning(
                "ignoring %s: it certifies %s, not this host key %s",
                cert_path,
                cert.key.fingerprint,
                fingerprint,
            )
        else:
            certificate = cert.blob
            log.info(
                "host certificate %s (principals %s) goes with signed replies",
                cert_path,
                ", ".join(cert.principals),
            )
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError, MeshError) as exc:
        log.warning("ignoring the host certificate %s: %s", cert_path, exc)
    log.info("signing with host key %s", fingerprint)
    return HostKey(private=private, fingerprint=fingerprint, certificate=certificate)
