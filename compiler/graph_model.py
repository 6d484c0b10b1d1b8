"""What to draw: a Plan (plus its diagnostics) reduced to boxes, edges and clusters.

The DOT and Mermaid emitters render the same `Drawing`, so both show the same
thing: one colour per agent, gates as diamonds, approval gates marked, the
critical path bold, stages or agent lanes as clusters, estimates on nodes, and
every write/write or write/read conflict (E300/E301) as a red dashed edge
labelled with its witness. Above `COLLAPSE_ABOVE` nodes a graph is unreadable
and slow to lay out, so unless `full` is asked for, the drawing shows one box per
agent per stage (and one diamond per stage for its gates) with counts.

Emitter ids are synthetic (`n0`, `g0`, `c0`): user ids may hold any character,
so they appear only in labels, which each emitter escapes for its own syntax.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from lanes.compiler.planfile import Plan, PlanNode
from lanes.dsl.diagnostics import Diagnostic
from lanes.dsl.fmt import duration

COLLAPSE_ABOVE = 300
CONFLICT_CODES = ("E300", "E301")
# Light fills that keep black text readable, in a fixed order: an agent's colour is
# its position among the agents, so it is the same in every drawing of a workflow.
PALETTE = ("#8ecae6", "#ffb703", "#90be6d", "#f4a3c0", "#bdb2ff", "#f9c74f",
           "#84dcc6", "#ffadad", "#a0c4ff", "#e9c46a", "#caffbf", "#d4a373")
UNASSIGNED = "#d9d9d9"
GATE_FILL = "#ffffff"
CONFLICT_COLOUR = "#d62728"
TOOLTIP_MAX = 300


@dataclass(frozen=True)
class Box:
    key: str                     # emitter id
    lines: tuple[str, ...]       # label lines, raw user text (emitters escape)
    gate: bool
    approval: bool
    critical: bool
    fill: str
    cluster: str | None          # Cluster.key, or None (gates in agent lanes)
    tooltip: str
    error: str | None = None     # first error message about this node, for a red outline
    count: int = 1               # plan nodes drawn by this box
    node_id: str | None = None   # the plan node, when the box is exactly one


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    critical: bool
    count: int = 1


@dataclass(frozen=True)
class Conflict:
    a: str
    b: str
    code: str
    label: str


@dataclass(frozen=True)
class Cluster:
    key: str
    label: str
    fill: str | None             # an agent lane is tinted with its agent's colour


@dataclass(frozen=True)
class Drawing:
    title: str
    by: str
    collapsed: bool
    clusters: tuple[Cluster, ...]
    boxes: tuple[Box, ...]
    edges: tuple[Edge, ...]
    conflicts: tuple[Conflict, ...]


def agent_colours(plan: Plan) -> dict[str, str]:
    return {a.id: PALETTE[i % len(PALETTE)] for i, a in enumerate(plan.agents)}


def _clip(text: str, limit: int = TOOLTIP_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _node_lines(n: PlanNode) -> tuple[str, ...]:
    est = duration(n.estimate_s)
    if n.is_gate:
        return (n.id, f"approval gate \u00b7 {est}" if n.approve is not None else f"gate \u00b7 {est}")
    return (n.id, f"{n.agent or 'unassigned'} \u00b7 {est}")


def _node_tooltip(n: PlanNode) -> str:
    parts = [n.id]
    if n.description:
        parts.append(n.description)
    if n.approve is not None:
        parts.append(f"approve: {n.approve}")
    if n.run is not None:
        parts.append(f"run: {n.run}")
    return _clip("\n".join(parts))


def _conflict_label(d: Diagnostic) -> str:
    kind = "write/write" if d.code == "E300" else "write/read"
    return f"{d.code} {kind}: {d.witness}" if d.witness else f"{d.code} {kind}"


def _conflicts(plan: Plan, diagnostics: Sequence[Diagnostic]) -> list[Diagnostic]:
    known = plan.node_by_id
    return [d for d in diagnostics
            if d.code in CONFLICT_CODES and len(d.nodes) == 2 and all(x in known for x in d.nodes)]


def _node_errors(plan: Plan, diagnostics: Sequence[Diagnostic]) -> dict[str, str]:
    """node id -> the first error about it (conflicts are drawn as edges instead)."""
    out: dict[str, str] = {}
    for d in diagnostics:
        if d.is_error and d.code not in CONFLICT_CODES:
            for nid in d.nodes:
                if nid in plan.node_by_id:
                    out.setdefault(nid, f"{d.code}: {d.message}")
    return out


class _Clusters:
    """Stage clusters, or agent lanes; gates belong to no lane (they join lanes)."""

    def __init__(self, plan: Plan, by: str, colours: dict[str, str]):
        self.by = by
        self.colours = colours
        self.made: dict[object, Cluster] = {}
        self.agents = {a.id for a in plan.agents}

    def of(self, stage: int, agent: str | None, gate: bool) -> str | None:
        if self.by == "stage":
            ident, label, fill = ("s", stage), f"stage {stage}", None
        elif gate:
            return None
        elif agent in self.agents:
            ident, label, fill = ("a", agent), f"agent {agent}", self.colours[agent]
        else:
            ident, label, fill = ("u", None), "unassigned", None
        if ident not in self.made:
            self.made[ident] = Cluster(f"c{len(self.made)}", label, fill)
        return self.made[ident].key

    def all(self) -> tuple[Cluster, ...]:
        return tuple(self.made.values())


def build_drawing(plan: Plan, diagnostics: Sequence[Diagnostic] = (), by: str = "stage",
                  full: bool = False, collapse_above: int = COLLAPSE_ABOVE) -> Drawing:
    if by not in ("stage", "agent"):
        raise ValueError(f"by must be 'stage' or 'agent', not {by!r}")
    colours = agent_colours(plan)
    clusters = _Clusters(plan, by, colours)
    errors = _node_errors(plan, diagnostics)
    conflicts = _conflicts(plan, diagnostics)
    title = f"{plan.workflow}: {len(plan.nodes)} nodes, about {duration(plan.estimate.parallel_s)} " \
            f"in parallel ({duration(plan.estimate.sequential_s)} one after another)"
    if full or len(plan.nodes) <= collapse_above:
        return _full(plan, title, by, colours, clusters, errors, conflicts)
    return _collapsed(plan, title, by, colours, clusters, errors, conflicts)


def _critical_pairs(plan: Plan) -> set[tuple[str, str]]:
    cp = plan.critical_path
    return set(zip(cp, cp[1:]))


def _full(plan, title, by, colours, clusters, errors, conflicts) -> Drawing:
    key = {n.id: f"n{i}" for i, n in enumerate(plan.nodes)}
    boxes = tuple(
        Box(key=key[n.id], lines=_node_lines(n), gate=n.is_gate, approval=n.approve is not None,
            critical=n.critical, fill=GATE_FILL if n.is_gate else colours.get(n.agent, UNASSIGNED),
            cluster=clusters.of(n.stage, n.agent, n.is_gate), tooltip=_node_tooltip(n),
            error=errors.get(n.id), node_id=n.id)
        for n in plan.nodes)
    pairs = _critical_pairs(plan)
    edges = tuple(Edge(key[up], key[n.id], (up, n.id) in pairs) for n in plan.nodes for up in n.needs)
    drawn = tuple(Conflict(key[d.nodes[0]], key[d.nodes[1]], d.code, _conflict_label(d)) for d in conflicts)
    return Drawing(title, by, False, clusters.all(), boxes, edges, drawn)


def _group_of(n: PlanNode) -> tuple:
    return (n.stage, 1, "", "") if n.is_gate else (n.stage, 0, n.agent is None, n.agent or "")


def _collapsed(plan, title, by, colours, clusters, errors, conflicts) -> Drawing:
    members: dict[tuple, list[PlanNode]] = defaultdict(list)
    for n in plan.nodes:
        members[_group_of(n)].append(n)
    order = sorted(members)
    key = {g: f"g{i}" for i, g in enumerate(order)}
    boxes = []
    for g in order:
        ns = members[g]
        first = ns[0]
        if len(ns) == 1:
            boxes.append(Box(key[g], _node_lines(first), first.is_gate, first.approve is not None,
                             first.critical, GATE_FILL if first.is_gate else colours.get(first.agent, UNASSIGNED),
                             clusters.of(first.stage, first.agent, first.is_gate), _node_tooltip(first),
                             errors.get(first.id), 1, first.id))
            continue
        total = duration(sum(n.estimate_s for n in ns))
        approvals = sum(n.approve is not None for n in ns)
        if first.is_gate:
            lines = (f"stage {first.stage}", f"{len(ns)} gates \u00b7 {total}")
            if approvals:
                lines += (f"{approvals} need approval",)
        else:
            lines = (f"{first.agent or 'unassigned'} \u00b7 stage {first.stage}", f"{len(ns)} tasks \u00b7 {total}")
        bad = [errors[n.id] for n in ns if n.id in errors]
        boxes.append(Box(key[g], lines, first.is_gate, approvals > 0, any(n.critical for n in ns),
                         GATE_FILL if first.is_gate else colours.get(first.agent, UNASSIGNED),
                         clusters.of(first.stage, first.agent, first.is_gate),
                         _clip(", ".join(n.id for n in ns)),
                         f"{len(bad)} with errors; first {bad[0]}" if bad else None, len(ns)))
    group = {n.id: key[_group_of(n)] for n in plan.nodes}
    pairs = _critical_pairs(plan)
    counts: dict[tuple[str, str], list] = {}
    for n in plan.nodes:
        for up in n.needs:
            k = (group[up], group[n.id])
            c = counts.setdefault(k, [0, False])
            c[0] += 1
            c[1] = c[1] or (up, n.id) in pairs
    edges = tuple(Edge(s, d, crit, cnt) for (s, d), (cnt, crit) in counts.items())
    return Drawing(title, by, True, clusters.all(), tuple(boxes), edges, _group_conflicts(conflicts, group))


def _group_conflicts(conflicts, group) -> tuple[Conflict, ...]:
    """One edge per pair of boxes, labelled with its first witness and how many more."""
    found: dict[tuple[str, str], list] = {}
    for d in conflicts:
        a, b = sorted((group[d.nodes[0]], group[d.nodes[1]]))
        found.setdefault((a, b), [d, 0])[1] += 1
    out = []
    for (a, b), (d, n) in found.items():
        more = f" (+{n - 1} more)" if n > 1 else ""
        out.append(Conflict(a, b, d.code, _conflict_label(d) + more))
    return tuple(out)
