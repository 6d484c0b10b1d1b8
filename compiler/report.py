"""The review page (SPEC section 6): one self-contained HTML file, no network fetches.

Every user string reaches the page through jinja2 autoescaping. The one piece of
markup inserted as is, the graph, is Graphviz's SVG of our own DOT; it is parsed,
checked (no script, no event handler, no foreign content, no link) and written
back out by ElementTree, so what the browser gets is exactly what was checked.
A Content-Security-Policy with no script source is defence in depth on top.
Laying the graph out needs Graphviz, a process: the caller (the CLI) runs it and
passes the SVG in, so this module stays a pure function of the plan.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TypedDict
import xml.etree.ElementTree as ET

import jinja2
from markupsafe import Markup

from lanes.compiler.emit_dot import emit_dot
from lanes.compiler.graph_model import OTHERS, agent_colours
from lanes.compiler.planfile import Plan, PlanNode
from lanes.dsl.diagnostics import Diagnostic
from lanes.dsl.durations import duration

TEMPLATE = "report.html.j2"
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
MATRIX_MAX_CELLS = 6000          # above: the domain matrix is listed by pattern instead
STAGE_IDS_SHOWN = 40
_FORBIDDEN_TAGS = {"script", "style", "foreignObject", "iframe", "object", "embed", "handler", "use", "image",
                   "animate", "set", "animateTransform", "animateMotion"}
ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)


class UnsafeSvg(ValueError):
    """SVG that is not what Graphviz makes of our DOT."""


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def safe_svg(svg: str | bytes) -> Markup:
    """Graphviz SVG checked and re-serialised, ready to inline; UnsafeSvg otherwise."""
    try:
        root = ET.fromstring(svg)
    except ET.ParseError as exc:
        raise UnsafeSvg(f"not well-formed: {exc}") from None
    if root.tag != f"{{{SVG_NS}}}svg":
        raise UnsafeSvg(f"root element is {root.tag}, not svg")
    for el in root.iter():
        if _local(el.tag) in _FORBIDDEN_TAGS:
            raise UnsafeSvg(f"<{_local(el.tag)}> element")
        for attr, value in el.attrib.items():
            name = _local(attr).lower()
            if name.startswith("on"):
                raise UnsafeSvg(f"event handler attribute {name}")
            if name == "href" or (name == "style" and "url(" in value.lower()):
                raise UnsafeSvg(f"{name} attribute (a link or fetch)")
    return Markup(ET.tostring(root, encoding="unicode"))


def report_dot(plan: Plan, diagnostics: Sequence[Diagnostic] = ()) -> str:
    """The DOT the page draws: the `lanes graph` default (collapsed above the threshold)."""
    return emit_dot(plan, diagnostics)


def _excerpt(d: Diagnostic, sources: dict[str, str]) -> str | None:
    """The offending source line and a caret under the span, like `lanes check` on a terminal."""
    s = d.span
    if s is None:
        return None
    text = sources.get(s.file)
    if text is None:
        return None
    lines = text.split("\n")
    if not 1 <= s.line <= len(lines):
        return None
    line = lines[s.line - 1].rstrip("\r").expandtabs(1)
    width = (s.end_column - s.column) if s.end_line == s.line else len(line) - s.column + 1
    width = max(1, min(width, len(line) - s.column + 1))
    return f"{s.line:>5} | {line}\n      | {' ' * (s.column - 1)}^{'~' * (width - 1)}"


class MatrixRow(TypedDict):
    agent: str
    cells: list[str]              # per pattern: "W", "R" or ""


class PatternUse(TypedDict):
    pattern: str
    writers: list[str]
    readers: list[str]


class DomainMatrix(TypedDict):
    patterns: list[str]
    rows: list[MatrixRow]
    by_pattern: list[PatternUse]
    as_table: bool
    shared_writes: set[str]


def _domain_matrix(plan: Plan) -> DomainMatrix:
    patterns = sorted({p for a in plan.agents for p in (*a.writes, *a.reads)})
    rows: list[MatrixRow] = [{"agent": a.id, "cells": ["W" if p in a.writes else "R" if p in a.reads else "" for p in patterns]}
            for a in plan.agents]
    writers: dict[str, list[str]] = defaultdict(list)
    readers: dict[str, list[str]] = defaultdict(list)
    for a in plan.agents:
        for p in a.writes:
            writers[p].append(a.id)
        for p in a.reads:
            readers[p].append(a.id)
    by_pattern: list[PatternUse] = [{"pattern": p, "writers": writers[p], "readers": readers[p]} for p in patterns]
    return {"patterns": patterns, "rows": rows, "by_pattern": by_pattern,
            "as_table": len(patterns) * len(plan.agents) <= MATRIX_MAX_CELLS,
            "shared_writes": {p for p in patterns if len(writers[p]) > 1}}


def _context(plan: Plan, diagnostics: Sequence[Diagnostic], sources: dict[str, str],
             svg: str | bytes | None, graph_problem: str | None) -> dict[str, object]:
    """The template's namespace."""
    anchor = {n.id: f"node-{i}" for i, n in enumerate(plan.nodes)}
    colours = agent_colours(plan)
    graph_svg = None
    if svg is not None:
        try:
            graph_svg = safe_svg(svg)
        except UnsafeSvg as exc:
            graph_problem = f"the SVG was not inlined ({exc})"
    tasks_of: dict[str | None, list[PlanNode]] = defaultdict(list)
    for n in plan.nodes:
        if not n.is_gate:
            tasks_of[n.agent].append(n)
    by_id = plan.node_by_id
    path = [by_id[i] for i in plan.critical_path if i in by_id]
    return {
        "plan": plan, "anchor": anchor, "colours": colours, "other_colour": OTHERS,
        "tasks": sum(not n.is_gate for n in plan.nodes), "gates": sum(n.is_gate for n in plan.nodes),
        "graph_svg": graph_svg, "graph_problem": graph_problem,
        "graph_dot": None if graph_svg is not None else report_dot(plan, diagnostics),
        "critical": path, "critical_total": sum(n.estimate_s for n in path),
        "stages": [{"index": i, "ids": ids[:STAGE_IDS_SHOWN], "more": max(0, len(ids) - STAGE_IDS_SHOWN),
                    "count": len(ids), "longest": max((by_id[x].estimate_s for x in ids if x in by_id), default=0)}
                   for i, ids in enumerate(plan.stages)],
        "agents": [{"agent": a, "colour": colours[a.id], "tasks": len(tasks_of[a.id]),
                    "work": sum(n.estimate_s for n in tasks_of[a.id])} for a in plan.agents],
        "unassigned": tasks_of.get(None, []),
        "matrix": _domain_matrix(plan),
        "diagnostics": [{"d": d, "excerpt": _excerpt(d, sources),
                         "nodes": [x for x in d.nodes if x in anchor]} for d in diagnostics],
        "errors": sum(d.is_error for d in diagnostics),
        "warnings": sum(not d.is_error for d in diagnostics),
        "fold_nodes": len(plan.nodes) > 300,
    }


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("lanes.templates", "."),
                             autoescape=jinja2.select_autoescape(["html", "html.j2"], default=True),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["duration"] = duration
    return env


def render_report(plan: Plan, diagnostics: Sequence[Diagnostic] = (), sources: dict[str, str] | None = None,
                  svg: str | bytes | None = None, graph_problem: str | None = None) -> str:
    """The review page. `svg`: Graphviz's SVG of `report_dot(plan, diagnostics)`; without it
    the page shows the DOT source and `graph_problem` (why there is no picture)."""
    context = _context(plan, diagnostics, sources or {}, svg, graph_problem)
    return _environment().get_template(TEMPLATE).render(**context)
