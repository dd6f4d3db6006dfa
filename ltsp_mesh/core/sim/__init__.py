"""The login-storm simulator: a virtual clock, seeded chance, and the hook's own ranking functions."""

from __future__ import annotations

from ltsp_mesh.core.sim.anchors import ANCHORS, Anchor
from ltsp_mesh.core.sim.broker import BROKER_MODES, ORACLE
from ltsp_mesh.core.sim.compare import Report, Row, Target, benchmark, broker_targets, over_oracle, targets
from ltsp_mesh.core.sim.metrics import Metrics, Series, measure, series
from ltsp_mesh.core.sim.model import CONTENDERS, DEFAULT_CONTENDER, MESH_ALGORITHMS, Login, Run, simulate
from ltsp_mesh.core.sim.plan import Plan, Step, plan
from ltsp_mesh.core.sim.scenarios import SCENARIOS, Scenario, ServerSpec

__all__ = [
    "ANCHORS",
    "BROKER_MODES",
    "CONTENDERS",
    "DEFAULT_CONTENDER",
    "MESH_ALGORITHMS",
    "ORACLE",
    "SCENARIOS",
    "Anchor",
    "Login",
    "Metrics",
    "Plan",
    "Report",
    "Row",
    "Run",
    "Scenario",
    "Series",
    "ServerSpec",
    "Step",
    "Target",
    "benchmark",
    "broker_targets",
    "measure",
    "over_oracle",
    "plan",
    "series",
    "simulate",
    "targets",
]
