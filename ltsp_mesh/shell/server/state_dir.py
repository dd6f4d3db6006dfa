"""STATE_DIR, where the daemon keeps what must survive a restart (the drain state)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from ltsp_mesh.errors import ConfigError

FIX = "set STATE_DIR in mesh.conf or --state-dir to a directory it can write"


def prepare(path: Path) -> Path:
    """Make sure `path` is a directory this process can write, creating it if missing.

    Checked at start-up, so that `ltsp-mesh drain on` never finds out an hour later that the
    state it promises to keep across restarts cannot be saved. Raises ConfigError in one line
    naming the directory and the fix.
    """
    try:
        path.mkdir(mode=0o755, parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"the state directory {path} is not a directory: {FIX}") from None
    except OSError as exc:
        raise ConfigError(
            f"cannot create the state directory {path} ({exc.strerror}): run serve as root, as the systemd "
            f"unit does, or {FIX}"
        ) from None
    if not path.is_dir():
        raise ConfigError(f"the state directory {path} is not a directory: {FIX}")
    if not os.access(path, os.W_OK | os.X_OK):
        why = os.strerror(errno.EACCES)
        try:
            if os.statvfs(path).f_flag & os.ST_RDONLY:
                why = os.strerror(errno.EROFS)
        except OSError:
            pass
        raise ConfigError(
            f"the state directory {path} is not writable ({why}): run serve as root, as the systemd unit "
            f"does, or {FIX}"
        )
    return path
