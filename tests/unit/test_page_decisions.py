"""core/view/decisions.py: what the broker told each thin client, and why."""

from __future__ import annotations

from ltsp_mesh.core.broker import request
from ltsp_mesh.core.broker.request import BrokerRequest
from ltsp_mesh.core.discovery.services import Answered
from ltsp_mesh.core.record import ServerState
from ltsp_mesh.core.view import decisions
from ltsp_mesh.core.view.decisions import DecisionLog
from tests.unit.fleet import server


def ask(query: str = "") -> BrokerRequest:
    return request.decode(b"GET", b"/ltsp-mesh/v1/hosts" + (b"?" + query.encode() if query else b""))


def view(*answers: Answered) -> list[tuple[str, Answered]]:
    return [(a.discovered.instance, a) for a in answers]


def explain(
    req: BrokerRequest, servers: list[tuple[str, Answered]], hosts: list[str], **kw: object
) -> decisions.Decision:
    return decisions.explain(req, servers, hosts, client="10.1.0.9", status=200, at=0.0, **kw)  # type: ignore[arg-type]


def test_the_listed_servers_keep_the_order_the_client_got() -> None:
    a, b = server("pa", sessions=4), server("pb", sessions=1)
    decision = explain(ask(), view(a, b), [b.address, a.address])
    assert [(h.name, h.address) for h in decision.listed] == [("pb", b.address), ("pa", a.address)]
    assert decision.listed[0].fill == b.record.fill


def test_a_draining_server_is_skipped_as_draining() -> None:
    a, d = server("pa"), server("pd", state=ServerState.DRAIN)
    decision = explain(ask(), view(a, d), [a.address])
    assert [(s.name, s.why) for s in decision.skipped] == [("pd", "draining")]


def test_filtered_says_which_limit_a_server_is_over() -> None:
    a = server("pa")
    hot, swap = server("phot", load=3.5), server("pswap", swapping=True)
    decision = explain(ask("LDM_LB_ALGORITHM=filtered"), view(a, hot, swap), [a.address])
    why = {s.name: s.why for s in decision.skipped}
    assert why["phot"] == "load 3.50/CPU over LDM_LB_MAX_LOAD=2"
    assert why["pswap"] == "swapping (LDM_LB_IGNORE_SWAPPING)"


def test_a_server_cut_by_ldm_lb_hosts_says_so() -> None:
    a, b = server("pa"), server("pb")
    decision = explain(ask("LDM_LB_HOSTS=1"), view(a, b), [a.address])
    assert [(s.name, s.why) for s in decision.skipped] == [("pb", "beyond LDM_LB_HOSTS=1")]


def test_servers_outside_the_view_are_named_as_absent() -> None:
    a = server("pa")
    decision = explain(ask(), view(a), [a.address], absent=["pdead._ltsp._tcp.local."])
    assert [s.name for s in decision.skipped] == ["pdead"] and "live view" in decision.skipped[0].why


def test_a_server_listed_under_another_of_its_addresses_counts_as_listed() -> None:
    a = server("pa")
    two_nics = Answered(
        discovered=type(a.discovered)(
            a.discovered.instance, a.discovered.host, 22, (a.address, "192.168.9.4"), None
        ),
        address=a.address,
        record=a.record,
        response_ms=1.0,
    )
    decision = explain(ask(), view(two_nics), ["192.168.9.4"])
    assert decision.listed[0].address == "192.168.9.4" and decision.skipped == ()


def test_one_line_for_the_journal_names_client_list_and_skips() -> None:
    a, d = server("pa"), server("pd", state=ServerState.DRAIN)
    line = explain(ask("mac=02:00:00:00:00:01"), view(a, d), [a.address]).line()
    assert "\n" not in line
    assert line.startswith("client 10.1.0.9 (02:00:00:00:00:01) least-loaded: 200 pa ")
    assert line.endswith("skipped pd: draining")


def decided(at: float, client: str, mac: str | None = None) -> decisions.Decision:
    return decisions.Decision(at, client, mac, "least-loaded", 200, (), ())


def test_the_log_shows_the_newest_first_within_its_bound() -> None:
    log = DecisionLog(max_recent=3)
    for i in range(5):
        log.add(decided(float(i), f"10.0.0.{i}"))
    assert [d.client for d in log.recent()] == ["10.0.0.4", "10.0.0.3", "10.0.0.2"]


def test_every_clients_latest_decision_is_kept_after_the_recent_ones_moved_on() -> None:
    log = DecisionLog(max_recent=2)
    log.add(decided(1.0, "10.0.0.1", "02:00:00:00:00:01"))
    log.add(decided(2.0, "10.0.0.1", "02:00:00:00:00:01"))
    for i in range(10):
        log.add(decided(3.0 + i, f"10.0.1.{i}"))
    assert log.of("10.0.0.1") == decided(2.0, "10.0.0.1", "02:00:00:00:00:01")
    assert log.of("02:00:00:00:00:01") == log.of("10.0.0.1")
    assert log.of("10.0.0.9") is None


def test_the_clients_beyond_the_bound_are_forgotten_least_recent_first() -> None:
    log = DecisionLog(max_clients=2)
    for client in ("10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.3"):
        log.add(decided(0.0, client))
    assert len(log) == 2 and log.of("10.0.0.2") is None and log.of("10.0.0.1") is not None


def test_a_long_list_keeps_its_first_servers_and_counts_the_rest() -> None:
    fleet = [server(f"p{i:02d}") for i in range(decisions.MAX_LISTED_KEPT + 3)]
    decision = explain(ask(), view(*fleet), [a.address for a in fleet])
    assert [h.name for h in decision.listed] == [
        a.discovered.label for a in fleet[: decisions.MAX_LISTED_KEPT]
    ]
    assert decision.more_listed == 3 and decision.line().count(" and 3 more") == 1


def test_the_json_form_is_plain_values() -> None:
    a = server("pa")
    document = explain(ask(), view(a), [a.address]).to_json()
    assert document["listed"] == [{"name": "pa", "address": a.address, "fill": 0.0}]
    assert document["more_listed"] == 0
    assert document["status"] == 200 and document["mac"] is None
