"""A routed lab: two subnets, each on its own bridge, joined by a router namespace.

    near subnet 10.77.1.0/24 (bridge PREFIX-br)      far subnet 10.77.2.0/24 (bridge PREFIX-b2)
      servers, the DNS server ...                      clients ...
                 \\                                        /
                  eth1 10.77.1.1 -- PREFIX-router -- eth2 10.77.2.1   (ip_forward=1 inside)

mDNS stops at the router, as on a real site; unicast crosses it. It is a Lab (lab/netns.py)
with the same rules: every name starts with the lab's prefix, the bridges have no address,
everything is deleted by name even on failure. Hosts get a route to the other subnet only, and
the router knows no network but the two, so nothing the lab sends can leave it.

A host may get its own resolver: `ip netns exec` bind-mounts /etc/netns/NETNS/resolv.conf over
/etc/resolv.conf when that file exists, so a lab host's lookups go to the lab's DNS server
while the machine's own /etc/resolv.conf is never touched. The lab's removal deletes those
directories by name (lab/netns.py `remove_by_prefix`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from ltsp_mesh.lab.netns import NETNS_ETC, PREFIX_LEN, Lab, _ip

NEAR_SUBNET: Final = "10.77.1"
FAR_SUBNET: Final = "10.77.2"
ROUTER: Final = "router"
ROUTER_HOST_ADDRESS: Final = 1


@dataclass
class RoutedLab(Lab):
    """A Lab whose `far` hosts sit on a second subnet, behind a router namespace."""

    far: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        super().__post_init__()
        if ROUTER in self.hosts:
            raise ValueError(f"{ROUTER!r} is the routed lab's own namespace, not a host name")
        unknown = set(self.far) - set(self.hosts)
        if unknown:
            raise ValueError(f"far hosts {sorted(unknown)} are not hosts of this lab")
        if len(self.far) == len(self.hosts):
            raise ValueError("a routed lab needs at least one host on the near subnet")

    # -- names and addresses -------------------------------------------------------------
    @property
    def far_bridge(self) -> str:
        """The far subnet's bridge in the root namespace."""
        return f"{self.prefix}-b2"

    @property
    def router_netns(self) -> str:
        """The router's network namespace."""
        return f"{self.prefix}-{ROUTER}"

    def _subnet(self, host: str) -> str:
        return FAR_SUBNET if host in self.far else NEAR_SUBNET

    def address(self, host: str) -> str:
        """The IPv4 address of `host` on its own subnet."""
        return f"{self._subnet(host)}.{9 + self._index(host)}"

    def network_of(self, host: str) -> str:
        """The subnet `host` is on, in CIDR notation."""
        return f"{self._subnet(host)}.0/{PREFIX_LEN}"

    @property
    def network(self) -> str:
        """The near subnet (the servers'), in CIDR notation."""
        return f"{NEAR_SUBNET}.0/{PREFIX_LEN}"

    def router_address(self, host: str) -> str:
        """The router's address on `host`'s subnet: the way to the other one."""
        return f"{self._subnet(host)}.{ROUTER_HOST_ADDRESS}"

    # -- lifecycle -----------------------------------------------------------------------
    def create(self) -> None:
        """Build both subnets and the router; on any failure, remove what was built and raise."""
        super().create()  # every host on the near bridge, addressed by address() above
        try:
            root = [
                f"link add {self.far_bridge} type bridge mcast_snooping 0 nf_call_iptables 0",
                f"link set {self.far_bridge} up",
                f"netns add {self.router_netns}",
            ]
            # Move the far hosts' outer veth ends onto the far bridge.
            root += [f"link set {self.prefix}-{self._index(h)} master {self.far_bridge}" for h in self.far]
            for leg, bridge in (("r1", self.bridge), ("r2", self.far_bridge)):
                root += [
                    f"link add {self.prefix}-{leg} type veth peer name {self.prefix}-{leg}p",
                    f"link set {self.prefix}-{leg}p netns {self.router_netns}",
                    f"link set {self.prefix}-{leg} master {bridge} up",
                ]
            _ip("-batch", "-", stdin="\n".join(root) + "\n")
            inside = []
            for leg, subnet, index in (("r1", NEAR_SUBNET, 0xF1), ("r2", FAR_SUBNET, 0xF2)):
                run = self.prefix[2:]
                inside += [
                    f"link set {self.prefix}-{leg}p name eth{leg[1]} address 02:6c:6d:{run[:2]}:{run[2:]}:{index:02x}",
                    f"link set eth{leg[1]} addrgenmode none",
                    f"addr add {subnet}.{ROUTER_HOST_ADDRESS}/{PREFIX_LEN} dev eth{leg[1]}",
                    f"link set eth{leg[1]} up",
                ]
            inside.append("link set lo up")
            _ip("-n", self.router_netns, "-batch", "-", stdin="\n".join(inside) + "\n")
            # Forwarding is a per-namespace sysctl: this turns it on in the router only.
            _ip("netns", "exec", self.router_netns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
            for host in self.hosts:
                other = NEAR_SUBNET if host in self.far else FAR_SUBNET
                _ip(
                    "-n",
                    self.netns(host),
                    "route",
                    "add",
                    f"{other}.0/{PREFIX_LEN}",
                    "via",
                    self.router_address(host),
                )
        except BaseException:
            self.destroy()
            raise

    # -- per-host resolver ---------------------------------------------------------------
    def set_resolver(self, host: str, nameserver: str, search: str = "") -> None:
        """Make `host`'s lookups (programs reading /etc/resolv.conf) go to `nameserver`."""
        directory = NETNS_ETC / self.netns(host)
        directory.mkdir(parents=True, exist_ok=True)
        lines = [
            f"nameserver {nameserver}",
            *([f"search {search}"] if search else []),
            "options timeout:1 attempts:1",
        ]
        (directory / "resolv.conf").write_text("\n".join(lines) + "\n")
