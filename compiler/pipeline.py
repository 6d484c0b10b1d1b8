"""The compiler's one way through: AST -> resolved model -> checks -> plan."""
from __future__ import annotations

from lanes.compiler.domains import check_domains
from lanes.compiler.gates import check_rollback_gates
from lanes.compiler.model import Model
from lanes.compiler.planfile import Plan
from lanes.compiler.planner import plan_model as _plan_model
from lanes.compiler.resolve import resolve
from lanes.compiler.workspace_check import check_workspaces
from lanes.dsl.ast import Workflow
from lanes.dsl.diagnostics import Diagnostic
from lanes.dsl.source import Source


def analyse(workflow: Workflow, source: Source | None) -> tuple[Model, list[Diagnostic]]:
    """Every check after parsing: references, cycles, routing, workspaces, gates, then the
    domain proof."""
    model, diags = resolve(workflow, source)
    return model, [*diags, *check_workspaces(model), *check_rollback_gates(model), *check_domains(model)]


def plan_model(model: Model) -> Plan:
    return _plan_model(model)
