"""Asks the kernel, over rtnetlink, how far a reply to an address would get right now.

One question pair per lookup: the route to the address (its next hop: the address itself on its
own link, else a gateway), then that neighbour's state. The kernel answers both within the
sendto call, so a lookup never waits; a missing or odd answer reads as "unknown", and a kernel
that refuses the questions altogether (no rtnetlink, an old kernel without RTM_GETNEIGH for one
address) reads as "resolved": the responder then sends as it would without the gate.
"""

from __future__ import annotations

import errno
import itertools
import logging
import socket
from typing import Final

from ltsp_mesh.core.codec import rtnetlink
from ltsp_mesh.core.server.reply_gate import Reach, reach_of
from ltsp_mesh.errors import DecodeError

log = logging.getLogger(__name__)

_RECEIVE_BYTES: Final = 8192


class Neighbours:
    """A route and neighbour lookup over one rtnetlink socket."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._sequence = itertools.count(1)
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
            sock.setblocking(False)
            sock.bind((0, 0))
        except OSError as exc:
            log.warning("cannot ask the kernel about neighbours (%s); replying without checking them", exc)
            return
        self._sock = sock

    def close(self) -> None:
        """Close the socket; a second call does nothing."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _exchange(self, request: bytes, sequence: int) -> bytes:
        """Send `request`; return the datagram that answers `sequence` (earlier, late answers
        are read and dropped)."""
        assert self._sock is not None
        self._sock.send(request)
        while True:
            data = self._sock.recv(_RECEIVE_BYTES)  # BlockingIOError when the kernel said nothing
            if rtnetlink.answers(data, sequence):
                return data

    def reach(self, address: str) -> Reach:
        """What the kernel knows of the next hop towards `address`."""
        if self._sock is None:
            return Reach.RESOLVED
        try:
            sequence = next(self._sequence)
            data = self._exchange(rtnetlink.route_request(address, sequence), sequence)
            hop = rtnetlink.parse_route(data, sequence, address)
            if hop.local:
                return Reach.RESOLVED
            sequence = next(self._sequence)
            data = self._exchange(rtnetlink.neighbour_request(hop, sequence), sequence)
            return reach_of(rtnetlink.parse_neighbour(data, sequence))
        except rtnetlink.NetlinkError as exc:
            if exc.errno == errno.ENOENT:
                return Reach.UNKNOWN  # no neighbour entry yet
            log.debug("netlink refused a lookup for %s: %s", address, exc)
            return Reach.RESOLVED if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP) else Reach.UNKNOWN
        except (OSError, DecodeError, ValueError) as exc:
            log.debug("no neighbour answer for %s: %s", address, exc)
            return Reach.UNKNOWN
