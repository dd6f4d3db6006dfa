"""SSH public key lines -> the SHA256 fingerprint OpenSSH prints (`ssh-keygen -lf`).

The implementation lives in core/ssh_keys.py with the rest of the key handling; this name stays
because the daemon imports it from here.
"""

from __future__ import annotations

from ltsp_mesh.core.ssh_keys import fingerprint

__all__ = ["fingerprint"]
