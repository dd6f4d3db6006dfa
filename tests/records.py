"""The tests' one ServerRecord factory: a valid record with plain figures, any field overridden.

Tests name only the fields they are about (`record(pending=3)`, `record(server_id="app1",
host_key_fp=fp)`), so a new field in ServerRecord is one default here, not an edit in every test.
The record still validates on construction: an override out of range raises ValueError, as it
would anywhere else.
"""

from __future__ import annotations

from ltsp_mesh.core.record import ServerRecord, ServerState


def record(
    *,
    server_id: str = "0123456789abcdef",
    cpus: int = 8,
    load_per_cpu: float = 0.5,
    mem_percent: int = 40,
    swapping: bool = False,
    sessions: int = 0,
    pending: int = 0,
    capacity: int = 8,
    state: ServerState = ServerState.UP,
    query_port: int = 377,
    host_key_fp: str = "",
) -> ServerRecord:
    """A ServerRecord of an idle 8-CPU server taking logins; any field given by name replaces its default."""
    return ServerRecord(
        server_id=server_id,
        cpus=cpus,
        load_per_cpu=load_per_cpu,
        mem_percent=mem_percent,
        swapping=swapping,
        sessions=sessions,
        pending=pending,
        capacity=capacity,
        state=state,
        query_port=query_port,
        host_key_fp=host_key_fp,
    )
