"""The review page (SPEC section 6): one self-contained HTML file, no network fetches.

Every user string reaches the page through jinja2 autoescaping. The one piece of
markup inserted as is, the graph, is Graphviz's SVG of our own DOT; it is parsed,
checked (no script, no event handler, no foreign content, no link) and written
back out by ElementTree, so what the browser gets is exactly what was checked.
The page's one script (zoom and pan of the graph, sorting and filtering of the
tables) is our own constant, `PAGE_SCRIPT`, allowed by the Content-Security-Policy
through its SHA-256 alone: no other script can run, injected or not, and the
script reads the page, it never writes user text as markup.
Laying the graph out needs Graphviz, a process: the caller (the CLI) runs it and
passes the SVG in, so this module stays a pure function of the plan.
"""
from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Sequence
import hashlib
from typing import TypedDict
import xml.etree.ElementTree as ET

import jinja2
from markupsafe import Markup

from lanes.compiler.emit_dot import emit_dot, legend_items
from lanes.compiler.graph_model import COLLAPSE_ABOVE, CONFLICT_CODES, OTHERS, agent_colours
from lanes.compiler.planfile import Plan, PlanNode
from lanes.dsl.diagnostics import Diagnostic
from lanes.dsl.durations import duration

TEMPLATE = "report.html.j2"
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
MATRIX_MAX_CELLS = 6000          # above: the domain matrix is listed by pattern instead
STAGE_IDS_SHOWN = 40
CONFLICT_EXAMPLES = 3            # example pairs shown per group of conflicts
CONFLICT_PATTERNS = 6            # what each side writes or reads, per group (the why is left out)
CONFLICTS_LISTED = 20            # above: each conflict's own block is folded away
PAGE_SCRIPT = """
(function () {
  "use strict";
  var box = document.querySelector(".graph"), svg = box && box.querySelector("svg");
  if (svg) {
    var w = svg.viewBox.baseVal.width || svg.getBBox().width, h = svg.viewBox.baseVal.height || svg.getBBox().height;
    var scale = 1, level = document.getElementById("zoom-level");
    var set = function (s) {
      scale = Math.min(Math.max(s, 0.05), 8);
      svg.style.width = (w * scale) + "px";
      svg.style.height = (h * scale) + "px";
      svg.style.maxWidth = "none";
      if (level) { level.textContent = Math.round(scale * 100) + "%"; }
    };
    var most = 1.5;                  /* a small graph is enlarged this far at most */
    var fitWidth = function () { set(Math.min(most, (box.clientWidth - 2) / w)); };
    var fitAll = function () { set(Math.min(most, (box.clientWidth - 2) / w, (box.clientHeight - 2) / h)); };
    var zoomAt = function (factor, x, y) {
      var left = box.scrollLeft + x, top = box.scrollTop + y, old = scale;
      set(scale * factor);
      box.scrollLeft = left * scale / old - x;
      box.scrollTop = top * scale / old - y;
    };
    var act = {"fit-width": fitWidth, "fit-all": fitAll, "zoom-100": function () { set(1); },
               "zoom-in": function () { zoomAt(1.25, box.clientWidth / 2, box.clientHeight / 2); },
               "zoom-out": function () { zoomAt(0.8, box.clientWidth / 2, box.clientHeight / 2); }};
    Object.keys(act).forEach(function (id) {
      var b = document.getElementById(id);
      if (b) { b.hidden = false; b.addEventListener("click", act[id]); }
    });
    box.addEventListener("wheel", function (e) {
      if (!e.ctrlKey && !e.metaKey) { return; }
      e.preventDefault();
      var r = box.getBoundingClientRect();
      zoomAt(e.deltaY < 0 ? 1.15 : 1 / 1.15, e.clientX - r.left, e.clientY - r.top);
    }, {passive: false});
    var drag = null;
    box.addEventListener("pointerdown", function (e) {
      drag = {x: e.clientX, y: e.clientY, left: box.scrollLeft, top: box.scrollTop};
      box.classList.add("panning");
    });
    window.addEventListener("pointermove", function (e) {
      if (drag) { box.scrollLeft = drag.left - (e.clientX - drag.x); box.scrollTop = drag.top - (e.clientY - drag.y); }
    });
    window.addEventListener("pointerup", function () { drag = null; box.classList.remove("panning"); });
    fitWidth();
    box.setAttribute("data-zoom", "ready");
  }
  var key = function (cell) {
    var v = cell.getAttribute("data-sort");
    if (v === null) { v = cell.textContent.trim(); }
    var n = Number(v);
    return v !== "" && !isNaN(n) ? [0, n, ""] : [1, 0, v.toLowerCase()];
  };
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var body = table.tBodies[0], heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, col) {
      th.classList.add("sort");
      th.setAttribute("title", "sort");
      th.addEventListener("click", function () {
        var down = th.getAttribute("aria-sort") === "ascending";
        Array.prototype.forEach.call(heads, function (o) { o.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", down ? "descending" : "ascending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          var c = x[0] - y[0] || x[1] - y[1] || (x[2] < y[2] ? -1 : x[2] > y[2] ? 1 : 0);
          return down ? -c : c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
    var input = document.querySelector("input[data-filter='" + table.id + "']");
    if (input) {
      var count = document.querySelector("[data-count='" + table.id + "']");
      input.hidden = false;
      input.addEventListener("input", function () {
        var q = input.value.trim().toLowerCase(), shown = 0;
        Array.prototype.forEach.call(body.rows, function (r) {
          var hit = !q || r.textContent.toLowerCase().indexOf(q) >= 0;
          r.hidden = !hit;
          shown += hit ? 1 : 0;
        });
        if (count) { count.textContent = q ? shown + " of " + body.rows.length + " shown" : ""; }
      });
    }
  });
  document.documentElement.setAttribute("data-script", "ran");
})();
"""
SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(PAGE_SCRIPT.encode("utf-8")).digest()).decode("ascii")
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
    """The DOT the page draws: the `lanes graph` default (collapsed above the threshold), its
    legend left to the page."""
    return emit_dot(plan, diagnostics, legend=False)


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


