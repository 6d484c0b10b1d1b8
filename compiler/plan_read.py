"""Reading a plan file: bytes -> JSON -> checked document -> Plan, every problem a
diagnostic with the line and column of the offending text (SPEC section 4's codes).

The way through a valid plan is `json.loads`, the shape check and the `Plan` with its
invariants checked, nothing else. Only when something is wrong does json_places
look for where it is in the text.
"""
from __future__ import annotations

import json

from lanes.compiler.json_places import Lines, Path, Place, first_unreadable_number, locate, nesting_point
from lanes.compiler.plan_check import Problem, check_shape
from lanes.compiler.plan_invariants import check_invariants
from lanes.compiler.planfile import Plan, build_plan
from lanes.dsl.diagnostics import Diagnostic, Related, diag, sort_diagnostics
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
        text = data.decode("utf-8", errors="replace")
        before = data[:exc.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1:].decode("utf-8", errors="replace")) + 1
        return None, text, [diag("E100", "the plan file is not valid UTF-8 text", Span.point(file, line, column))]
    plan, diags = read_plan(text, file, ids=ids)
    return plan, text, diags


def read_plan(text: str, file: str, *, ids: bool = True) -> tuple[Plan | None, list[Diagnostic]]:
    """The plan in `text`, or None and every problem found. With `ids` false, ids that do
    not look like ids are let through (for drawing: the emitters escape every string)."""
    try:
        d = json.loads(text, parse_constant=_refuse)
    except json.JSONDecodeError as exc:
        return None, [diag("E100", f"JSON syntax error: {exc.msg}", Span.point(file, exc.lineno, exc.colno))]
    except (_NotJSON, ValueError):            # ValueError: an integer too long for int()
        return None, [_unreadable_number(text, file)]
    except RecursionError:
        at = Lines(text).at(nesting_point(text, MAX_DEPTH))
        return None, [diag("E100", f"the plan nests deeper than {MAX_DEPTH} levels; refused", Span.point(file, *at))]
    problems = check_shape(d, ids=ids)
    if not problems:
        plan = build_plan(d)
        problems = check_invariants(plan)
        if not problems:
            return plan, []
    return None, diagnostics(problems, text, file)


def _unreadable_number(text: str, file: str) -> Diagnostic:
    found = first_unreadable_number(text)
    if found is None:                          # cannot happen: json refused something
        return diag("E102", "the plan holds a number that cannot be read", Span.point(file, 1, 1))
    start, end, why = found
    lines = Lines(text)
    code = "E100" if why.endswith("not a JSON number") else "E102"
    return diag(code, why, _span(file, lines, start, end))


def _span(file: str, lines: Lines, start: int, end: int) -> Span:
    return Span(file, *lines.at(start), *lines.at(end))


def diagnostics(problems: list[Problem], text: str, file: str) -> list[Diagnostic]:
    """Problems (paths into the document) as diagnostics (positions in the text)."""
    wanted: set[Path] = set()
    for p in problems:
        for path in (p.path, *(r[1] for r in p.related)):
            wanted.update(path[:i] for i in range(len(path) + 1))   # a missing path falls back to its parent
    places = locate(text, sorted(wanted, key=len))
    lines = Lines(text)

    def span(path: Path, key: bool = False) -> Span:
        place: Place | None = None
        while place is None:
            place = places.get(path)
            if place is None:
                path = path[:-1]
        if key and place.key_start is not None and place.key_end is not None:
            return _span(file, lines, place.key_start, place.key_end)
        return _span(file, lines, place.start, place.end)

    return sort_diagnostics(
        diag(p.code, p.message, span(p.path, p.key), related=[Related(m, span(r)) for m, r in p.related])
        for p in problems)
