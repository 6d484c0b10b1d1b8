"""Graphviz DOT for a plan, built with the `graphviz` package (SPEC section 6).

Every user string passes through `dot_text` before it reaches an attribute: DOT
label strings are escStrings, where a backslash starts an escape (`\\n`, `\\l`,
`\\N`...), so backslashes are doubled and line breaks become `\\n`; the value is
marked `nohtml` so that a label like `<b>` is never taken for an HTML label, and
`graphviz.quoting.quote` then escapes the double quotes. Node names are the
synthetic keys of the drawing (`n0`, ...), never user ids: the package reads a
`:` in an edge end as a port.
"""
from __future__ import annotations

from collections.abc import Sequence
import html
import re
from typing import cast

import graphviz  # untyped (an override in pyproject.toml): Any

from lanes.compiler.graph_model import CONFLICT_COLOUR, PALETTE, Box, Drawing, build_drawing
from lanes.compiler.planfile import Plan
from lanes.dsl.diagnostics import Diagnostic

FONT = "Helvetica,Arial,sans-serif"
# C0 controls but tab and newline, DEL and C1: Graphviz rejects or garbles them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
APPROVAL_FILL = "#fff3bf"


def dot_text(text: str) -> str:
    """One escString holding `text` literally (its lines centred)."""
    s = _CONTROL.sub("\ufffd", text.replace("\r\n", "\n")).replace("\\", "\\\\").replace("\n", "\\n")
    return cast(str, graphviz.nohtml(s))          # a str that graphviz will not read as HTML


def _label(lines: Sequence[str]) -> str:
    return cast(str, graphviz.nohtml("\\n".join(dot_text(line) for line in lines)))


def _box_attrs(box: Box) -> dict[str, str]:
    style = ["filled"] if box.gate else ["rounded", "filled"]
    attrs = {"label": _label(box.lines), "shape": "diamond" if box.gate else "box",
             "fillcolor": box.fill, "tooltip": dot_text(box.tooltip if box.error is None
                                                        else f"{box.error}\n{box.tooltip}")}
    if box.approval:
        attrs.update(peripheries="2", fillcolor=APPROVAL_FILL)
    if box.critical:
        style.append("bold")
        attrs["penwidth"] = "3"
    if box.error is not None:
        attrs.update(color=CONFLICT_COLOUR, fontcolor=CONFLICT_COLOUR)
        attrs.setdefault("penwidth", "2")
    attrs["style"] = ",".join(style)
    return attrs


def _html(text: str) -> str:
    """Text for an HTML-like label (the legend): entities, no control characters."""
    return html.escape(_CONTROL.sub("\ufffd", text)).replace("\n", "<BR/>")


def legend_items(collapsed: bool) -> list[tuple[str, str]]:
    """(what it looks like, what it means), shared with the report's legend."""
    items = [("box", "task (fill: its agent)"), ("gate", "gate"),
             ("approval", "approval gate (double border)"), ("critical", "bold: critical path"),
             ("conflict", ("red dashed: a conflict (E300 write/write, E301 write/read), "
                           "from its red label to each of the two tasks"))]
    if collapsed:
        items.append(("count", "N tasks: a box per agent lane and stage; \u00d7N: N needs"))
    return items


def _graph_label(drawing: Drawing, legend: bool) -> str:
    cell = {"box": '<TD BORDER="1" BGCOLOR="{}">{}</TD>'.format(PALETTE[0], "{}"),
            "gate": '<TD BORDER="1">{}</TD>', "approval": f'<TD BORDER="1" BGCOLOR="{APPROVAL_FILL}">{{}}</TD>',
            "critical": '<TD BORDER="3">{}</TD>',
            "conflict": f'<TD BORDER="1" COLOR="{CONFLICT_COLOUR}" STYLE="dashed">'
                        f'<FONT COLOR="{CONFLICT_COLOUR}">{{}}</FONT></TD>',
            "count": '<TD BORDER="1" BGCOLOR="#eeeeee">{}</TD>'}
    items = legend_items(drawing.collapsed) if legend else [("", "")]
    title = "".join(f'<TR><TD ALIGN="LEFT" COLSPAN="{len(items)}">{"<B>" if i == 0 else ""}{_html(line)}'
                    f'{"</B>" if i == 0 else ""}</TD></TR>' for i, line in enumerate(drawing.title.split("; ")))
    glyph = {"gate": "\u25c7 ", "approval": "\u25c7 "}
    row = "".join(cell[kind].format(_html(glyph.get(kind, "") + text)) for kind, text in items) if legend else ""
    return (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="3" CELLPADDING="3">{title}'
            f'{f"<TR>{row}</TR>" if row else ""}</TABLE>>')


