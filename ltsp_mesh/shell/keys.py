"""The server's SSH host key (and host certificate) for signing: read once, at start-up."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric import ed25519

from ltsp_mesh.core.trust import ssh_cert, ssh_keys
from ltsp_mesh.errors import MeshError

log = logging.getLogger(__name__)

# systemd's LoadCredential= hands a root-only file to a sandboxed service under this name in
# $CREDENTIALS_DIRECTORY (see packaging/systemd/ltsp-mesh.service).
CREDENTIAL: Final = "ssh_host_ed25519_key"


@dataclass(frozen=True)
class HostKey:
    """The key that signs TXT records and replies, and the certificate that vouches for it."""

    private: ed25519.Ed25519PrivateKey
    fingerprint: str
    certificate: bytes = b""  # the certificate blob, or empty


def _key_path(configured: str, environ: Mapping[str, str]) -> Path:
    credentials = environ.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / CREDENTIAL).exists():
        return Path(credentials) / CREDENTIAL
    return Path(configured)


def load(configured: str, environ: Mapping[str, str] | None = None) -> HostKey | None:
    """The host key at `configured` (or systemd's credential), or None when it cannot be used.

    Without a key the server still works, unsigned: clients that trust only known hosts will
    not list it, which the log says.
    """
    path = _key_path(configured, os.environ if environ is None else environ)
    try:
        private = ssh_keys.load_private_key(path.read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError, MeshError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        log.warning(
            "not signing (host key %s: %s): clients that trust only known hosts will not list this server",
            path,
            reason,
        )
        return None
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
