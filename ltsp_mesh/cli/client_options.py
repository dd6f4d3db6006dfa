"""Options shared by the client commands (status, feed): where to look and for how long."""

from __future__ import annotations

import argparse
import random

from ltsp_mesh.cli import bounds
from ltsp_mesh.cli.bounds import bounded
from ltsp_mesh.core.config.client_settings import ClientSettings
from ltsp_mesh.errors import ConfigError
from ltsp_mesh.shell import netif, trust_store
from ltsp_mesh.shell.client import host_list
from ltsp_mesh.shell.client.survey import Survey, survey

DEFAULT_TIMEOUT_MS = 400  # LDM_LB_TIMEOUT_MS's default (DESIGN.md)
DEFAULT_BROWSE_MS = host_list.DEFAULT_BROWSE_MS


def add(parser: argparse.ArgumentParser, *, json: bool = True) -> None:
    """Add --interface, --timeout-ms, --browse-ms and (unless told not to) --json."""
    add_interface(parser)
    parser.add_argument(
        "--timeout-ms",
        metavar="MS",
        type=bounded(int, bounds.TIMEOUT_MS),
        default=DEFAULT_TIMEOUT_MS,
        help=f"the whole deadline, discovery and queries (default {DEFAULT_TIMEOUT_MS}; "
        f"{bounds.TIMEOUT_MS.describe()})",
    )
    parser.add_argument(
        "--browse-ms",
        metavar="MS",
        type=bounded(int, bounds.BROWSE_MS),
        default=DEFAULT_BROWSE_MS,
        help=f"how long to collect mDNS answers (default {DEFAULT_BROWSE_MS}; at most --timeout-ms)",
    )
    if json:
        parser.add_argument("--json", action="store_true", help="print one JSON document")


def add_interface(parser: argparse.ArgumentParser, verb: str = "look") -> None:
    """Add --interface, which every command that looks at the mesh takes the same way."""
    parser.add_argument(
        "--interface",
        action="append",
        default=[],
        metavar="NAME",
        help=f"{verb} on this interface only (repeat for more); default: all multicast-capable ones",
    )


async def look(args: argparse.Namespace, settings: ClientSettings) -> tuple[Survey, list[netif.Interface]]:
    """Run one survey with the options in `args` and the trust `settings` ask for; also return
    the interfaces it looked on. Awaited on the caller's loop: a watch runs every survey on one."""
    if args.browse_ms > args.timeout_ms:
        raise ConfigError(f"--browse-ms={args.browse_ms} must be from 1 to --timeout-ms ({args.timeout_ms})")
    interfaces = netif.select(args.interface)
    if not interfaces:
        raise ConfigError("no up, multicast-capable IPv4 interface to look on; name one with --interface")
    found = await survey(
        interfaces,
        browse_s=args.browse_ms / 1000,
        timeout_s=args.timeout_ms / 1000,
        rng=random.Random(),
        policy=trust_store.policy(settings),
        dns_sd_domain=settings.dns_sd_domain,
    )
    return found, interfaces
