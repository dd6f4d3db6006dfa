"""SSH public key lines -> the SHA256 fingerprint OpenSSH prints (`ssh-keygen -lf`)."""

from __future__ import annotations

import base64
import binascii
import hashlib

from ltsp_mesh.errors import DecodeError


def fingerprint(public_key_line: str) -> str:
    """Return "SHA256:..." for an OpenSSH public key line ("ssh-ed25519 AAAA... comment")."""
    parts = public_key_line.split()
    if len(parts) < 2:
        raise DecodeError("public key line has no key type and key")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"public key is not base64: {exc}") from exc
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"
