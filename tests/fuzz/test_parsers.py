"""Every parser of outside input, against 100,000 generated inputs each: its own error or nothing.

The inputs come from tests/fuzz/mutate.py (seeded mutations of valid samples, and random bytes).
A parser may accept an input or refuse it with the one error its contract names; anything else
is a crash. The counts go to reports/fuzz-report.md (and .json) for the record.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from ltsp_mesh.core.codec import cachefile, control, feed, legacy_xml, loadfile, ltsp_cluster, txt
from ltsp_mesh.core.codec import load_query as wire
from ltsp_mesh.core.codec.cachefile import CachedHosts
from ltsp_mesh.core.codec.legacy_xml import ServerReport
from ltsp_mesh.core.config import ltsconf
from ltsp_mesh.core.record import Load, ServerState
from ltsp_mesh.core.trust import known_hosts, signed_reply, ssh_keys, tsig_key
from ltsp_mesh.core.trust.signing import sign_txt
from ltsp_mesh.core.view import routes
from ltsp_mesh.errors import ConfigError, DecodeError
from tests.fuzz.mutate import inputs
from tests.records import record

INPUTS_PER_PARSER = int(os.environ.get("LTSP_MESH_FUZZ_INPUTS", "100000"))
REPORT_DIR = Path(__file__).resolve().parents[2] / "reports"
FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "fixtures" / "ltsconf"

KEY = ed25519.Ed25519PrivateKey.generate()
PUBLIC = ssh_keys.ed25519_public_key(KEY.public_key())
RECORD = record(sessions=12, pending=2, host_key_fp=PUBLIC.fingerprint)
LOAD = Load(
    cpus=8,
    load1=4.0,
    load5=3.0,
    load15=2.0,
    mem_total_kib=16384000,
    mem_available_kib=9000000,
    swap_total_kib=2097148,
    swap_used_kib=0,
    swapping=False,
    sessions=12,
)


def _hashed_name(name: str) -> str:
    salt = b"0123456789abcdefghij"
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


@dataclass(frozen=True)
class Target:
    """One parser: its seeds, how to call it, and the error its contract allows."""

    name: str
    seeds: list[bytes]
    parse: Callable[[bytes], object]
    allowed: tuple[type[BaseException], ...]


def _text(parse: Callable[[str], object]) -> Callable[[bytes], object]:
    return lambda data: parse(data.decode("utf-8", "replace"))


def _ltsconf(text: str) -> object:
    conf = ltsconf.parse(text, "fuzz.conf")
    return ltsconf.resolve(conf, hostname="ws001", ip="10.0.0.5", mac="52:54:00:12:34:56")


REQUESTS = [
    wire.encode_request(wire.Request(op, b"n" * 16, client, key), pad_to=pad)
    for op in wire.Op
    for client in ("", "52:54:00:12:34:56")
    for key in (False, True)
    for pad in (0, 512)
]
REPLY = wire.Reply(record=RECORD, nonce=b"n" * 16, timestamp=1_700_000_000.0)
VIEW = {
    "v": 1,
    "at": 1.0,
    "servers": [
        {
            "name": "app1",
            "address": "10.0.0.2",
            "status": "Idle",
            "recommended": True,
            "response_ms": 0.5,
            "sessions": 1,
            "capacity": 8,
            "load": 0.1,
        }
    ],
}

TARGETS = [
    Target(
        "TXT record",
        [
            txt.encode_rdata(txt.encode(RECORD)),
            txt.encode_rdata(
                sign_txt(
                    txt.encode(RECORD),
                    instance="app1._ltsp._tcp.local.",
                    host="app1.local.",
                    ssh_port=22,
                    key=KEY,
                    now=1.7e9,
                )
            ),
        ],
        lambda data: txt.decode(txt.decode_rdata(data)),
        (DecodeError,),
    ),
    Target("UDP request datagram", REQUESTS, wire.decode_request, (DecodeError,)),
    Target(
        "UDP reply datagram",
        [wire.encode_reply(REPLY), signed_reply.encode(REPLY, KEY)],
        signed_reply.decode,
        (DecodeError,),
    ),
    Target(
        "legacy XML document",
        [
            legacy_xml.encode(
                ServerReport("app1", "0123456789abcdef", ServerState.UP, LOAD, 2, 8, 22, PUBLIC.fingerprint)
            )
        ],
        legacy_xml.decode,
        (DecodeError,),
    ),
    Target("lts.conf", [p.read_bytes() for p in sorted(FIXTURES.iterdir())], _text(_ltsconf), (ConfigError,)),
    Target(
        "ssh_known_hosts",
        [
            f"app1,10.0.0.2 {PUBLIC.to_line()}\n[app2]:2222 {PUBLIC.to_line()} root@app2\n"
            f"{_hashed_name('10.0.0.3')} {PUBLIC.to_line()}\n@cert-authority *.school,10.0.* {PUBLIC.to_line()}\n"
            f"@revoked * {PUBLIC.to_line()}\n# comment\n!10.0.0.9,10.0.0.* {PUBLIC.to_line()}\n".encode()
        ],
        _text(known_hosts.parse),
        (),
    ),
    Target(
        "host cache file",
        [cachefile.encode(CachedHosts(("10.0.0.2", "10.0.0.3"), 1.7e9))],
        cachefile.decode,
        (DecodeError,),
    ),
    Target("greeter feed message", [msgpack.packb(VIEW)], feed.decode, (DecodeError,)),
    Target(
        "control request",
        [
            control.encode_request(
                control.ControlRequest(control.ControlOp.DRAIN, control.DrainState(True, "kernel"))
            )
        ],
        control.decode_request,
        (DecodeError,),
    ),
    Target(
        "load balancer answer",
        [b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n10.0.0.7\n"],
        ltsp_cluster.decode_response,
        (DecodeError,),
    ),
    Target(
        "load file",
        [loadfile.encode(LOAD, ("10.0.0.5",)).encode()],
        _text(lambda text: loadfile.decode(text, "fuzz.json")),
        (ConfigError,),
    ),
    Target(
        "TSIG key file",
        [
            b'key "ltsp-mesh" {\n\talgorithm hmac-sha256;\n\tsecret "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0";\n};\n'
        ],
        _text(lambda text: tsig_key.parse(text, "fuzz.key")),
        (ConfigError,),
    ),
    Target(
        "status page request line",
        [b"GET /?client=10.77.0.5", b"HEAD /decisions.json?client=02:00:0a:4d:00:0b", b"GET /metrics"],
        lambda data: routes.decode(*data.partition(b" ")[::2]),
        (DecodeError,),
    ),
]
RESULTS: dict[str, dict[str, object]] = {}


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_parser_survives_generated_inputs(target: Target) -> None:
    accepted = refused = 0
    crashes: list[str] = []
    started = time.perf_counter()
    for data in inputs(target.seeds, INPUTS_PER_PARSER, seed=zlib.crc32(target.name.encode())):
        try:
            target.parse(data)
            accepted += 1
        except target.allowed:
            refused += 1
        except Exception as exc:  # the invariant under test: nothing else may escape
            crashes.append(f"{type(exc).__name__}: {exc} <- {data[:80].hex()}")
    RESULTS[target.name] = {
        "inputs": INPUTS_PER_PARSER,
        "accepted": accepted,
        "refused": refused,
        "crashes": len(crashes),
        "seconds": round(time.perf_counter() - started, 1),
    }
    _write_report()
    assert crashes == [], crashes[:5]


def _write_report() -> None:
    REPORT_DIR.mkdir(exist_ok=True)
    (REPORT_DIR / "fuzz-report.json").write_text(json.dumps(RESULTS, indent=2) + "\n")
    rows = [
        f"| {name} | {r['inputs']:,} | {r['accepted']:,} | {r['refused']:,} | {r['crashes']} | {r['seconds']} |"
        for name, r in RESULTS.items()
    ]
    (REPORT_DIR / "fuzz-report.md").write_text(
        "# Fuzzing report\n\nWritten by tests/fuzz/test_parsers.py: seeded mutations of valid inputs and random "
        "bytes, fed to every parser of outside input. A parser may accept an input or refuse it with its own "
        "error; anything else is a crash.\n\n| parser | inputs | accepted | refused (own error) | crashes | s |\n"
        "|---|---:|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n"
    )


def test_the_harness_reports_a_parser_that_raises_anything_else() -> None:
    def fragile(data: bytes) -> object:
        if data[:1] == b"\x00":
            raise KeyError("an error the contract does not allow")
        raise DecodeError("refused")

    escaped = []
    for data in inputs([b"\x00abc", b"abc"], 200, seed=7):
        try:
            fragile(data)
        except DecodeError:
            pass
        except Exception as exc:
            escaped.append(exc)
    assert escaped and all(isinstance(e, KeyError) for e in escaped)
