"""What a daemon says when it cannot listen on one of its ports: one line, the port and the fix."""

from __future__ import annotations

import errno

from ltsp_mesh.errors import ConfigError


def cannot_listen(what: str, host: str, port: int, setting: str, exc: OSError) -> ConfigError:
    """The error for `exc` raised while binding `what` (e.g. "UDP queries") on host:port."""
    where = f"cannot listen on {host}:{port} for {what}"
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        return ConfigError(
            f"{where}: ports below 1024 need root or CAP_NET_BIND_SERVICE (run serve as root, as "
            f"the systemd unit does, or set {setting})"
        )
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(
            f"{where}: the port is in use (is another ltsp-mesh serve running? "
            f"systemctl status ltsp-mesh; or set {setting})"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return ConfigError(
            f"{where}: no interface has that address any more (check INTERFACES / --interface)"
        )
    return ConfigError(f"{where}: {exc.strerror or exc}")
