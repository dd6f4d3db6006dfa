"""The cost of trust: signing and checking one reply or TXT record, in microseconds.

In-process, no network: the server's path (load_query.Request -> signed reply bytes) and the
client's path (reply bytes -> decode -> verdict against a known_hosts of SERVERS servers and a
host CA), each timed over many iterations after a warm-up. Targets, per operation:
- signing a reply: <= 700 us, so a storm of 1,400 logins costs a server under 1 s of CPU;
- checking a reply: <= 650 us, so checking 30 servers costs a client under 5 % of its 400 ms
  hook deadline (LDM_LB_TIMEOUT_MS), whether by a listed key or through a CA certificate;
- signing and checking a TXT record: the same budgets (a TXT is re-signed every 300 s).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ed25519

from ltsp_mesh.core.codec import load_query, txt
from ltsp_mesh.core.record import ServerRecord, ServerState
from ltsp_mesh.core.trust import known_hosts, signed_reply, signing, ssh_cert, ssh_keys, verdicts
from ltsp_mesh.lab.bench.core_suite import Figure

SERVERS = 30
DEFAULT_ITERATIONS = 2000
SIGN_TARGET_US = 700.0
CHECK_TARGET_US = 650.0
_NOW = 1_720_000_000.0


def _microseconds(operation: Callable[[], object], iterations: int) -> tuple[float, float]:
    """Median and 95th percentile of one call, in microseconds, over batches of 10 calls."""
    for _ in range(min(200, iterations)):
        operation()
    batches = []
    for _ in range(max(1, iterations // 10)):
        started = time.perf_counter()
        for _ in range(10):
            operation()
        batches.append((time.perf_counter() - started) / 10 * 1e6)
    ordered = sorted(batches)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def _record(key: ed25519.Ed25519PrivateKey) -> ServerRecord:
    return ServerRecord(
        server_id="0123456789abcdef",
        cpus=8,
        load_per_cpu=0.52,
        mem_percent=45,
        swapping=False,
        sessions=12,
        pending=2,
        capacity=8,
        state=ServerState.UP,
        query_port=377,
        host_key_fp=ssh_keys.ed25519_public_key(key.public_key()).fingerprint,
    )


def run(quick: bool = False, iterations: int = DEFAULT_ITERATIONS) -> list[Figure]:
    """Measure signing and checking; return one figure per operation."""
    iterations = min(iterations, 300) if quick else iterations
    keys = [ed25519.Ed25519PrivateKey.generate() for _ in range(SERVERS)]
    ca = ed25519.Ed25519PrivateKey.generate()
    certified = ed25519.Ed25519PrivateKey.generate()
    listings = [
        known_hosts.Listing((f"app{i}", f"10.0.0.{i + 1}"), ssh_keys.ed25519_public_key(key.public_key()))
        for i, key in enumerate(keys)
    ]
    ca_line = f"@cert-authority 10.0.1.* {ssh_keys.ed25519_public_key(ca.public_key()).to_line()}\n"
    known = known_hosts.parse(known_hosts.format_known_hosts(listings) + ca_line)
    certificate = ssh_cert.issue_certificate(
        ca,
        ssh_keys.ed25519_public_key(certified.public_key()),
        key_id="app-ca",
        principals=["10.0.1.6"],
        valid_after=0,
        valid_before=2**64 - 1,
        nonce=bytes(32),
    )
    server, peer = keys[-1], verdicts.Peer(f"10.0.0.{SERVERS}")
    nonce = bytes(range(16))
    request = load_query.Request(load_query.Op.STATS, nonce)
    record = _record(server)

    plain = load_query.reply_to(request, load_query.REQUEST_SIZE_BYTES, record, _NOW)
    signed = signed_reply.reply_to(request, load_query.REQUEST_SIZE_BYTES, record, _NOW, key=server)
    with_cert = signed_reply.reply_to(
        request,
        signed_reply.CERT_REQUEST_SIZE_BYTES,
        _record(certified),
        _NOW,
        key=certified,
        certificate=certificate,
    )
    assert plain is not None and signed is not None and with_cert is not None

    def check(datagram: bytes, at: verdicts.Peer) -> verdicts.Verdict:
        verdict = verdicts.check_reply(
            signed_reply.decode(datagram), nonce=nonce, peer=at, known_hosts=known, now=_NOW
        )
        assert verdict.accepted, verdict.detail
        return verdict

    instance, host = "app30 [52:54:00:12:34:56]._ltsp._tcp.local.", "app30-525400123456.local."
    announced = signing.sign_txt(
        txt.encode(record), instance=instance, host=host, ssh_port=22, key=server, now=_NOW
    )

    def check_txt() -> verdicts.Verdict:
        verdict = verdicts.check_txt(
            announced, instance=instance, host=host, peer=peer, known_hosts=known, now=_NOW
        )
        assert verdict.accepted, verdict.detail
        return verdict

    measured = {
        "unsigned reply (baseline)": _microseconds(
            lambda: load_query.reply_to(request, load_query.REQUEST_SIZE_BYTES, record, _NOW), iterations
        ),
        "sign a reply": _microseconds(
            lambda: signed_reply.reply_to(request, load_query.REQUEST_SIZE_BYTES, record, _NOW, key=server),
            iterations,
        ),
        "check a reply (listed key)": _microseconds(lambda: check(signed, peer), iterations),
        "check a reply (CA certificate)": _microseconds(
            lambda: check(with_cert, verdicts.Peer("10.0.1.6")), iterations
        ),
        "sign a TXT record": _microseconds(
            lambda: signing.sign_txt(
                txt.encode(record), instance=instance, host=host, ssh_port=22, key=server, now=_NOW
            ),
            iterations,
        ),
        "check a TXT record (listed key)": _microseconds(check_txt, iterations),
    }
    figures = []
    for name, (median_us, p95_us) in measured.items():
        target = SIGN_TARGET_US if name.startswith(("sign", "unsigned")) else CHECK_TARGET_US
        detail = f"p95 {p95_us:.0f} us, {iterations} iterations, known_hosts of {SERVERS} servers and a CA"
        if name.startswith("sign a reply"):
            detail += f"; {len(signed)} bytes vs {len(plain)} unsigned"
        if "certificate" in name:
            detail += f"; {len(with_cert)} bytes with the certificate"
        figures.append(Figure(f"{name}, median", median_us, "us", target, "<=", detail))
    return figures


if __name__ == "__main__":
    for figure in run():
        print(
            f"{figure.name}: {figure.value:.1f} {figure.unit} (target {figure.comparison} {figure.target:g}; "
            f"{figure.detail})"
        )
