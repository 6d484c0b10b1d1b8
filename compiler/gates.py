"""Checks on gates. W402: an `on_fail: rollback` gate with nothing to undo.

A failed rollback gate undoes the tasks upstream of it since the previous gate: the
walk from its needs goes through tasks and stops at gates (`rollback_targets` in
runtime/run.py). When no task on that walk has a `rollback`, the gate can only
fail the run, the same as `on_fail: stop`, which is almost certainly not what its
author meant. The warning is for shared mode, where those commands are all a rollback
has: a task in `workspace: worktree` (SPEC section 8) had its work merged, and the
rollback resets the integration branch to before that merge, so it always has
something to undo.
"""
from __future__ import annotations

from lanes.compiler.model import Model
from lanes.dsl.diagnostics import WARNING, Diagnostic, Related


def undoable(model: Model) -> dict[str, bool]:
    """task id -> whether it or a task upstream of it, before any gate, has a `rollback`
    or runs in a worktree (whose merge a rollback undoes). One pass in the model's
    topological order (Model.graph; its needs are acyclic: cycles were cut)."""
    nodes = model.nodes
    out: dict[str, bool] = {}
    for i in model.graph.order:
        n = nodes[i]
        if n.is_task:
            out[n.id] = (n.rollback is not None or n.workspace == "worktree"
                         or any(out.get(up, False) for up in n.needs))
    return out


def check_rollback_gates(model: Model) -> list[Diagnostic]:
    gates = [n for n in model.nodes if not n.is_task and n.on_fail == "rollback"]
    if not gates:
        return []
    found = undoable(model)
    diags = []
    for g in gates:
        if any(found.get(up, False) for up in g.needs):
            continue
        diags.append(Diagnostic(
            "W402", f"gate '{g.id}' has on_fail: rollback but nothing to undo: no task it guards "
            "(upstream of it since the previous gate) has a `rollback`; a failure only stops the run",
            g.on_fail_span or g.span, (Related(f"gate '{g.id}' is defined here", g.span),),
            nodes=(g.id,), severity=WARNING))
    return diags
