"""Mermaid `flowchart` source for a plan: the same drawing as the DOT one.

Mermaid has no backslash escapes; it decodes entity codes (`#quot;`, `#35;`) in
labels. So `mermaid_text` keeps letters, digits and a few harmless punctuation
marks and writes every other ASCII character as `#NNN;`: a `"` cannot close the
label, `-->`, `[`, `]`, `|`, `;` and `%%` lose their meaning, `<` cannot open
HTML, and a user's own `#quot;` arrives as text. Node ids are synthetic
(`n0`, ...); user ids live in the quoted labels only.
"""
from __future__ import annotations

from collections.abc import Sequence
import json
import string

from lanes.compiler.emit_dot import APPROVAL_FILL
from lanes.compiler.graph_model import CONFLICT_COLOUR, Box, Drawing, build_drawing
from lanes.compiler.planfile import Plan
from lanes.dsl.diagnostics import Diagnostic

_SAFE = frozenset(string.ascii_letters + string.digits + " _.,:/-+=@!?()")
BREAK = "<br/>"                   # our own line break inside a label, never user text


def _char(ch: str) -> str:
    if ch in _SAFE:
        return ch
    if ord(ch) < 128:
        return f"#{ord(ch)};"
    # keep printable non-ASCII text; format and control characters (bidi overrides...) go
    return ch if ch.isprintable() else "\ufffd"


def mermaid_text(text: str) -> str:
    """The inside of a quoted Mermaid label showing `text` literally; lines joined by <br/>."""
    return BREAK.join("".join(_char(ch) for ch in line) for line in text.replace("\r\n", "\n").split("\n"))


def _label(lines: Sequence[str]) -> str:
    return '"' + BREAK.join(mermaid_text(line) for line in lines) + '"'


def drawing_to_mermaid(drawing: Drawing) -> str:
    # JSON strings are YAML strings: the front matter title cannot break out
    out = ["---", f"title: {json.dumps(drawing.title)}", "---", f"flowchart {drawing.direction}"]
    fills: dict[str, str] = {}
    classes: list[str] = []

    def node(box: Box, indent: str) -> None:
        shape = ("{", "}") if box.gate else ("(", ")")     # diamond / rounded box
        out.append(f"{indent}{box.key}{shape[0]}{_label(box.lines)}{shape[1]}")
        fill = APPROVAL_FILL if box.approval else box.fill
        cls = fills.setdefault(fill, f"fill{len(fills)}")
        classes.append(f"  class {box.key} {cls}")
        for flag, name in ((box.critical, "critical"), (box.approval, "approval"),
                           (box.error is not None, "error")):
            if flag:
                classes.append(f"  class {box.key} {name}")

    # Mermaid's layout (dagre) fails on larger graphs whose edges cross agent-lane
    # subgraphs back and forth ("Cannot set properties of undefined (setting 'order')",
    # mermaid-js/mermaid#4644 and kin), so lanes are shown by colour and label only;
    # stage subgraphs, crossed in one direction, lay out fine.
    lanes = drawing.by == "stage"
    if not lanes:
        out.append("  %% agent lanes: one colour per agent (lane clusters break Mermaid's layout)")
    by_cluster: dict[str | None, list[Box]] = {}
    for box in drawing.boxes:
        by_cluster.setdefault(box.cluster if lanes else None, []).append(box)
    for cluster in drawing.clusters if lanes else ():
        out.append(f"  subgraph {cluster.key}[{_label([cluster.label])}]")
        for box in by_cluster.get(cluster.key, ()):
            node(box, "    ")
        out.append("  end")
    for box in by_cluster.get(None, ()):
        node(box, "  ")
    critical, conflicts = [], []
    index = 0
    for e in drawing.edges:
        text = f'|"#215;{e.count}"|' if e.count > 1 else ""
        out.append(f"  {e.src} -->{text} {e.dst}")
        if e.critical:
            critical.append(str(index))
        index += 1
    for c in drawing.conflicts:
        # its label is a node of its own, joined to each task of the pair (as in DOT)
        out.append(f"  {c.key}[{_label([c.label])}]")
        classes.append(f"  class {c.key} conflict")
        for end in (c.a, c.b):
            out.append(f"  {end} -.- {c.key}")
            conflicts.append(str(index))
            index += 1
    for fill, cls in fills.items():
        out.append(f"  classDef {cls} fill:{fill},stroke:#333333,color:#000000")
    out.append("  classDef critical stroke-width:4px,stroke:#222222")
    out.append("  classDef approval stroke-dasharray:6 3")
    out.append(f"  classDef error stroke:{CONFLICT_COLOUR},stroke-width:3px,color:{CONFLICT_COLOUR}")
    out.append(f"  classDef conflict fill:#fff5f5,stroke:{CONFLICT_COLOUR},stroke-dasharray:4 2,"
               f"color:{CONFLICT_COLOUR}")
    out.extend(classes)
    if critical:
        out.append(f"  linkStyle {','.join(critical)} stroke:#222222,stroke-width:4px")
    if conflicts:
        out.append(f"  linkStyle {','.join(conflicts)} stroke:{CONFLICT_COLOUR},stroke-width:2px,"
                   f"color:{CONFLICT_COLOUR}")
    return "\n".join(out) + "\n"


def emit_mermaid(plan: Plan, diagnostics: Sequence[Diagnostic] = (), by: str = "stage",
                 full: bool = False) -> str:
    """Mermaid flowchart source (collapsed above COLLAPSE_ABOVE nodes unless `full`)."""
    return drawing_to_mermaid(build_drawing(plan, diagnostics, by=by, full=full))
