"""The SSH binary encoding (RFC 4251 section 5): the uint32, uint64, string and mpint fields
that OpenSSH keys, certificates and signatures are made of.

Every SSH structure ltsp-mesh reads (public key blobs, host certificates, private key files,
signature blobs) comes from outside the process, so the reader raises only DecodeError, with
the field that was being read in the message.
"""

from __future__ import annotations

import struct
from typing import Final

from ltsp_mesh.errors import DecodeError

# Nothing ltsp-mesh reads in SSH encoding comes near this; OpenSSH's own bound on a serialised
# key is 16 KiB (SSHBUF_MAX_BIGNUM and friends stay well under it).
MAX_STRING_BYTES: Final = 16 * 1024


class Reader:
    """Reads SSH fields from the front of a byte string; DecodeError when one is malformed."""

    __slots__ = ("_data", "_offset", "_what")

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._offset = 0
        self._what = what

    def _take(self, count: int, field: str) -> bytes:
        end = self._offset + count
        if end > len(self._data):
            raise DecodeError(f"{self._what} is truncated in its {field}")
        chunk = self._data[self._offset : end]
        self._offset = end
        return chunk

    def uint32(self, field: str) -> int:
        """The next big-endian 32-bit unsigned integer."""
        value: int = struct.unpack(">I", self._take(4, field))[0]
        return value

    def uint64(self, field: str) -> int:
        """The next big-endian 64-bit unsigned integer."""
        value: int = struct.unpack(">Q", self._take(8, field))[0]
        return value

    def string(self, field: str) -> bytes:
        """The next length-prefixed byte string."""
        length = self.uint32(field)
        if length > MAX_STRING_BYTES:
            raise DecodeError(f"{self._what} has a {length}-byte {field}, over {MAX_STRING_BYTES}")
        return self._take(length, field)

    def text(self, field: str) -> str:
        """The next string, which must be UTF-8 text."""
        raw = self.string(field)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"{self._what} has a {field} that is not UTF-8") from exc

    def mpint(self, field: str) -> int:
        """The next multiple-precision integer: two's complement, big-endian, minimal."""
        raw = self.string(field)
        # RFC 4251: no unnecessary leading 0x00 or 0xff bytes; OpenSSH refuses them too.
        if len(raw) >= 2 and ((raw[0] == 0 and raw[1] < 0x80) or (raw[0] == 0xFF and raw[1] >= 0x80)):
            raise DecodeError(f"{self._what} has a {field} with needless leading bytes")
        return int.from_bytes(raw, "big", signed=True)

    def rest(self) -> bytes:
        """Everything not read yet."""
        chunk = self._data[self._offset :]
        self._offset = len(self._data)
        return chunk

    def rest_len(self) -> int:
        """How many bytes are left to read."""
        return len(self._data) - self._offset

    @property
    def consumed(self) -> bytes:
        """Everything read so far (a certificate's signature covers exactly this)."""
        return self._data[: self._offset]

    def done(self) -> None:
        """Raise DecodeError unless every byte has been read."""
        if self._offset != len(self._data):
            raise DecodeError(f"{self._what} has {len(self._data) - self._offset} bytes of trailing data")


def uint32(value: int) -> bytes:
    """`value` as an SSH uint32."""
    return struct.pack(">I", value)


def uint64(value: int) -> bytes:
    """`value` as an SSH uint64."""
    return struct.pack(">Q", value)


def string(value: bytes) -> bytes:
    """`value` as an SSH string: its length, then its bytes."""
    return struct.pack(">I", len(value)) + value
