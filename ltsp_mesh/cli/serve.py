"""`ltsp-mesh serve`: announce this application server and answer load queries."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import Any

from ltsp_mesh.cli import bounds
from ltsp_mesh.cli.bounds import Bound, bounded
from ltsp_mesh.cli.render import Result
from ltsp_mesh.core.config import dns_site, ltsconf, mesh_conf
from ltsp_mesh.core.discovery import dnssd_lease
from ltsp_mesh.core.server.pending import DEFAULT_CLAIM_TTL_S
from ltsp_mesh.errors import ConfigError

NAME = "serve"
SAMPLE_INTERVAL_S = Bound(0.1, 3600, "seconds")
DNS_LEASE_S = Bound(dnssd_lease.MIN_LEASE_S, dnssd_lease.MAX_LEASE_S, "seconds")


def add_parser(subparsers: Any, help_text: str) -> None:
    """Register `serve` and its options."""
    parser = subparsers.add_parser(
        NAME,
        help=help_text,
        description="Announce this application server over mDNS/DNS-SD as _ltsp._tcp, keep its load "
        "figures current in TXT, answer direct load queries on UDP (msgpack) and the legacy XML "
        "document on TCP, and answer thin clients' get_hosts hook as a broker (HTTP). Follows its "
        "addresses as they change (DHCP). Runs until SIGTERM or SIGINT, then sends goodbyes; SIGHUP "
        "reads the config file again (CAPACITY, KNOWN_HOSTS and INTERFACES change at once, the rest at "
        "the next start). Options override "
        f"the config file ({mesh_conf.DEFAULT_PATH}, lts.conf syntax, [default] section).",
    )
    parser.add_argument(
        "--config", type=Path, help=f"config file (default {mesh_conf.DEFAULT_PATH}, if present)"
    )
    parser.add_argument(
        "--interface",
        action="append",
        default=[],
        metavar="NAME",
        help="announce and answer on this interface only (repeat for more); default: all "
        "multicast-capable ones",
    )
    parser.add_argument("--ssh-port", help="the SSH port LDM logs in to, announced in SRV (default 22)")
    parser.add_argument("--query-port", help="UDP and TCP port of the query responders (default 377)")
    parser.add_argument(
        "--broker-port",
        help=f"TCP port of the broker thin clients' get_hosts asks (default {mesh_conf.DEFAULT_BROKER_PORT})",
    )
    parser.add_argument(
        "--known-hosts",
        action="append",
        default=[],
        metavar="FILE",
        help="the known hosts servers and relaying brokers are checked against (repeat for more; "
        f"default {' '.join(mesh_conf.DEFAULT_KNOWN_HOSTS)})",
    )
    parser.add_argument("--capacity", help="capacity weight (default: logical CPUs)")
    parser.add_argument("--host-key", help="SSH host key whose fingerprint is announced")
    parser.add_argument("--state-dir", help="where the drain state is kept (default /var/lib/ltsp-mesh)")
    parser.add_argument(
        "--control-socket",
        type=Path,
        default=Path("/run/ltsp-mesh/control.sock"),
        metavar="PATH",
        help="the root-only socket `ltsp-mesh drain` talks to (default %(default)s)",
    )
    parser.add_argument(
        "--load-file",
        type=Path,
        metavar="FILE",
        help="read load figures from this JSON file instead of the system (demos, tests); "
        "see the README for its format",
    )
    parser.add_argument(
        "--sample-interval",
        type=bounded(float, SAMPLE_INTERVAL_S),
        default=2.0,
        metavar="SECONDS",
        help=f"how often to read the load (default 2; {SAMPLE_INTERVAL_S.describe()})",
    )
    parser.add_argument("--hostname", help="announce under this host name instead of the system's")
    parser.add_argument(
        "--claim-ttl",
        type=bounded(float, bounds.CLAIM_TTL_S),
        default=DEFAULT_CLAIM_TTL_S,
        metavar="SECONDS",
        help="how long a client's claim counts as a pending login unless its session appears "
        f"(default %(default)g; {bounds.CLAIM_TTL_S.describe()})",
    )
    parser.add_argument(
        "--dns-sd-domain",
        metavar="DOMAIN",
        help="also register in this unicast DNS-SD zone (RFC 2136 updates; needs --tsig-key)",
    )
    parser.add_argument(
        "--tsig-key", metavar="FILE", help="the BIND key file (tsig-keygen) that signs the updates"
    )
    parser.add_argument(
        "--dns-server",
        metavar="ADDRESS[:PORT]",
        help="send the updates here instead of the zone's primary named by its SOA",
    )
    parser.add_argument(
        "--dns-lease",
        type=bounded(int, DNS_LEASE_S),
        default=dnssd_lease.DEFAULT_LEASE_S,
        metavar="SECONDS",
        help="how long the DNS records live without a renewal (default %(default)d; "
        f"{DNS_LEASE_S.describe()}; renewed at half)",
    )
    parser.set_defaults(func=run)


def _settings(args: argparse.Namespace) -> mesh_conf.ServeSettings:
    values: dict[str, tuple[str, str]] = {}
    path = args.config or Path(mesh_conf.DEFAULT_PATH)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if args.config is not None:
            raise ConfigError(f"config file {path} does not exist") from None
        text = ""
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read the config file {path} ({exc.strerror}): run serve as root, as the systemd unit "
            "does, or give --config a file this user can read"
        ) from None
    values.update(mesh_conf.values_from_conf(ltsconf.parse(text, str(path))))
    overrides = {
        "INTERFACES": " ".join(args.interface) if args.interface else None,
        "SSH_PORT": args.ssh_port,
        "QUERY_PORT": args.query_port,
        "BROKER_PORT": args.broker_port,
        "KNOWN_HOSTS": " ".join(args.known_hosts) if args.known_hosts else None,
        "CAPACITY": args.capacity,
        "HOST_KEY": args.host_key,
        "STATE_DIR": args.state_dir,
        "DNS_SD_DOMAIN": args.dns_sd_domain,
        "TSIG_KEY": args.tsig_key,
    }
    for key, value in overrides.items():
        if value is not None:
            values[key] = (str(value), f"--{key.lower().replace('_', '-')}")
    return mesh_conf.settings(values)


def run(args: argparse.Namespace) -> Result:
    """Serve until stopped by a signal."""
    # Imported here, not at the top: `hosts` runs at every login screen and pays for every
    # module the command line imports at start-up.
    from ltsp_mesh.shell.server import daemon

    logger = logging.getLogger("ltsp_mesh")
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)  # a daemon says what it does
    dns_server = dns_site.server_address(args.dns_server, "--dns-server") if args.dns_server else None
    settings = _settings(args)
    options = daemon.Options(
        load_file=args.load_file,
        sample_interval_s=args.sample_interval,
        hostname=args.hostname,
        control_path=args.control_socket,
        claim_ttl_s=args.claim_ttl,
        dns_server=dns_server,
        dns_lease_s=args.dns_lease,
        # SIGHUP reads the file again; the command line still overrides it.
        reload=lambda: _settings(args),
    )
    counters = asyncio.run(daemon.run(settings, options))
    return Result(command=NAME, data=dict(counters))
