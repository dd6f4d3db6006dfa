"""The client's trust policy from LDM_LB_TRUST and the image's ssh_known_hosts file."""

from __future__ import annotations

import glob
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from ltsp_mesh.core.client.trust_policy import TrustPolicy
from ltsp_mesh.core.config.client_settings import ClientSettings, Trust
from ltsp_mesh.core.trust import known_hosts

log = logging.getLogger(__name__)

MAX_KNOWN_HOSTS_BYTES: Final = known_hosts.MAX_TEXT_BYTES


def read_known_hosts(path: str) -> known_hosts.KnownHosts:
    """The parsed file; an absent or unreadable file is empty (and says so in the log)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_KNOWN_HOSTS_BYTES + 1)
    except FileNotFoundError:
        return known_hosts.KnownHosts()
    except OSError as exc:
        log.warning("cannot read %s: %s", path, exc.strerror)
        return known_hosts.KnownHosts()
    if len(data) > MAX_KNOWN_HOSTS_BYTES:
        log.warning("%s is over %d bytes: only its beginning is read", path, MAX_KNOWN_HOSTS_BYTES)
    parsed = known_hosts.parse(data[:MAX_KNOWN_HOSTS_BYTES].decode("utf-8", "replace"))
    if parsed.skipped:
        log.info("%s: %d lines skipped", path, parsed.skipped)
    return parsed


def policy(settings: ClientSettings) -> TrustPolicy:
    """The effective policy: known-hosts, or any (said loudly, since a rogue could then win)."""
    store = read_known_hosts(settings.known_hosts_path)
    chosen = TrustPolicy.of(settings.trust, store)
    if not chosen.strict:
        if settings.trust is Trust.ANY:
            log.warning("LDM_LB_TRUST=any: servers are not verified; any host on the LAN can attract logins")
        else:
            log.warning(
                "%s lists no host keys: accepting any server (LDM_LB_TRUST=auto); run "
                "`ltsp-mesh known-hosts` on a server and ltsp-update-sshkeys",
                Path(settings.known_hosts_path),
            )
    return chosen


def read_server_known_hosts(patterns: Sequence[str]) -> known_hosts.KnownHosts:
    """A server's known hosts: every file the patterns name (KNOWN_HOSTS in mesh.conf), merged,
    at most MAX_KNOWN_HOSTS_BYTES in all. Missing files are simply absent."""
    texts: list[str] = []
    budget = MAX_KNOWN_HOSTS_BYTES
    for path in [
        p
        for pattern in patterns
        for p in (sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern])
    ]:
        try:
            with open(path, "rb") as handle:
                data = handle.read(budget + 1)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("cannot read %s: %s", path, exc.strerror)
            continue
        if len(data) > budget:
            log.warning(
                "the known hosts files are over %d bytes in all: %s is read in part",
                MAX_KNOWN_HOSTS_BYTES,
                path,
            )
            data = data[:budget]
        budget -= len(data)
        texts.append(data.decode("utf-8", "replace"))
        if budget <= 0:
            break
    parsed = known_hosts.parse("\n".join(texts))
    if parsed.skipped:
        log.info("known hosts: %d lines skipped", parsed.skipped)
    return parsed
