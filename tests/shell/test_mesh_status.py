"""shell/broker/mesh_status.py: the mesh as the broker sees it, for the page and /metrics."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ltsp_mesh.core.broker.view import MeshView
from ltsp_mesh.core.discovery.services import Answered, Discovered
from ltsp_mesh.shell.broker import mesh_status
from tests.records import record
from tests.unit.fleet import discovered, server


@dataclass
class Policy:
    refused: dict[str, str] = field(default_factory=dict)

    def ask(self, server: Discovered, address: str, now: float) -> str:
        return self.refused.get(server.label, "")


@dataclass
class Live:
    """What mesh_status reads of a LiveView."""

    view: MeshView
    discovered: dict[str, Discovered]
    policy: Policy = field(default_factory=Policy)
    networks: list[str] = field(default_factory=list)


def announced(name: str, **figures: Any) -> Discovered:
    return replace(discovered(name), announced=record(server_id=name, **figures))


def live(
    answers: list[Answered], others: tuple[Discovered, ...] = (), refreshed_at: float | None = 0.0, **kw: Any
) -> Any:
    view = MeshView()
    if refreshed_at is not None:
        view.refreshed([(a.discovered.instance, a) for a in answers], refreshed_at)
    known = {a.discovered.instance: a.discovered for a in answers} | {d.instance: d for d in others}
    return Live(view, known, **kw)


def statuses(look: mesh_status.MeshStatus) -> dict[str, str]:
    return {row.name: row.status for row in look.rows}


def test_each_server_gets_its_status_from_the_view_and_the_browse() -> None:
    mesh = live(
        [server("pa"), server("pbusy", load=3.0)],
        (announced("pdown"), discovered("pnotxt"), announced("progue")),
        policy=Policy({"progue": "no key for its address"}),
    )
    look = mesh_status.look(mesh, 0.5, 1.0)
    assert statuses(look) == {
        "pa": "Idle",
        "pbusy": "Busy",
        "pdown": "Down",
        "pnotxt": "Unmeasured",
        "progue": "Untrusted",
    }
    rogue = next(r for r in look.rows if r.name == "progue")
    assert rogue.reasons == ("no key for its address",) and rogue.record is None


def test_the_same_figures_recommend_the_same_server_at_every_look() -> None:
    mesh = live([server(f"p{i}") for i in range(6)])
    firsts = {mesh_status.look(mesh, 0.5, 1.0).rows[0].name for _ in range(20)}
    assert len(firsts) == 1


def test_the_fair_share_is_the_meshs_sessions_over_its_capacity() -> None:
    mesh = live([server("pa", sessions=2, capacity=4), server("pb", sessions=1, pending=1, capacity=12)])
    assert mesh_status.look(mesh, 0.5, 1.0).fair_share == 4 / 16


def test_a_view_never_refreshed_has_no_age() -> None:
    assert mesh_status.look(live([], refreshed_at=None), 0.5, 1.0).view_age_s is None


def test_the_history_takes_fresh_figures_from_the_view() -> None:
    mesh = live([server("pa", sessions=4, capacity=8)], refreshed_at=10.0)
    fills, fair = mesh_status.fills(mesh, 11.0, 1.0)
    assert fills == {"pa": 0.5} and fair == 0.5


def test_the_history_of_an_idle_broker_takes_the_trusted_txt_records() -> None:
    mesh = live(
        [server("pa", sessions=4, capacity=8)],
        (announced("pb", sessions=2, capacity=4), announced("progue", sessions=0, capacity=100)),
        refreshed_at=0.0,
        policy=Policy({"progue": "unsigned"}),
    )
    mesh.discovered[server("pa").discovered.instance] = announced("pa", sessions=1, capacity=8)
    fills, _ = mesh_status.fills(mesh, 0.0 + mesh_status.VIEW_FRESH_FOR_HISTORY_S + 1, 1.0)
    assert fills == {"pa": 1 / 8, "pb": 0.5}
