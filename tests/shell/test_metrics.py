"""shell/server/metrics.py: the exposition, read back by prometheus_client's own parser."""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from ltsp_mesh.core.config.client_settings import ClientSettings
from ltsp_mesh.core.record import ServerState
from ltsp_mesh.core.view import mesh
from ltsp_mesh.shell.server import metrics
from ltsp_mesh.shell.server.metrics import METRICS, AnswerTimes, MetricsInput
from tests.records import record
from tests.unit.fleet import discovered, server

MONITORING_DOC = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"


def scrape(**changes: object) -> dict[str, tuple[str, list[Sample]]]:
    rows = mesh.build(
        [server("pa", sessions=2, capacity=4), server("pb", state=ServerState.DRAIN)],
        [discovered("pdown")],
        [],
        settings=ClientSettings(),
        mac="00:00:00:00:00:00",
        rng=random.Random(0),
    )
    times = AnswerTimes()
    for seconds in (0.0004, 0.003, 0.003, 0.2, 7.0):
        times.observe(seconds)
    data = MetricsInput(
        own=record(sessions=5, pending=2, capacity=8, load_per_cpu=0.75, mem_percent=61),
        counters=Counter(
            {
                "broker_requests": 9,
                "broker_answered_200": 7,
                "broker_answered_429": 1,
                "udp_dropped_malformed": 4,
                "mdns_dropped": 1,
                "broker_untrusted": 3,
                "claims_relay_untrusted": 2,
                "txt_updates": 6,
            }
        ),
        picks=Counter({"pa": 5}),
        answer_times=times,
        rows=rows,
        fair_share=0.25,
        view_age_s=0.4,
        pages=Counter({"metrics": 1}),
    )
    text = metrics.exposition(replace(data, **changes)).decode()  # type: ignore[arg-type]
    return {f.name: (f.type, f.samples) for f in text_string_to_metric_families(text)}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    return next(s.value for s in samples if s.name == name and s.labels == labels)


def _family(name: str, kind: str) -> str:
    return name.removesuffix("_total") if kind == "counter" else name


@pytest.mark.parametrize("documented", METRICS, ids=lambda m: m.name)
def test_every_documented_metric_is_scraped_with_its_type_and_labels(documented: metrics.Documented) -> None:
    families = scrape()
    kind, samples = families[_family(documented.name, documented.kind)]
    assert kind == documented.kind
    assert samples, f"{documented.name} has no sample"
    for sample in samples:
        assert set(sample.labels) - {"le"} == set(documented.labels)


def test_this_servers_figures_are_its_record() -> None:
    families = scrape()
    assert value(families["ltsp_mesh_sessions"][1], "ltsp_mesh_sessions") == 5
    assert value(families["ltsp_mesh_pending_logins"][1], "ltsp_mesh_pending_logins") == 2
    assert value(families["ltsp_mesh_capacity"][1], "ltsp_mesh_capacity") == 8
    assert value(families["ltsp_mesh_fill_ratio"][1], "ltsp_mesh_fill_ratio") == pytest.approx(7 / 8)
    assert value(families["ltsp_mesh_load_per_cpu"][1], "ltsp_mesh_load_per_cpu") == 0.75
    assert value(families["ltsp_mesh_memory_used_ratio"][1], "ltsp_mesh_memory_used_ratio") == 0.61


def test_counters_are_exposed_under_their_reasons() -> None:
    families = scrape()
    dropped = families["ltsp_mesh_datagrams_dropped"][1]
    assert value(dropped, "ltsp_mesh_datagrams_dropped_total", reason="query_malformed") == 4
    assert value(dropped, "ltsp_mesh_datagrams_dropped_total", reason="mdns") == 1
    assert value(dropped, "ltsp_mesh_datagrams_dropped_total", reason="query_unpadded") == 0
    trust = families["ltsp_mesh_trust_rejections"][1]
    assert value(trust, "ltsp_mesh_trust_rejections_total", reason="server_txt") == 3
    assert value(trust, "ltsp_mesh_trust_rejections_total", reason="relayed_claim") == 2
    responses = families["ltsp_mesh_http_responses"][1]
    assert value(responses, "ltsp_mesh_http_responses_total", code="429") == 1


def test_the_answer_time_histogram_is_cumulative() -> None:
    _, samples = scrape()["ltsp_mesh_broker_answer_seconds"]
    assert value(samples, "ltsp_mesh_broker_answer_seconds_bucket", le="0.001") == 1
    assert value(samples, "ltsp_mesh_broker_answer_seconds_bucket", le="0.005") == 3
    assert value(samples, "ltsp_mesh_broker_answer_seconds_bucket", le="0.25") == 4
    assert value(samples, "ltsp_mesh_broker_answer_seconds_bucket", le="+Inf") == 5
    assert value(samples, "ltsp_mesh_broker_answer_seconds_count") == 5
    assert value(samples, "ltsp_mesh_broker_answer_seconds_sum") == pytest.approx(7.2064)


def test_the_mesh_is_counted_by_status_and_each_server_has_its_figures() -> None:
    families = scrape()
    servers = families["ltsp_mesh_mesh_servers"][1]
    assert {s.labels["status"]: s.value for s in servers if s.value} == {"Idle": 1, "Draining": 1, "Down": 1}
    status = families["ltsp_mesh_server_status"][1]
    assert {s.labels["server"]: s.labels["status"] for s in status} == {
        "pa": "Idle",
        "pb": "Draining",
        "pdown": "Down",
    }
    sessions = families["ltsp_mesh_server_sessions"][1]
    assert {s.labels["server"]: s.value for s in sessions} == {"pa": 2, "pb": 0}  # Down has no figures
    picks = families["ltsp_mesh_broker_picks"][1]
    assert {s.labels["server"]: s.value for s in picks} == {"pa": 5, "pb": 0}


def test_a_view_never_refreshed_has_no_age() -> None:
    _, samples = scrape(view_age_s=None, fair_share=None)["ltsp_mesh_broker_view_age_seconds"]
    assert samples[0].value != samples[0].value  # NaN: Prometheus's "no value"


def test_an_answer_time_that_is_no_duration_is_not_counted() -> None:
    times = AnswerTimes()
    times.observe(-1.0)
    times.observe(float("nan"))
    assert sum(times.counts) == 0 and times.total == 0


def test_docs_list_exactly_the_metrics_scraped() -> None:
    documented = set(re.findall(r"^\| `(ltsp_mesh_[a-z_]+)`", MONITORING_DOC.read_text(), re.MULTILINE))
    assert documented == {m.name for m in METRICS}


def test_a_new_drop_reason_or_claim_verdict_shows_up_under_its_name() -> None:
    counters = Counter({"udp_dropped_unresolved": 3, "claims_without_cookie": 2, "claims_sent": 9})
    families = scrape(counters=counters)
    dropped = families["ltsp_mesh_datagrams_dropped"][1]
    assert value(dropped, "ltsp_mesh_datagrams_dropped_total", reason="query_unresolved") == 3
    claims = families["ltsp_mesh_claims_received"][1]
    assert value(claims, "ltsp_mesh_claims_received_total", outcome="without_cookie") == 2
    assert not [s for s in claims if s.labels["outcome"] == "sent"]
