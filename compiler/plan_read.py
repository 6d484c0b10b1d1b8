"""Reading a plan file: bytes -> JSON -> checked document -> Plan, every problem a
diagnostic with the line and column of the offending text (SPEC section 4's codes).

A valid plan costs `json.loads`, the two quick verdicts of plan_quick.py and the
`Plan`, nothing more: `lanes run plan.json` reads every plan it runs. Everything
else (the walks that say what is wrong, finding it in the text, the diagnostics) is
imported on the error path only.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from lanes.compiler.plan_quick import invariants_hold, looks_valid
from lanes.compiler.planfile import Plan, build_plan

if TYPE_CHECKING:
    from lanes.compiler.json_places import Lines, Path
    from lanes.compiler.plan_check import Problem
    from lanes.dsl.diagnostics import Diagnostic
    from lanes.dsl.span import Span

MAX_DEPTH = 64                   # a plan nests 4 deep; json itself gives up near 1,000


class _NotJSON(Exception):
    """NaN or Infinity: json reads them, but they are not JSON (nor a duration)."""


def _refuse(name: str) -> object:
    raise _NotJSON(name)


def read_plan_bytes(data: bytes, file: str, *, ids: bool = True) -> tuple[Plan | None, str, list[Diagnostic]]:
    """(plan or None, the text, diagnostics) of a plan file's bytes."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[:exc.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1:].decode("utf-8", errors="replace")) + 1
        return None, data.decode("utf-8", errors="replace"), [
            _at("E100", "the plan file is not valid UTF-8 text", file, line, column)]
    plan, diags = read_plan(text, file, ids=ids)
    return plan, text, diags


def read_plan(text: str, file: str, *, ids: bool = True) -> tuple[Plan | None, list[Diagnostic]]:
    """The plan in `text`, or None and every problem found. With `ids` false, ids that do
    not look like ids are let through (for drawing: the emitters escape every string)."""
    try:
        d = json.loads(text, parse_constant=_refuse)
    except json.JSONDecodeError as exc:
        return None, [_at("E100", f"JSON syntax error: {exc.msg}", file, exc.lineno, exc.colno)]
    except (_NotJSON, ValueError):            # ValueError: an integer too long for int()
        return None, [_unreadable_number(text, file)]
    except RecursionError:
        from lanes.compiler.json_places import Lines, nesting_point
        line, column = Lines(text).at(nesting_point(text, MAX_DEPTH))
        return None, [_at("E100", f"the plan nests deeper than {MAX_DEPTH} levels; refused", file, line, column)]
    if looks_valid(d, ids=ids):
        plan = build_plan(d)
        if invariants_hold(plan):
            return plan, []
    return _walked(d, text, file, ids)


def _walked(d: object, text: str, file: str, ids: bool) -> tuple[Plan | None, list[Diagnostic]]:
    """The thorough walks decide what the quick verdicts doubt (a whole number written as
    1.0 is fine), and say what is wrong where."""
    from lanes.compiler.plan_check import shape_problems
    from lanes.compiler.plan_invariants import invariant_problems

    problems = shape_problems(d, ids=ids)
    if not problems and isinstance(d, dict):  # the shape holds: d is an object of the right fields
        plan = build_plan(d)
        problems = invariant_problems(plan)
        if not problems:
            return plan, []
    return None, diagnostics(problems, text, file)


def _at(code: str, message: str, file: str, line: int, column: int) -> Diagnostic:
    from lanes.dsl.diagnostics import diag
    from lanes.dsl.span import Span
    return diag(code, message, Span.point(file, line, column))


def _unreadable_number(text: str, file: str) -> Diagnostic:
    from lanes.compiler.json_places import Lines, first_unreadable_number
    from lanes.dsl.diagnostics import diag

    found = first_unreadable_number(text)
    if found is None:                          # json refused something; say so at the top
        return _at("E102", "the plan holds a number that cannot be read", file, 1, 1)
    start, end, why = found
    code = "E100" if why.endswith("not a JSON number") else "E102"
    return diag(code, why, _span(file, Lines(text), start, end))


def _span(file: str, lines: Lines, start: int, end: int) -> Span:
    from lanes.dsl.span import Span
    return Span(file, *lines.at(start), *lines.at(end))


def diagnostics(problems: list[Problem], text: str, file: str) -> list[Diagnostic]:
    """Problems (paths into the document) as diagnostics (positions in the text)."""
    from lanes.compiler.json_places import Lines, Place, locate
    from lanes.dsl.diagnostics import Related, diag, sort_diagnostics

    wanted: set[Path] = set()
    for p in problems:
        for path in (p.path, *(r[1] for r in p.related)):
            wanted.update(path[:i] for i in range(len(path) + 1))   # a missing path falls back to its parent
    places = locate(text, sorted(wanted, key=len))
    lines = Lines(text)

    def span(path: Path, key: bool = False) -> Span:
        place: Place | None = places.get(path)
        while place is None:                   # the root is always found
            path = path[:-1]
            place = places.get(path)
        if key and place.key_start is not None and place.key_end is not None:
            return _span(file, lines, place.key_start, place.key_end)
        return _span(file, lines, place.start, place.end)

    return sort_diagnostics(
        diag(p.code, p.message, span(p.path, p.key), related=[Related(m, span(r)) for m, r in p.related])
        for p in problems)
