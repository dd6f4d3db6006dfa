"""ltsp-mesh: zero-configuration load balancing of LTSP thin-client logins."""

__version__ = "0.2.0"
