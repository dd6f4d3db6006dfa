"""The client's trust policy over one survey: which servers to ask, how, and whom to believe.

Glue over core/trust/verdicts.py's verdicts, still pure (`now` is passed in): under known-hosts trust a
server is asked only when its TXT is signed by a key listed for its address (or a CA may vouch
for it in the reply), and listed only when its reply is signed for the request's nonce by such
a key; hosts without ltsp-mesh TXT cannot prove anything and are not listed. Under `any`, every
server is asked and every answer believed, as before there were signatures.

Which address to ask (`choose`): any host on the LAN can answer for a genuine server's names,
so under known-hosts trust every version of a server that discovery found and every address
of each is checked, surest first, before the server is called untrusted: a rogue's A record
for a genuine host name, or its SRV or TXT for a genuine instance, only adds a candidate that
fails, it does not hide the genuine one. Under `any` there is nothing to check: the first
version's address on the client's subnet is asked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ltsp_mesh.core.codec import load_query
from ltsp_mesh.core.config.client_settings import Trust
from ltsp_mesh.core.discovery import services
from ltsp_mesh.core.discovery.services import Discovered
from ltsp_mesh.core.trust import verdicts
from ltsp_mesh.core.trust.known_hosts import KnownHosts
from ltsp_mesh.core.trust.signed_reply import SignedReply

# Candidate (version, address) pairs checked for one server at most. An address no key is
# listed for costs a lookup, one with a listed key a signature check (about 0.1 ms): a flood of
# versions costs a client a few milliseconds at most. The genuine version, from the responder
# that speaks for itself, comes first in the order discovery gives.
MAX_CANDIDATES: Final = 32


@dataclass(frozen=True, slots=True)
class Choice:
    """The version of a server and the address to ask it at, or why none may be asked.

    When it may be asked, `server` is that version with `address` first among its addresses
    and only addresses the policy lets through after it (a client on another subnet is handed
    one of those), without alternatives.
    """

    server: Discovered
    address: str
    refusal: str = ""  # empty when worth a direct query
    verified: bool = False  # its TXT is signed by a key known_hosts lists for `address`


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
        verdict = self._txt_verdict(server, address, now)
        return "" if verdicts.worth_querying(self.mode, verdict) else f"{verdict.reason}: {verdict.detail}"

    def choose(self, server: Discovered, networks: Sequence[str], now: float) -> Choice | None:
        """Which version of `server` to ask, at which address; None when it has no address.

        Under known-hosts trust the first candidate whose TXT a listed key accepts wins, then
        the first a CA may vouch for in its reply (DEFERRED); with neither, the refusal of
        the first candidate says why. A version without ltsp-mesh TXT is never asked under
        known-hosts trust (it cannot prove anything); under `any` it is the caller's to list
        unmeasured.
        """
        if not self.strict:
            address = services.choose_address(server.addresses, networks)
            return None if address is None else _chosen(server, address, server.addresses)
        deferred: Choice | None = None
        refused: Choice | None = None
        checked = 0
        for version in server.versions:
            passed: list[str] = []  # this version's addresses worth asking, in order
            accepted = ""
            for address in services.ordered_addresses(version.addresses, networks):
                if checked >= MAX_CANDIDATES:
                    break
                checked += 1
                unusable = (
                    f"announces no ltsp-mesh TXT ({version.txt_problem})"
                    if version.announced is None
                    else _why(verdicts.check_txt_form(version.txt_properties))
                )
                if unusable:
                    refused = refused or Choice(version, address, unusable)
                    break  # its other addresses cannot prove more
                verdict = self._txt_verdict(version, address, now)
                if verdicts.worth_querying(self.mode, verdict):
                    passed.append(address)
                    accepted = accepted or (address if verdict.accepted else "")
                else:
                    refused = refused or Choice(version, address, _why(verdict))
            if accepted:
                return _chosen(version, accepted, passed, verified=True)
            if passed and deferred is None:
                deferred = _chosen(version, passed[0], passed)
        return deferred or refused

    def _txt_verdict(self, server: Discovered, address: str, now: float) -> verdicts.Verdict:
        return verdicts.check_txt(
            server.txt_properties,
            instance=server.instance,
            host=server.host,
            peer=self.peer(server, address),
            known_hosts=self.known_hosts,
            now=now,
        )

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


def _why(verdict: verdicts.Verdict | None) -> str:
    return "" if verdict is None else f"{verdict.reason}: {verdict.detail}"


def _chosen(version: Discovered, address: str, addresses: Sequence[str], *, verified: bool = False) -> Choice:
    first = (address, *(a for a in addresses if a != address))
    return Choice(dataclasses.replace(version, addresses=first, alternatives=()), address, verified=verified)


TRUST_ANY = TrustPolicy(Trust.ANY, KnownHosts(()))
