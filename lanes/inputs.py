"""What the runtime and emitters accept: a plan file, or a workflow compiled on the spot."""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, NamedTuple

from lanes.compiler.planfile import Plan

if TYPE_CHECKING:                   # diagnostics are imported when there are some
    from lanes.compiler.model import Model
    from lanes.dsl.diagnostics import Diagnostic


class Input(NamedTuple):
    plan: Plan | None
    source_path: str | None        # absolute, for resume to reread
    status: int                    # 0, or the exit status to return (1 errors, 2 unreadable)
    diagnostics: tuple[Diagnostic, ...] = ()
    sources: dict[str, str] | None = None
    plan_text: str | None = None   # the plan file as read (what the store keeps), when it was one


MAX_PLAN_BYTES = 256 * 1024 * 1024


def is_plan_file(path: str) -> bool:
    """By the name, else by a look at the head of a regular file (never blocking: a FIFO
    or a device is left to the reader, which refuses it)."""
    if path.endswith(".json"):
        return True
    from lanes.dsl.source import read_regular
    head, _ = read_regular(path, 255)
    return head is not None and head.lstrip().startswith(b"{") and b'"lanes_plan"' in head


def _read_plan_file(path: str, allow_errors: bool) -> Input:
    """A plan file, checked; every problem printed with its line and column (exit 2). Ids
    become file names when a plan runs, so only drawing (`allow_errors`) lets through ids
    that are not ids."""
    from lanes.compiler.plan_read import read_plan_bytes
    from lanes.dsl.source import read_regular
    data, problem = read_regular(path, MAX_PLAN_BYTES)
    if data is None or len(data) > MAX_PLAN_BYTES:
        from lanes.render import safe
        why = problem or f"{path}: larger than {MAX_PLAN_BYTES >> 20} MB; refused"
        print(f"lanes: {safe(why)}", file=sys.stderr)
        return Input(None, None, 2)
    plan, text, diags = read_plan_bytes(data, path, ids=not allow_errors)
    if plan is None:
        from lanes.render import print_diagnostics
        print_diagnostics(diags, {path: text}, sys.stderr, summary=True)
        return Input(None, None, 2, tuple(diags), {path: text})
    return Input(plan, os.path.abspath(path), 0, plan_text=text)


def agents_of(path: str, model: Model | None) -> dict[tuple[str, str], str | None]:
    """(file, task id) -> agent: what groups conflicts into one block per pair of agents."""
    if model is None:
        return {}
    return {(path, n.id): n.agent for n in model.nodes if n.is_task}


def print_unreadable(path: str, why: str) -> None:
    """E000 on stderr, as `check` reports it (file:1:1: error[E000]: ...)."""
    from lanes.cmd_check import unreadable_diagnostic
    from lanes.render import print_diagnostics
    print_diagnostics([unreadable_diagnostic(path, why)], {}, sys.stderr)


def read_input(path: str, *, allow_errors: bool = False) -> Input:
    """A Plan from `path`; problems are printed on stderr. With `allow_errors` a workflow
    with errors still gives its plan (for drawing), with status 1."""
    if is_plan_file(path):
        return _read_plan_file(path, allow_errors)
    from lanes import api  # the compiler only when there is a workflow
    from lanes.render import print_diagnostics
    comp = api.compile(path)
    if comp.loaded.unreadable:
        print_unreadable(path, comp.loaded.unreadable)
        return Input(None, None, 2)
    if comp.diagnostics:
        print_diagnostics(comp.diagnostics, comp.sources, sys.stderr, summary=True,
                          agent_of=agents_of(path, comp.model))
    status = 1 if comp.has_errors else 0
    plan = comp.plan if (status == 0 or allow_errors) else None
    return Input(plan, os.path.abspath(path), status, comp.diagnostics, comp.sources)
