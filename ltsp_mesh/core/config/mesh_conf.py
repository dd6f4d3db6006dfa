"""mesh.conf (lts.conf syntax, `[default]` section) -> the settings of `ltsp-mesh serve`.

Keys and defaults are the contract in DESIGN.md ("Server configuration"). The command line
overrides the file; both pass through `settings()`, so a bad value gets the same message
wherever it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.core.config import dns_site
from ltsp_mesh.core.config.ltsconf import LtsConf
from ltsp_mesh.core.record import MAX_CAPACITY
from ltsp_mesh.errors import ConfigError

DEFAULT_PATH: Final = "/etc/ltsp/mesh.conf"
KNOWN_KEYS: Final = frozenset(
    {
        "INTERFACES",
        "SSH_PORT",
        "QUERY_PORT",
        "BROKER_PORT",
        "CAPACITY",
        "HOST_KEY",
        "STATE_DIR",
        "DNS_SD_DOMAIN",
        "TSIG_KEY",
        "KNOWN_HOSTS",
    }
)
# The broker's TCP port (docs/broker.md): privileged, so that none of the users logged in to an
# application server can pose as its broker while the daemon is stopped.
DEFAULT_BROKER_PORT: Final = 378
# The keys the server trusts other mesh members by: what ltsp-update-sshkeys merges into images.
DEFAULT_KNOWN_HOSTS: Final = ("/etc/ssh/ssh_known_hosts", "/etc/ltsp/ssh_known_hosts.*")


@dataclass(frozen=True, slots=True)
class ServeSettings:
    """What `serve` runs with. `capacity` None means "the number of logical CPUs"."""

    interfaces: tuple[str, ...] = ()
    ssh_port: int = 22
    query_port: int = 377
    broker_port: int = DEFAULT_BROKER_PORT
    capacity: int | None = None
    host_key: str = "/etc/ssh/ssh_host_ed25519_key"
    state_dir: str = "/var/lib/ltsp-mesh"
    dns_sd_domain: str = ""
    tsig_key: str = ""
    known_hosts: tuple[str, ...] = DEFAULT_KNOWN_HOSTS


def _whole(value: str) -> int | None:
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses, and int() refuses
    # more than 4300 digits; both raised ValueError instead of naming the bad value.
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        return None
    return int(value)


def _port(value: str, where: str, key: str) -> int:
    port = _whole(value)
    if port is None or not 1 <= port <= 65535:
        raise ConfigError(f"{where}: {key}={value!r} is not a port number (1-65535)")
    return port


def settings(values: Mapping[str, tuple[str, str]]) -> ServeSettings:
    """Build settings from `{KEY: (value, where)}`; `where` names the file and line or option."""
    unknown = sorted(set(values) - KNOWN_KEYS)
    if unknown:
        value, where = values[unknown[0]]
        raise ConfigError(f"{where}: unknown key {unknown[0]} (known: {', '.join(sorted(KNOWN_KEYS))})")
    out: dict[str, object] = {}
    for key, (value, where) in values.items():
        if value.upper() == "NONE":
            continue  # lts.conf: NONE suppresses a key, leaving the default
        if key == "INTERFACES":
            out["interfaces"] = tuple(value.split())
        elif key in ("SSH_PORT", "QUERY_PORT", "BROKER_PORT"):
            out[key.lower()] = _port(value, where, key)
        elif key == "CAPACITY":
            capacity = _whole(value)
            if capacity is None or not 1 <= capacity <= MAX_CAPACITY:
                raise ConfigError(
                    f"{where}: CAPACITY={value!r} is not a whole number from 1 to {MAX_CAPACITY}"
                )
            out["capacity"] = capacity
        elif key == "KNOWN_HOSTS":
            paths = tuple(value.split())
            relative = [p for p in paths if not p.startswith("/")]
            if relative:
                raise ConfigError(
                    f"{where}: KNOWN_HOSTS has {relative[0]!r}, which is not an absolute path "
                    "(e.g. /etc/ssh/ssh_known_hosts /etc/ltsp/ssh_known_hosts.*)"
                )
            out["known_hosts"] = paths
        elif key == "DNS_SD_DOMAIN":
            labels = dns_site.domain(value, f"{where}: DNS_SD_DOMAIN")
            out["dns_sd_domain"] = ".".join(label.decode("ascii") for label in labels)
        else:
            out[key.lower()] = value
    return ServeSettings(**out)  # type: ignore[arg-type]  # keys are the fields, built above


def values_from_conf(conf: LtsConf) -> dict[str, tuple[str, str]]:
    """The `[default]` section of mesh.conf as `{KEY: (value, where)}`."""
    section = conf.section("default")
    if section is None:
        return {}
    return {key: (entry.value, conf.where(entry)) for key, entry in section.entries.items()}
