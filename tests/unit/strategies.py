"""Hypothesis strategies shared by the unit tests: valid core values and hostile inputs."""

from __future__ import annotations

from typing import Any

import msgpack
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from ltsp_mesh.core.codec import load_query
from ltsp_mesh.core.codec.legacy_xml import ServerReport
from ltsp_mesh.core.record import (
    MAX_CAPACITY,
    MAX_CPUS,
    MAX_FINGERPRINT_CHARS,
    MAX_ID_CHARS,
    MAX_SESSIONS,
    Load,
    ServerRecord,
    ServerState,
)
from tests.records import record

# A typical record, for the tests that need one fixed value (its TXT, its reply, its XML).
SAMPLE_RECORD = record(
    load_per_cpu=0.52,
    mem_percent=45,
    sessions=12,
    pending=2,
    host_key_fp="SHA256:nk66K+YVPC8ikwssL4uEHNHSZ5xd492nCBVRE6seZ90",
)

# One budget for every property test: enough examples to find edge cases, fast enough that the
# whole unit suite stays in seconds. No deadline: CI machines stall.
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW_PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# What a record's text fields (server id, host key fingerprint) may hold: printable ASCII
# without the characters that TXT, XML or the CLI table would have to escape.
TEXT_ALPHABET = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "=,<>&\"'")


def server_ids() -> st.SearchStrategy[str]:
    return st.text(TEXT_ALPHABET, min_size=1, max_size=MAX_ID_CHARS)


def fingerprints() -> st.SearchStrategy[str]:
    return st.text(TEXT_ALPHABET, min_size=0, max_size=MAX_FINGERPRINT_CHARS)


def hundredths(high: float) -> st.SearchStrategy[float]:
    """Numbers with two decimals from 0 to `high`: what the TXT and XML codecs carry."""
    return st.integers(0, round(high * 100)).map(lambda h: h / 100)


def records(load_per_cpu: st.SearchStrategy[float] | None = None) -> st.SearchStrategy[ServerRecord]:
    """Any valid ServerRecord whose load has two decimals (as record_from_load makes it)."""
    return st.builds(
        ServerRecord,
        server_id=server_ids(),
        cpus=st.integers(1, MAX_CPUS),
        load_per_cpu=load_per_cpu if load_per_cpu is not None else hundredths(1000.0),
        mem_percent=st.integers(0, 100),
        swapping=st.booleans(),
        sessions=st.integers(0, MAX_SESSIONS),
        pending=st.integers(0, MAX_SESSIONS),
        capacity=st.integers(1, MAX_CAPACITY),
        state=st.sampled_from(ServerState),
        query_port=st.integers(1, 65535),
        host_key_fp=fingerprints(),
    )


def extreme_records() -> st.SearchStrategy[ServerRecord]:
    """Records built only from the bounds of every field: the longest encodings live here."""
    return st.builds(
        ServerRecord,
        server_id=st.sampled_from(["a", "~" * MAX_ID_CHARS]),
        cpus=st.sampled_from([1, MAX_CPUS]),
        load_per_cpu=st.sampled_from([0.0, 0.01, 999.99, 1000.0]),
        mem_percent=st.sampled_from([0, 100]),
        swapping=st.booleans(),
        sessions=st.sampled_from([0, MAX_SESSIONS]),
        pending=st.sampled_from([0, MAX_SESSIONS]),
        capacity=st.sampled_from([1, MAX_CAPACITY]),
        state=st.sampled_from(ServerState),
        query_port=st.sampled_from([1, 65535]),
        host_key_fp=st.sampled_from(["", "S" * MAX_FINGERPRINT_CHARS]),
    )


@st.composite
def loads(draw: st.DrawFn, two_decimals: bool = True) -> Load:
    """Any valid Load; with `two_decimals`, load averages as the XML document carries them."""
    cpus = draw(st.integers(1, MAX_CPUS))
    high = 1000.0 * MAX_CPUS
    average = hundredths(high) if two_decimals else st.floats(0.0, high)
    mem_total = draw(st.integers(1, 2**53))
    swap_total = draw(st.integers(0, 2**53))
    return Load(
        cpus=cpus,
        load1=draw(average),
        load5=draw(average),
        load15=draw(average),
        mem_total_kib=mem_total,
        mem_available_kib=draw(st.integers(0, mem_total)),
        swap_total_kib=swap_total,
        swap_used_kib=draw(st.integers(0, swap_total)),
        swapping=draw(st.booleans()),
        sessions=draw(st.integers(0, MAX_SESSIONS)),
    )


def hostnames() -> st.SearchStrategy[str]:
    return st.from_regex(r"[A-Za-z0-9][A-Za-z0-9.-]{0,60}", fullmatch=True)


def reports() -> st.SearchStrategy[ServerReport]:
    return st.builds(
        ServerReport,
        hostname=hostnames(),
        server_id=server_ids(),
        state=st.sampled_from(ServerState),
        load=loads(),
        pending=st.integers(0, MAX_SESSIONS),
        capacity=st.integers(1, MAX_CAPACITY),
        ssh_port=st.integers(1, 65535),
        host_key_fp=fingerprints(),
    )


def nonces() -> st.SearchStrategy[bytes]:
    return st.binary(min_size=load_query.NONCE_MIN_BYTES, max_size=load_query.NONCE_MAX_BYTES)


def requests(client: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[load_query.Request]:
    return st.builds(
        load_query.Request,
        op=st.sampled_from(load_query.Op),
        nonce=nonces(),
        client=client if client is not None else st.text(max_size=64),
    )


def replies() -> st.SearchStrategy[load_query.Reply]:
    return st.builds(
        load_query.Reply,
        record=records(),
        nonce=nonces(),
        timestamp=st.floats(0.0, 2.0**40, allow_nan=False, allow_infinity=False),
    )


def clock_readings() -> st.SearchStrategy[float]:
    """Values of `now`: epoch seconds as the shell passes them."""
    return st.floats(0.0, 2.0**40, allow_nan=False, allow_infinity=False)


# Everything msgpack can carry, nested: the shapes a hostile or buggy peer can send.
msgpack_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(),
    st.text(max_size=40),
    st.binary(max_size=40),
)
msgpack_objects: st.SearchStrategy[Any] = st.recursive(
    msgpack_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(st.one_of(st.text(max_size=8), st.binary(max_size=8)), children, max_size=6),
    ),
    max_leaves=30,
)


def packed(obj: Any) -> bytes:
    return bytes(msgpack.packb(obj, use_bin_type=True))
