"""DNS-SD registration through python-zeroconf: register, rate-limited TXT updates, goodbye."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric import ed25519
from zeroconf import ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from ltsp_mesh.core.codec import txt
from ltsp_mesh.core.discovery.names import SERVICE_TYPE
from ltsp_mesh.core.record import ServerRecord
from ltsp_mesh.core.server import publish
from ltsp_mesh.core.trust import signing
from ltsp_mesh.core.trust.verdicts import TXT_RESIGN_INTERVAL_S

log = logging.getLogger(__name__)


class Announcer:
    """One registered `_ltsp._tcp` service and the history of its TXT updates.

    With a host key, every TXT record is signed over the names it is announced under; a rename
    on a name conflict and a signature growing old both trigger a fresh, re-signed TXT.
    """

    def __init__(
        self,
        aiozc: AsyncZeroconf,
        *,
        name: str,
        host: str,
        ssh_port: int,
        addresses: Sequence[str],
        key: ed25519.Ed25519PrivateKey | None = None,
    ) -> None:
        self._aiozc = aiozc
        self._key = key
        self._name = name
        self._host = host
        self._ssh_port = ssh_port
        self._addresses = list(addresses)
        self._info: ServiceInfo | None = None
        self._published: ServerRecord | None = None
        self._sent_at: tuple[float, ...] = ()

    @property
    def registered_name(self) -> str:
        """The instance name in use: the derived one, or the one probing renamed it to."""
        return self._info.name if self._info else self._name

    def _properties(self, record: ServerRecord, name: str) -> txt.TxtProperties:
        properties = txt.encode(record)
        if self._key is None:
            return properties
        return signing.sign_txt(
            properties,
            instance=name,
            host=self._host,
            ssh_port=self._ssh_port,
            key=self._key,
            now=time.time(),
        )

    def _service_info(self, record: ServerRecord) -> ServiceInfo:
        name = self._name if self._info is None else self._info.name
        return ServiceInfo(
            SERVICE_TYPE,
            name,
            port=self._ssh_port,
            properties=self._properties(record, name),
            server=self._host,
            addresses=[socket.inet_aton(a) for a in self._addresses],
        )

    async def register(self, record: ServerRecord, now: float) -> None:
        """Probe for the name (taking `name-2`, ... on a conflict) and announce `record`."""
        info = self._service_info(record)
        await self._aiozc.async_register_service(info, allow_name_change=True)
        self._info, self._published, self._sent_at = info, record, (now,)
        if info.name != self._name:
            log.warning("name %r was taken on the network; announcing as %r", self._name, info.name)
            if self._key is not None:
                # The TXT was signed over the name probing gave up: sign it over the new one.
                await self._aiozc.async_update_service(self._service_info(record))
        log.info("announced %s on %s port %d", info.name, ", ".join(self._addresses), self._ssh_port)

    async def refresh(self, record: ServerRecord, now: float) -> bool:
        """Update the TXT record to `record` if the hysteresis and rate limit allow; True if sent."""
        if self._info is None or self._published is None:
            raise RuntimeError("refresh() before register()")
        resign_after_s = TXT_RESIGN_INTERVAL_S if self._key is not None else None
        if not publish.update_due(self._published, record, self._sent_at, now, resign_after_s):
            return False
        info = self._service_info(record)
        await self._aiozc.async_update_service(info)
        self._info, self._published = info, record
        self._sent_at = publish.recent(self._sent_at, now) + (now,)
        log.debug("TXT updated: %s", txt.encode(record))
        return True
