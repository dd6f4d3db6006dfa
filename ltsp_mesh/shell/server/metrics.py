"""Prometheus metrics for `/metrics` on the broker's port, written with prometheus_client.

Every figure is read at scrape time from what the daemon already keeps (its record, its
counters, the broker's view of the mesh, the answer times): nothing is kept twice, and a scrape
costs one pass over them, no I/O. prometheus_client is imported at the first scrape (in a
thread, see `load`), so a site without Prometheus never pays its 2 MB. Names follow Prometheus's conventions: the
`ltsp_mesh_` prefix, base units (seconds, ratios), `_total` on counters; `METRICS` is the
documented list (docs/monitoring.md shows it; the tests parse a scrape against it).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from ltsp_mesh import __version__
from ltsp_mesh.core.record import ServerRecord, ServerState
from ltsp_mesh.core.view.mesh import ServerView
from ltsp_mesh.core.view.page import STATUS_CLASSES

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
# The broker answers in 1-6 ms on a LAN (bench broker); a refresh waited for adds up to 150 ms.
ANSWER_BUCKETS_S: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0)
# Picks are counted per server name; a name that is no longer in the mesh is forgotten first
# once this many are kept (live_view.MAX_INSTANCES bounds the mesh itself).
MAX_PICKED_SERVERS: Final = 512


@dataclass(frozen=True, slots=True)
class Documented:
    """One documented metric: its name as scraped, type, labels and help."""

    name: str
    kind: str  # gauge, counter, histogram
    labels: tuple[str, ...]
    help: str


METRICS: Final = (
    Documented("ltsp_mesh_build_info", "gauge", ("version",), "Always 1; the ltsp-mesh version as a label."),
    Documented("ltsp_mesh_sessions", "gauge", (), "Sessions on this server."),
    Documented("ltsp_mesh_pending_logins", "gauge", (), "Claimed logins whose session has not appeared yet."),
    Documented(
        "ltsp_mesh_capacity", "gauge", (), "This server's capacity weight (CAPACITY, default its CPUs)."
    ),
    Documented("ltsp_mesh_fill_ratio", "gauge", (), "(sessions + pending) / capacity of this server."),
    Documented("ltsp_mesh_load_per_cpu", "gauge", (), "1-minute load average per logical CPU."),
    Documented("ltsp_mesh_memory_used_ratio", "gauge", (), "Memory in use (not available), 0 to 1."),
    Documented("ltsp_mesh_swapping", "gauge", (), "1 while this server is paging."),
    Documented(
        "ltsp_mesh_draining", "gauge", (), "1 while this server takes no new logins (ltsp-mesh drain on)."
    ),
    Documented("ltsp_mesh_txt_updates_total", "counter", (), "TXT record updates announced over mDNS."),
    Documented("ltsp_mesh_broker_requests_total", "counter", (), "Requests read on the broker's path."),
    Documented(
        "ltsp_mesh_http_responses_total",
        "counter",
        ("code",),
        "Answers on the broker's port, pages included, by status.",
    ),
    Documented(
        "ltsp_mesh_broker_refused_total",
        "counter",
        ("reason",),
        "Broker requests refused before a decision, by reason.",
    ),
    Documented(
        "ltsp_mesh_broker_answer_seconds",
        "histogram",
        (),
        "Time from a thin client's request read to its answer decided (a refresh waited for included).",
    ),
    Documented(
        "ltsp_mesh_broker_picks_total", "counter", ("server",), "Times the broker listed a server first."
    ),
    Documented(
        "ltsp_mesh_broker_refreshes_total", "counter", (), "Direct-query refreshes of the broker's view."
    ),
    Documented(
        "ltsp_mesh_broker_view_age_seconds", "gauge", (), "Age of the broker's figures at the scrape."
    ),
    Documented(
        "ltsp_mesh_broker_claims_total",
        "counter",
        ("outcome",),
        "Claims relayed for thin clients, by outcome.",
    ),
    Documented(
        "ltsp_mesh_claims_received_total", "counter", ("outcome",), "Claims this server received, by verdict."
    ),
    Documented("ltsp_mesh_datagrams_dropped_total", "counter", ("reason",), "Datagrams dropped, by reason."),
    Documented(
        "ltsp_mesh_trust_rejections_total", "counter", ("reason",), "Trust checks failed, by what failed."
    ),
    Documented(
        "ltsp_mesh_mesh_servers",
        "gauge",
        ("status",),
        "Servers of the mesh as this broker sees them, by status.",
    ),
    Documented(
        "ltsp_mesh_mesh_fair_share_ratio", "gauge", (), "Sum of sessions and pending over sum of capacity."
    ),
    Documented(
        "ltsp_mesh_server_status", "gauge", ("server", "status"), "1 for each mesh server's status now."
    ),
    Documented("ltsp_mesh_server_sessions", "gauge", ("server",), "Sessions of each mesh server."),
    Documented(
        "ltsp_mesh_server_pending_logins", "gauge", ("server",), "Pending logins of each mesh server."
    ),
    Documented("ltsp_mesh_server_capacity", "gauge", ("server",), "Capacity of each mesh server."),
    Documented("ltsp_mesh_server_fill_ratio", "gauge", ("server",), "Fill of each mesh server."),
    Documented("ltsp_mesh_server_load_per_cpu", "gauge", ("server",), "Load per CPU of each mesh server."),
    Documented(
        "ltsp_mesh_page_requests_total", "counter", ("page",), "Requests for the monitoring pages, by page."
    ),
)

# Counter keys of the daemon -> (metric, label value). Fixed label sets, each exposed at 0 too,
# so that an alerting rule finds the series before the first event.
REFUSED: Final = {
    "broker_rate_limited": "rate_limited",
    "broker_read_timeouts": "read_timeout",
    "broker_bad_http": "bad_http",
    "broker_connections_over_limit": "too_many_connections",
    "broker_refused_400": "bad_parameter",
    "broker_refused_404": "unknown_path",
    "broker_refused_405": "method",
    "broker_refused_414": "target_too_long",
}
BROKER_CLAIMS: Final = {
    "broker_claims_sent": "sent",
    "broker_claims_answered": "answered",
    "broker_claims_unanswered": "unanswered",
}
CLAIMS_RECEIVED: Final = {
    "claims_new": "new",
    "claims_renewed": "renewed",
    "claims_refused_full": "refused_full",
    "claims_refused_draining": "refused_draining",
    "claims_rate_limited": "rate_limited",
    "claims_relay_malformed": "relay_malformed",
    "claims_relay_untrusted": "relay_untrusted",
    "claims_settled": "settled",
}
DROPPED: Final = {
    "udp_dropped_malformed": "query_malformed",
    "udp_dropped_unpadded": "query_unpadded",
    "udp_dropped_rate_limited": "query_rate_limited",
    "mdns_dropped": "mdns",
    "query_replies_malformed": "reply_malformed",
    "query_replies_unexpected": "reply_unexpected",
    "broker_claim_replies_malformed": "claim_reply_malformed",
    "broker_claim_replies_unexpected": "claim_reply_unexpected",
}
TRUST: Final = {
    "broker_untrusted": "server_txt",
    "query_replies_untrusted": "query_reply",
    "broker_claim_replies_untrusted": "claim_reply",
    "claims_relay_untrusted": "relayed_claim",
}
# Counters that share those prefixes but are no verdict: `hosts --hook` counts the claims it sent.
NOT_LABELLED: Final = frozenset({"claims_sent"})
PAGES: Final = ("status", "metrics", "status_json", "decisions_json")


@dataclass
class AnswerTimes:
    """A histogram of the broker's answer times, in seconds (cumulative buckets on export)."""

    bounds: tuple[float, ...] = ANSWER_BUCKETS_S
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf

    def observe(self, seconds: float) -> None:
        """Count one answer that took `seconds`."""
        if not math.isfinite(seconds) or seconds < 0:
            return
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative (le, count) pairs, +Inf last."""
        result, running = [], 0
        for bound, count in zip([*(repr(b) for b in self.bounds), "+Inf"], self.counts, strict=True):
            running += count
            result.append((bound, float(running)))
        return result


@dataclass(frozen=True, slots=True)
class MetricsInput:
    """What one scrape shows."""

    own: ServerRecord
    counters: Mapping[str, int]
    picks: Mapping[str, int]
    answer_times: AnswerTimes
    rows: Sequence[ServerView]
    fair_share: float | None
    view_age_s: float | None
    pages: Mapping[str, int]


def _families(data: MetricsInput) -> Iterator[Metric]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    docs = {m.name: m for m in METRICS}

    def gauge(name: str, value: float | None = None, labels: Sequence[str] = ()) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, docs[name].help, value=value, labels=labels or None)

    def counter(name: str, value: float | None = None, labels: Sequence[str] = ()) -> CounterMetricFamily:
        return CounterMetricFamily(
            name.removesuffix("_total"), docs[name].help, value=value, labels=labels or None
        )

    def labelled(
        name: str, table: Mapping[str, str], label: str, more: tuple[str, str] | None = None
    ) -> CounterMetricFamily:
        family = counter(name, labels=(label,))
        values: dict[str, int] = dict.fromkeys(table.values(), 0)
        for key, value in table.items():
            values[value] += data.counters.get(key, 0)
        if more is not None:  # counters named by a verdict's value: new verdicts show up too
            prefix, label_prefix = more
            for key, count in data.counters.items():
                if key.startswith(prefix) and key not in table and key not in NOT_LABELLED:
                    values[label_prefix + key.removeprefix(prefix)] = count
        for value, count in values.items():
            family.add_metric([value], count)
        return family

    own, counters = data.own, data.counters
    info = gauge("ltsp_mesh_build_info", labels=("version",))
    info.add_metric([__version__], 1)
    yield info
    yield gauge("ltsp_mesh_sessions", own.sessions)
    yield gauge("ltsp_mesh_pending_logins", own.pending)
    yield gauge("ltsp_mesh_capacity", own.capacity)
    yield gauge("ltsp_mesh_fill_ratio", own.fill)
    yield gauge("ltsp_mesh_load_per_cpu", own.load_per_cpu)
    yield gauge("ltsp_mesh_memory_used_ratio", own.mem_percent / 100)
    yield gauge("ltsp_mesh_swapping", int(own.swapping))
    yield gauge("ltsp_mesh_draining", int(own.state is ServerState.DRAIN))
    yield counter("ltsp_mesh_txt_updates_total", counters.get("txt_updates", 0))
    yield counter("ltsp_mesh_broker_requests_total", counters.get("broker_requests", 0))
    responses = counter("ltsp_mesh_http_responses_total", labels=("code",))
    codes = {"200": 0} | {
        key.removeprefix("broker_answered_"): value
        for key, value in counters.items()
        if key.startswith("broker_answered_") and key.removeprefix("broker_answered_").isdigit()
    }
    for code, value in sorted(codes.items()):
        responses.add_metric([code], value)
    yield responses
    yield labelled("ltsp_mesh_broker_refused_total", REFUSED, "reason")
    times = data.answer_times
    yield HistogramMetricFamily(
        "ltsp_mesh_broker_answer_seconds",
        docs["ltsp_mesh_broker_answer_seconds"].help,
        buckets=times.buckets(),
        sum_value=times.total,
    )
    picks = counter("ltsp_mesh_broker_picks_total", labels=("server",))
    every = dict.fromkeys((r.name for r in data.rows if r.response_ms is not None), 0) | dict(data.picks)
    for server, value in sorted(every.items()):
        picks.add_metric([server], value)
    yield picks
    yield counter("ltsp_mesh_broker_refreshes_total", counters.get("broker_refreshes", 0))
    age = data.view_age_s
    yield gauge("ltsp_mesh_broker_view_age_seconds", age if age is not None else math.nan)
    yield labelled("ltsp_mesh_broker_claims_total", BROKER_CLAIMS, "outcome")
    yield labelled("ltsp_mesh_claims_received_total", CLAIMS_RECEIVED, "outcome", ("claims_", ""))
    yield labelled("ltsp_mesh_datagrams_dropped_total", DROPPED, "reason", ("udp_dropped_", "query_"))
    yield labelled("ltsp_mesh_trust_rejections_total", TRUST, "reason")
    servers = gauge("ltsp_mesh_mesh_servers", labels=("status",))
    for label in STATUS_CLASSES:
        servers.add_metric([label], sum(1 for r in data.rows if r.status == label))
    yield servers
    fair = data.fair_share
    yield gauge("ltsp_mesh_mesh_fair_share_ratio", fair if fair is not None else math.nan)
    status = gauge("ltsp_mesh_server_status", labels=("server", "status"))
    per_server = {
        name: gauge(name, labels=("server",))
        for name in (
            "ltsp_mesh_server_sessions",
            "ltsp_mesh_server_pending_logins",
            "ltsp_mesh_server_capacity",
            "ltsp_mesh_server_fill_ratio",
            "ltsp_mesh_server_load_per_cpu",
        )
    }
    for row in data.rows:
        status.add_metric([row.name, row.status], 1)
        r = row.record
        if r is None or row.response_ms is None:
            continue  # Down, Untrusted, Unmeasured: no figures it answered
        figures: tuple[tuple[str, float], ...] = (
            ("ltsp_mesh_server_sessions", r.sessions),
            ("ltsp_mesh_server_pending_logins", r.pending),
            ("ltsp_mesh_server_capacity", r.capacity),
            ("ltsp_mesh_server_fill_ratio", r.fill),
            ("ltsp_mesh_server_load_per_cpu", r.load_per_cpu),
        )
        for name, figure in figures:
            per_server[name].add_metric([row.name], figure)
    yield status
    yield from per_server.values()
    pages = counter("ltsp_mesh_page_requests_total", labels=("page",))
    for page in PAGES:
        pages.add_metric([page], data.pages.get(page, 0))
    yield pages


def load() -> None:
    """Import prometheus_client (ImportError when it is not installed). The daemon does it in
    a thread at the first scrape: the import takes some 70 ms the broker must not wait for."""
    import prometheus_client.core
    import prometheus_client.exposition
    import prometheus_client.registry  # noqa: F401


def exposition(data: MetricsInput) -> bytes:
    """The scrape's body in the text exposition format (version 0.0.4)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.registry import Collector

    class Scrape(Collector):
        def collect(self) -> Iterator[Metric]:
            return _families(data)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Scrape())
    return generate_latest(registry)