class ConflictExample(TypedDict):
    a: str
    b: str
    code: str
    witness: str | None


class ConflictGroup(TypedDict):
    agents: tuple[str, str]
    count: int
    codes: str                    # "E300 ×3, E301 ×1"
    patterns: list[str]           # what each side writes or reads, from the first example
    examples: list[ConflictExample]


def group_conflicts(plan: Plan, diagnostics: Sequence[Diagnostic]) -> list[ConflictGroup]:
    """E300/E301 grouped by the unordered pair of agents of their tasks, both codes in one
    group (counted per code in `codes`; `lanes check` keeps the codes apart and puts the
    writer first), largest group first, each with its count and a few example pairs."""
    by_id = plan.node_by_id
    groups: dict[tuple[str, str], list[Diagnostic]] = defaultdict(list)
    for d in diagnostics:
        if d.code in CONFLICT_CODES and len(d.nodes) == 2:
            pair = sorted(by_id[x].agent or "unassigned" if x in by_id else "unassigned" for x in d.nodes)
            groups[(pair[0], pair[1])].append(d)
    out: list[ConflictGroup] = []
    for agents, ds in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        codes: dict[str, int] = defaultdict(int)
        for d in ds:
            codes[d.code] += 1
        out.append({"agents": agents, "count": len(ds),
                    "codes": ", ".join(f"{c} \u00d7{k}" for c, k in sorted(codes.items())),
                    "patterns": list(dict.fromkeys(r.message for d in ds for r in d.related
                                                   if r.span is not None))[:CONFLICT_PATTERNS],
                    "examples": [{"a": d.nodes[0], "b": d.nodes[1], "code": d.code, "witness": d.witness}
                                 for d in ds[:CONFLICT_EXAMPLES]]})
    return out


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
        "conflict_groups": group_conflicts(plan, diagnostics),
        "fold_diagnostics": len(diagnostics) > CONFLICTS_LISTED,
        "legend": legend_items(len(plan.nodes) > COLLAPSE_ABOVE),
        "script": Markup(PAGE_SCRIPT), "script_hash": SCRIPT_HASH,
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
