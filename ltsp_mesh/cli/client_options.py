"""Options shared by the client commands (hosts, status): where to look and for how long."""

from __future__ import annotations

import argparse
import asyncio
import random

from ltsp_mesh.core.config.client_settings import ClientSettings
from ltsp_mesh.errors import ConfigError
from ltsp_mesh.shell import netif, trust_store
from ltsp_mesh.shell.client import host_list
from ltsp_mesh.shell.client.survey import Survey, survey

DEFAULT_TIMEOUT_MS = 400  # LDM_LB_TIMEOUT_MS's default (DESIGN.md)
DEFAULT_BROWSE_MS = host_list.DEFAULT_BROWSE_MS


def add(parser: argparse.ArgumentParser, *, json: bool = True) -> None:
    """Add --interface, --timeout-ms, --browse-ms and (unless told not to) --json."""
    parser.add_argument(
        "--interface",
        action="append",
        default=[],
        metavar="NAME",
        help="look on this interface only (repeat for more); default: all multicast-capable ones",
    )
    parser.add_argument(
        "--timeout-ms",
        type=int,
        default=DEFAULT_TIMEOUT_MS,
        help=f"the whole deadline, discovery and queries (default {DEFAULT_TIMEOUT_MS})",
    )
    parser.add_argument(
        "--browse-ms",
        type=int,
        default=DEFAULT_BROWSE_MS,
        help=f"how long to collect mDNS answers (default {DEFAULT_BROWSE_MS})",
    )
    if json:
        parser.add_argument("--json", action="store_true", help="print one JSON document")


def look(args: argparse.Namespace, settings: ClientSettings) -> tuple[Survey, list[netif.Interface]]:
    """Run one survey with the options in `args` and the trust `settings` ask for; also return
    the interfaces it looked on."""
    if not 10 <= args.timeout_ms <= 60_000:
        raise ConfigError(f"--timeout-ms={args.timeout_ms} is outside 10..60000")
    if not 1 <= args.browse_ms <= args.timeout_ms:
        raise ConfigError(f"--browse-ms={args.browse_ms} must be from 1 to --timeout-ms ({args.timeout_ms})")
    interfaces = netif.select(args.interface)
    if not interfaces:
        raise ConfigError("no up, multicast-capable IPv4 interface to look on; name one with --interface")
    found = asyncio.run(
        survey(
            interfaces,
            browse_s=args.browse_ms / 1000,
            timeout_s=args.timeout_ms / 1000,
            rng=random.Random(),
            policy=trust_store.policy(settings),
            dns_sd_domain=settings.dns_sd_domain,
        )
    )
    return found, interfaces
