"""The last good host list on disk: atomic writes, reads that survive any file content."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Final

from ltsp_mesh.core.codec import cachefile
from ltsp_mesh.core.codec.cachefile import CachedHosts
from ltsp_mesh.errors import DecodeError
from ltsp_mesh.shell import atomic

log = logging.getLogger(__name__)

DEFAULT_DIR: Final = "/run/ltsp-mesh"
CACHE_DIR_ENV: Final = "LTSP_MESH_CACHE_DIR"
FILE_NAME: Final = "hosts.cache"


def cache_path(directory: str | None = None) -> Path:
    """The cache file: in `directory`, else $LTSP_MESH_CACHE_DIR, else /run/ltsp-mesh."""
    return Path(directory or os.environ.get(CACHE_DIR_ENV) or DEFAULT_DIR) / FILE_NAME


def read(path: Path) -> CachedHosts | None:
    """The cached list, or None when there is none or it is unreadable (torn, corrupt, foreign)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(cachefile.MAX_CACHE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("ignoring the host cache %s: %s", path, exc.strerror)
        return None
    try:
        return cachefile.decode(data)
    except DecodeError as exc:
        log.warning("ignoring a corrupt host cache %s (it will be replaced): %s", path, exc)
        return None


def write(path: Path, cached: CachedHosts) -> None:
    """Replace the cache atomically: readers see the old file or the new one, never a mix."""
    atomic.write(path, cachefile.encode(cached))
