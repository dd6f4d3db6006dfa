"""The legacy TCP 377 XML document: ServerReport <-> bytes.

The schema is the one in DESIGN.md ("Legacy: TCP port 377, XML"), version 1. The reader is
hardened (defusedxml: no entity expansion, no external entities, no DTDs) and bounded in size,
because any host on the LAN can answer a client that polls it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Final

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from ltsp_mesh.core.record import Load, ServerRecord, ServerState, record_from_load
from ltsp_mesh.errors import DecodeError

XML_VERSION: Final = 1
MAX_XML_BYTES: Final = 16 * 1024
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})")


@dataclass(frozen=True, slots=True)
class ServerReport:
    """Everything the XML document says about one server."""

    hostname: str
    server_id: str
    state: ServerState
    load: Load
    pending: int
    capacity: int
    ssh_port: int
    host_key_fp: str = ""

    def __post_init__(self) -> None:
        if not _HOSTNAME.fullmatch(self.hostname):
            raise ValueError(f"hostname {self.hostname!r} is not a host name")
        if type(self.ssh_port) is not int or not 1 <= self.ssh_port <= 65535:
            raise ValueError(f"ssh_port {self.ssh_port} is not a port")
        # The record validates the remaining fields.
        self.record(query_port=1)

    def record(self, query_port: int) -> ServerRecord:
        """The ServerRecord this report amounts to, for the server reached on `query_port`."""
        return record_from_load(
            self.load,
            server_id=self.server_id,
            pending=self.pending,
            capacity=self.capacity,
            state=self.state,
            query_port=query_port,
            host_key_fp=self.host_key_fp,
        )


def _fmt_load(value: float) -> str:
    return f"{value:.2f}"


def encode(report: ServerReport) -> bytes:
    """Return the XML document for `report`, with its declaration, UTF-8 encoded."""
    load = report.load
    root = ET.Element(
        "ltsp-server",
        version=str(XML_VERSION),
        hostname=report.hostname,
        id=report.server_id,
        state=report.state.value,
    )
    ET.SubElement(
        root,
        "cpu",
        count=str(load.cpus),
        load1=_fmt_load(load.load1),
        load5=_fmt_load(load.load5),
        load15=_fmt_load(load.load15),
    )
    ET.SubElement(
        root,
        "memory",
        {"total-kib": str(load.mem_total_kib), "available-kib": str(load.mem_available_kib)},
    )
    ET.SubElement(
        root,
        "swap",
        {
            "total-kib": str(load.swap_total_kib),
            "used-kib": str(load.swap_used_kib),
            "swapping": "true" if load.swapping else "false",
        },
    )
    ET.SubElement(
        root,
        "sessions",
        count=str(load.sessions),
        pending=str(report.pending),
        capacity=str(report.capacity),
    )
    ET.SubElement(root, "ssh", port=str(report.ssh_port), fingerprint=report.host_key_fp)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return document + b"\n"


def _child(root: ET.Element, tag: str) -> ET.Element:
    found = root.find(tag)
    if found is None:
        raise DecodeError(f"XML has no <{tag}> element")
    return found


def _attr(element: ET.Element, name: str) -> str:
    value = element.get(name)
    if value is None:
        raise DecodeError(f"XML <{element.tag}> has no {name!r} attribute")
    return value


def _uint(element: ET.Element, name: str) -> int:
    value = _attr(element, name)
    if not value.isascii() or not value.isdigit() or len(value) > 16:
        raise DecodeError(f"XML <{element.tag} {name}={value[:20]!r}> is not a whole number")
    return int(value)


def _decimal(element: ET.Element, name: str) -> float:
    value = _attr(element, name)
    if not re.fullmatch(r"[0-9]{1,7}(\.[0-9]{1,6})?", value):
        raise DecodeError(f"XML <{element.tag} {name}={value[:20]!r}> is not a decimal number")
    return float(value)


def _bool(element: ET.Element, name: str) -> bool:
    value = _attr(element, name)
    if value not in ("true", "false"):
        raise DecodeError(f"XML <{element.tag} {name}={value[:20]!r}> is not true or false")
    return value == "true"


def decode(data: bytes) -> ServerReport:
    """Return the report in an XML document; raise DecodeError if it is not one."""
    if len(data) > MAX_XML_BYTES:
        raise DecodeError(f"XML document of {len(data)} bytes is over {MAX_XML_BYTES}")
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    # The codec boundary: expat, defusedxml and the decoder raise unrelated types. LookupError
    # comes from an encoding declaration naming a codec Python does not have as a text encoding.
    except (ET.ParseError, DefusedXmlException, ValueError, UnicodeError, LookupError) as exc:
        raise DecodeError(f"XML is not well formed: {exc}") from exc
    if root.tag != "ltsp-server":
        raise DecodeError(f"XML root is <{root.tag}>, not <ltsp-server>")
    version = _attr(root, "version")
    if version != str(XML_VERSION):
        raise DecodeError(f"XML version {version!r} is not supported (this reads {XML_VERSION})")
    cpu, memory, swap = _child(root, "cpu"), _child(root, "memory"), _child(root, "swap")
    sessions, ssh = _child(root, "sessions"), _child(root, "ssh")
    try:
        state = ServerState(_attr(root, "state"))
    except ValueError as exc:
        raise DecodeError(f"XML state {root.get('state')!r} is not up or drain") from exc
    try:
        load = Load(
            cpus=_uint(cpu, "count"),
            load1=_decimal(cpu, "load1"),
            load5=_decimal(cpu, "load5"),
            load15=_decimal(cpu, "load15"),
            mem_total_kib=_uint(memory, "total-kib"),
            mem_available_kib=_uint(memory, "available-kib"),
            swap_total_kib=_uint(swap, "total-kib"),
            swap_used_kib=_uint(swap, "used-kib"),
            swapping=_bool(swap, "swapping"),
            sessions=_uint(sessions, "count"),
        )
        return ServerReport(
            hostname=_attr(root, "hostname"),
            server_id=_attr(root, "id"),
            state=state,
            load=load,
            pending=_uint(sessions, "pending"),
            capacity=_uint(sessions, "capacity"),
            ssh_port=_uint(ssh, "port"),
            host_key_fp=ssh.get("fingerprint", ""),
        )
    except ValueError as exc:
        raise DecodeError(f"XML is out of range: {exc}") from exc