def drawing_to_digraph(drawing: Drawing, legend: bool = True) -> graphviz.Digraph:  # graphviz is untyped: Any
    g = graphviz.Digraph(name="lanes", graph_attr={
        "rankdir": drawing.direction, "label": _graph_label(drawing, legend), "labelloc": "t", "labeljust": "l", "fontname": FONT,
        "fontsize": "11", "compound": "true", "newrank": "true", "nodesep": "0.25", "ranksep": "0.5"},
        node_attr={"fontname": FONT, "fontsize": "11", "margin": "0.12,0.06"},
        edge_attr={"fontname": FONT, "fontsize": "9", "color": "#555555", "arrowsize": "0.7"})
    by_cluster: dict[str | None, list[Box]] = {}
    attrs: dict[str, str]
    for box in drawing.boxes:
        by_cluster.setdefault(box.cluster, []).append(box)
    for cluster in drawing.clusters:
        attrs = {"label": dot_text(cluster.label), "style": "rounded,filled" if cluster.fill else "rounded",
                 "color": "#999999", "fontname": FONT, "labeljust": "l"}
        if cluster.fill:
            # a pale tint of the agent's colour: eight-digit #RRGGBBAA is Graphviz's alpha
            attrs["fillcolor"] = cluster.fill + "33"
        with g.subgraph(name=f"cluster_{cluster.key}", graph_attr=attrs) as sub:
            for box in by_cluster.get(cluster.key, ()):
                sub.node(box.key, **_box_attrs(box))
    for box in by_cluster.get(None, ()):
        g.node(box.key, **_box_attrs(box))
    # one column per stage (or band): clusters and lanes then cannot overlap or nest
    ranks: dict[int, list[str]] = {}
    for box in drawing.boxes:
        ranks.setdefault(box.rank, []).append(box.key)
    for rank in sorted(ranks):
        if len(ranks[rank]) > 1:
            g.body.append("\t{rank=same; " + " ".join(ranks[rank]) + "}\n")
    for e in drawing.edges:
        attrs = {}
        if e.count > 1:
            attrs["label"] = f"\u00d7{e.count}"
        if e.critical:
            attrs.update(style="bold", penwidth="3", color="#222222")
        if e.flat:
            attrs["constraint"] = "false"
        g.edge(e.src, e.dst, **attrs)
    for c in drawing.conflicts:
        # The label is a node of its own, ranked after both tasks, with one edge to each:
        # it is placed like any node (never over one), and the router takes both edges
        # around the nodes between, so the pair it joins is never in doubt.
        g.node(c.key, label=dot_text(c.label), shape="box", style="dashed,filled", fillcolor="#fff5f5",
               color=CONFLICT_COLOUR, fontcolor=CONFLICT_COLOUR, fontsize="9", margin="0.06,0.03",
               tooltip=dot_text(c.label))
        for end in (c.a, c.b):
            g.edge(end, c.key, color=CONFLICT_COLOUR, style="dashed", dir="none", penwidth="2")
    return g


def emit_dot(plan: Plan, diagnostics: Sequence[Diagnostic] = (), by: str = "stage",
             full: bool = False, legend: bool = True) -> str:
    """DOT source of the plan's graph (collapsed above COLLAPSE_ABOVE nodes unless `full`);
    without `legend` for a page that has its own."""
    return cast(str, drawing_to_digraph(build_drawing(plan, diagnostics, by=by, full=full), legend).source)
