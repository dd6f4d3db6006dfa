"""The one exception tree: every error ltsp-mesh raises on bad input or a failed peer.

Misuse by our own code (a wrong argument type, an impossible value passed by a caller) raises
ValueError or TypeError instead: those are bugs, not conditions to handle.
"""


class MeshError(Exception):
    """ltsp-mesh failed."""


class DecodeError(MeshError):
    """Bytes from the network (TXT, datagram, XML, cache file) could not be decoded."""


class ConfigError(MeshError):
    """A configuration value (lts.conf, mesh.conf, command line) is invalid."""


class TrustError(MeshError):
    """A server could not be trusted: missing, bad or replayed signature."""


class DeadlineExceeded(MeshError):
    """The operation ran out of time."""

    def __init__(self, deadline_s: float, what: str = "operation") -> None:
        super().__init__(f"{what} did not finish within {deadline_s:.3f} s")
        self.deadline_s = deadline_s


class LabError(MeshError):
    """The network-namespace lab could not be built, used or removed."""
