"""The compiler's one way through: AST -> expanded AST -> resolved model -> checks -> plan."""
from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from lanes.compiler.bash_check import checking_commands
from lanes.compiler.domains import check_domains
from lanes.compiler.gates import check_rollback_gates
from lanes.compiler.model import Model
from lanes.compiler.resolve import resolve
from lanes.compiler.workspace_check import check_workspaces
from lanes.dsl.ast import Workflow
from lanes.dsl.diagnostics import Diagnostic
from lanes.dsl.expand import expand_workflow, explain, pools
from lanes.dsl.frozen import replace
from lanes.dsl.source import Source

if TYPE_CHECKING:                                # the planner is imported only when a plan is made
    from lanes.compiler.planfile import Plan


def analyse(workflow: Workflow, source: Source | None,
            checked_before: Collection[str] = ()) -> tuple[Model, list[Diagnostic]]:
    """Every check after parsing: for_each expanded first, then references, cycles,
    routing, commands bash cannot parse (E104, parsed with `bash -n`, never run),
    workspaces, gates, then the domain proof. A diagnostic about an expanded
    task points at its template and names its item."""
    expanded, origins, diags = expand_workflow(workflow)
    # bash reads while the rest is checked; not the commands of nodes `checked_before`
    # (those of a run that `lanes add` extends)
    commands = checking_commands(expanded, source, checked_before)
    model, more = resolve(expanded, source)
    if origins:
        model = replace(model, pools=pools(origins))
    rest = [*check_workspaces(model), *check_rollback_gates(model), *check_domains(model)]
    checks = [*diags, *more, *commands(), *rest]
    return model, explain(checks, origins)


def plan_model(model: Model) -> Plan:
    from lanes.compiler.planner import plan_model as plan
    return plan(model)
