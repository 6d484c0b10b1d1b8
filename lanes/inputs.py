"""What the runtime and emitters accept: a plan file, or a workflow compiled on the spot."""
from __future__ import annotations

from dataclasses import dataclass
import os
import sys

from lanes.compiler.planfile import Plan, PlanError, from_json, invalid_ids


@dataclass(frozen=True)
class Input:
    plan: Plan | None
    source_path: str | None        # absolute, for resume to reread
    status: int                    # 0, or the exit status to return (1 errors, 2 unreadable)
    diagnostics: tuple = ()
    sources: dict | None = None
    plan_text: str | None = None   # the plan file as read (what the store keeps), when it was one


def is_plan_file(path: str) -> bool:
    if path.endswith(".json"):
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and b'"lanes_plan"' in head


def read_input(path: str, *, allow_errors: bool = False) -> Input:
    """A Plan from `path`; problems are printed on stderr. With `allow_errors` a workflow
    with errors still gives its plan (for drawing), with status 1."""
    if is_plan_file(path):
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            plan = from_json(text)
            bad = invalid_ids(plan)
            if bad and not allow_errors:
                print(f"lanes: {path}: malformed plan: {bad[0]!r} is not a valid id", file=sys.stderr)
                return Input(None, None, 2)
            return Input(plan, os.path.abspath(path), 0, plan_text=text)
        except (OSError, UnicodeDecodeError) as exc:
            print(f"lanes: {path}: cannot read: {exc}", file=sys.stderr)
        except PlanError as exc:
            print(f"lanes: {path}: {exc}", file=sys.stderr)
        return Input(None, None, 2)
    import lanes.api as api                       # the compiler only when there is a workflow
    from lanes.render import print_diagnostics
    comp = api.compile(path)
    if comp.loaded.unreadable:
        print(f"lanes: {comp.loaded.unreadable}", file=sys.stderr)
        return Input(None, None, 2)
    if comp.diagnostics:
        print_diagnostics(comp.diagnostics, comp.sources, sys.stderr, summary=True)
    status = 1 if comp.has_errors else 0
    plan = comp.plan if (status == 0 or allow_errors) else None
    return Input(plan, os.path.abspath(path), status, comp.diagnostics, comp.sources)
