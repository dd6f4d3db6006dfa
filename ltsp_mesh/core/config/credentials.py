"""Key files the sandboxed `serve` gets from systemd as credentials, each named for its path.

The unit runs the daemon as a dynamic user, which cannot read root-only files: the SSH host key
and a TSIG key (0600, as they must be). systemd reads them for it (`LoadCredential=NAME:PATH`)
into $CREDENTIALS_DIRECTORY. A credential's name says which file it holds: the path without its
leading slash, every other slash an underscore (/etc/ssh/ssh_host_ed25519_key is
etc_ssh_ssh_host_ed25519_key). The daemon takes a credential only under the name of the path
configured (HOST_KEY, TSIG_KEY), so the configuration decides which file signs, never the unit.

The unit loads the two default paths. A LoadCredential= file that is missing would stop the
unit before the daemon could say why, so each has a SetCredential= fallback whose text is
NO_FILE: read as "systemd found no file there", after which the daemon looks at the path
itself and says in one line what is missing.
"""

from __future__ import annotations

import re
from typing import Final

NO_FILE: Final = "no-such-file"
# What a credential name may hold so that a unit file takes it as written: no whitespace, no
# ':' (LoadCredential= splits there), no '%' (specifiers), no quotes or backslashes (unquoting).
_PLAIN: Final = re.compile(r"[A-Za-z0-9._+@-]+")
UNIT: Final = "ltsp-mesh"


def name(path: str) -> str:
    """The credential name for the file at the absolute `path`."""
    return "_".join(part for part in path.split("/") if part)


def loadable(path: str) -> bool:
    """Whether a unit file can load `path` under its name as written (see _PLAIN)."""
    return path.startswith("/") and bool(_PLAIN.fullmatch(path.replace("/", "")))


def is_placeholder(content: bytes) -> bool:
    """Whether a credential holds the unit's stand-in for a missing file (NO_FILE)."""
    return content.strip() == NO_FILE.encode("ascii")


def load_line(path: str) -> str:
    """The unit line that hands the file at `path` to the daemon."""
    return f"LoadCredential={name(path)}:{path}"


def advice(path: str) -> str:
    """What to do when the sandboxed daemon cannot read `path`: one clause, for a one-line error."""
    if not loadable(path):
        return (
            f"move it to a path of letters, digits and ._+@- only, then add LoadCredential=NAME:PATH for "
            f"it with `systemctl edit {UNIT}` (NAME: the path, slashes as _)"
        )
    return f"hand it to the daemon as a credential: `systemctl edit {UNIT}`, add [Service] {load_line(path)}"
