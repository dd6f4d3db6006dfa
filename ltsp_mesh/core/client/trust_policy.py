"""The client's trust policy over one survey: which servers to ask, how, and whom to believe.

Glue over core/trust/verdicts.py's verdicts, still pure (`now` is passed in): under known-hosts trust a
server is asked only when its TXT is signed by a key listed for its address (or a CA may vouch
for it in the reply), and listed only when its reply is signed for the request's nonce by such
a key; hosts without ltsp-mesh TXT cannot prove anything and are not listed. Under `any`, every
server is asked and every answer believed, as before there were signatures.
"""

from __future__ import annotations

from dataclasses import dataclass

from ltsp_mesh.core.codec import load_query
from ltsp_mesh.core.config.client_settings import Trust
from ltsp_mesh.core.discovery.services import Discovered
from ltsp_mesh.core.trust import verdicts
from ltsp_mesh.core.trust.known_hosts import KnownHosts
from ltsp_mesh.core.trust.signed_reply import SignedReply


@dataclass(frozen=True)
class TrustPolicy:
    """The effective mode (KNOWN_HOSTS or ANY) and the known hosts it checks against."""

    mode: Trust
    known_hosts: KnownHosts

    def __post_init__(self) -> None:
        if self.mode is Trust.AUTO:
            raise ValueError("resolve AUTO with verdicts.effective_mode() first")

    @classmethod
    def of(cls, setting: Trust, known_hosts: KnownHosts) -> TrustPolicy:
        """The policy for an LDM_LB_TRUST setting and the image's known hosts."""
        return cls(verdicts.effective_mode(setting, known_hosts), known_hosts)

    @property
    def strict(self) -> bool:
        """True when only verified servers may be listed."""
        return self.mode is Trust.KNOWN_HOSTS

    def peer(self, server: Discovered, address: str) -> verdicts.Peer:
        """The server as ssh will see it: the address the client will print, its SSH port."""
        return verdicts.Peer(address=address, ssh_port=server.ssh_port)

    def ask(self, server: Discovered, address: str, now: float) -> str:
        """Empty when the server is worth a direct query; otherwise why not."""
        if not self.strict:
            return ""
        verdict = verdicts.check_txt(
            server.txt_properties,
            instance=server.instance,
            host=server.host,
            peer=self.peer(server, address),
            known_hosts=self.known_hosts,
            now=now,
        )
        return "" if verdicts.worth_querying(self.mode, verdict) else f"{verdict.reason}: {verdict.detail}"

    def request_size(self, server: Discovered, address: str) -> int:
        """How far to pad the query: enough for a certificate when only a CA can vouch."""
        if not self.strict:
            return load_query.REQUEST_SIZE_BYTES
        return verdicts.request_size(self.known_hosts, self.peer(server, address))

    def believe(self, reply: SignedReply, nonce: bytes, server: Discovered, address: str, now: float) -> str:
        """Empty when the reply may be believed; otherwise why not."""
        if not self.strict:
            return ""
        verdict = verdicts.check_reply(
            reply, nonce=nonce, peer=self.peer(server, address), known_hosts=self.known_hosts, now=now
        )
        return "" if verdicts.admits(self.mode, verdict) else f"{verdict.reason}: {verdict.detail}"


TRUST_ANY = TrustPolicy(Trust.ANY, KnownHosts(()))
