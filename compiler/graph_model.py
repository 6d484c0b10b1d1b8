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
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from lanes.compiler.planfile import Plan, PlanNode
from lanes.dsl.diagnostics import Diagnostic
from lanes.dsl.durations import duration

COLLAPSE_ABOVE = 300
CONFLICT_CODES = ("E300", "E301")
# Light fills that keep black text readable, in a fixed order: an agent's colour is
# its position among the agents, so it is the same in every drawing of a workflow.
PALETTE = ("#8ecae6", "#ffb703", "#90be6d", "#f4a3c0", "#bdb2ff", "#f9c74f",
           "#84dcc6", "#ffadad", "#a0c4ff", "#e9c46a", "#caffbf", "#d4a373")
UNASSIGNED = "#d9d9d9"
OTHERS = "#eeeeee"
MAX_LANES = 12                   # agents with a lane of their own in the banded summary
EDGE_BUDGET = 600                # more edges than this and a summary is a hairball (and slow to lay out)
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
    """Clusters made on first use, in drawing order, with synthetic keys."""

    def __init__(self) -> None:
        self.made: dict[Hashable, Cluster] = {}

    def get(self, ident: Hashable, label: str, fill: str | None) -> str:
        if ident not in self.made:
            self.made[ident] = Cluster(f"c{len(self.made)}", label, fill)
        return self.made[ident].key

    def all(self) -> tuple[Cluster, ...]:
        return tuple(self.made.values())


def build_drawing(plan: Plan, diagnostics: Sequence[Diagnostic] = (), by: str = "stage",
                  full: bool = False, collapse_above: int = COLLAPSE_ABOVE) -> Drawing:
    if by not in ("stage", "agent"):
        raise ValueError(f"by must be 'stage' or 'agent', not {by!r}")
    errors = _node_errors(plan, diagnostics)
    conflicts = _conflicts(plan, diagnostics)
    title = f"{plan.workflow}: {len(plan.nodes)} nodes, about {duration(plan.estimate.parallel_s)} " \
            f"in parallel ({duration(plan.estimate.sequential_s)} one after another)"
    if full or len(plan.nodes) <= collapse_above:
        return _full(plan, title, by, errors, conflicts)
    return _collapsed(plan, title, by, errors, conflicts, collapse_above)


def _critical_pairs(plan: Plan) -> set[tuple[str, str]]:
    cp = plan.critical_path
    return set(zip(cp, cp[1:], strict=False))


def _full(plan: Plan, title: str, by: str, errors: dict[str, str], conflicts: list[Diagnostic]) -> Drawing:
    colours, clusters = agent_colours(plan), _Clusters()

    def cluster(n: PlanNode) -> str | None:
        if by == "stage":
            return clusters.get(n.stage, f"stage {n.stage}", None)
        if n.is_gate:                        # a gate joins lanes: it belongs to none
            return None
        if n.agent in colours:
            return clusters.get(n.agent, f"agent {n.agent}", colours[n.agent])
        return clusters.get(None, "unassigned", None)

    key = {n.id: f"n{i}" for i, n in enumerate(plan.nodes)}
    boxes = tuple(
        Box(key=key[n.id], lines=_node_lines(n), gate=n.is_gate, approval=n.approve is not None,
            critical=n.critical, fill=GATE_FILL if n.is_gate or n.agent is None else colours.get(n.agent, UNASSIGNED),
            cluster=cluster(n), tooltip=_node_tooltip(n), error=errors.get(n.id), node_id=n.id)
        for n in plan.nodes)
    pairs = _critical_pairs(plan)
    edges = tuple(Edge(key[up], key[n.id], (up, n.id) in pairs) for n in plan.nodes for up in n.needs)
    drawn = tuple(Conflict(key[d.nodes[0]], key[d.nodes[1]], d.code, _conflict_label(d)) for d in conflicts)
    return Drawing(title, by, False, clusters.all(), boxes, edges, drawn)


@dataclass(frozen=True)
class _Lane:
    order: int
    label: str
    fill: str
    merged: bool = False         # several agents share it: name the busiest in the label
    own: bool = False            # the lane of one declared agent

    @property
    def cluster_label(self) -> str:
        return f"agent {self.label}" if self.own else self.label


def _task_counts(plan: Plan) -> dict[str | None, int]:
    known = plan.agent_by_id
    count: dict[str | None, int] = defaultdict(int)
    for n in plan.nodes:
        if not n.is_gate:
            count[n.agent if n.agent in known else None] += 1
    return count


def _lanes(plan: Plan, keep: int) -> dict[str | None, _Lane]:
    """agent id -> its lane: the `keep` agents with the most tasks keep their own lane,
    the others share one; tasks without an agent (a workflow with errors) get their own.
    With keep=0 every task shares one lane."""
    colours, count = agent_colours(plan), _task_counts(plan)
    declared = [a.id for a in plan.agents if count.get(a.id)]
    if keep == 0:
        one = _Lane(0, "all agents", OTHERS, merged=True)
        return {**{a: one for a in declared}, None: one}
    kept = set(sorted(declared, key=lambda a: -count[a])[:keep])
    others = _Lane(len(declared), f"{len(declared) - len(kept)} other agents", OTHERS, merged=True)
    lanes: dict[str | None, _Lane] = {a: _Lane(i, a, colours[a], own=True) if a in kept else others
                                      for i, a in enumerate(declared)}
    lanes[None] = _Lane(len(declared) + 1, "unassigned", UNASSIGNED)
    return lanes


def _stage_label(first: int, last: int) -> str:
    return f"stage {first}" if first == last else f"stages {first}\u2013{last}"


def _collapsed(plan: Plan, title: str, by: str, errors: dict[str, str], conflicts: list[Diagnostic],
               budget: int) -> Drawing:
    """The first of three ever coarser summaries that stays within the budget of boxes
    and edges: one box per agent per stage; the busiest agents' lanes over bands of
    stages; one box per band of stages."""
    stages = max(len(plan.stages), 1)
    full = " (--full draws every node)"

    def summary(how: str, lanes: dict[str | None, _Lane], width: int) -> Drawing:
        return _grouped(plan, f"{title}; one box per {how}{full}", by, errors, conflicts, lanes, width)

    every = _lanes(plan, len(plan.agents))
    if len({(n.stage, n.is_gate, every.get(n.agent, every[None]).order) for n in plan.nodes}) <= budget:
        d = summary("agent per stage", every, 1)
        if len(d.edges) <= EDGE_BUDGET:
            return d
    lanes = _lanes(plan, MAX_LANES)
    kept = sum(1 for lane in set(lanes.values()) if lane.own)
    width = -(-stages // max(1, budget // (len({lane.order for lane in lanes.values()}) + 1)))
    d = summary(f"agent lane per {_stages_word(width)} (the {kept} busiest agents have a lane of their own)",
                lanes, width)
    if len(d.edges) <= EDGE_BUDGET:
        return d
    width = -(-stages // max(1, budget // 2))
    return summary(_stages_word(width), _lanes(plan, 0), width)


def _stages_word(width: int) -> str:
    return "stage" if width == 1 else f"{width} stages"


def _merged_lines(ns: list[PlanNode]) -> tuple[str, ...]:
    count: dict[str, int] = defaultdict(int)
    for n in ns:
        count[n.agent or "unassigned"] += 1
    top = sorted(count, key=lambda a: (-count[a], a))
    names = ", ".join(f"{a} ({count[a]})" for a in top[:3])
    return (names + (f", {len(top) - 3} more" if len(top) > 3 else ""),)


Group = tuple[int, int, int]       # (band of stages, 1 for gates, the lane's order)


def _grouped(plan: Plan, title: str, by: str, errors: dict[str, str], conflicts: list[Diagnostic],
             lanes: dict[str | None, _Lane], width: int) -> Drawing:
    last_stage = max(len(plan.stages) - 1, 0)

    def lane_of(n: PlanNode) -> _Lane | None:
        return None if n.is_gate else lanes.get(n.agent, lanes[None])

    def group_of(n: PlanNode) -> Group:
        lane = lane_of(n)
        return (n.stage // width, 1, 0) if lane is None else (n.stage // width, 0, lane.order)

    members: dict[Group, list[PlanNode]] = defaultdict(list)
    for n in plan.nodes:
        members[group_of(n)].append(n)
    clusters = _Clusters()
    order = sorted(members)
    key = {g: f"g{i}" for i, g in enumerate(order)}
    boxes = []
    for g in order:
        ns = members[g]
        first, lane = ns[0], lane_of(ns[0])
        stages = _stage_label(g[0] * width, min(g[0] * width + width - 1, last_stage))
        cluster: str | None
        if by == "stage":
            cluster = clusters.get(("s", g[0]), stages, None)
        else:
            cluster = None if lane is None else clusters.get(("a", lane.order), lane.cluster_label, lane.fill)
        fill = GATE_FILL if lane is None else lane.fill
        if len(ns) == 1:
            boxes.append(Box(key[g], _node_lines(first), first.is_gate, first.approve is not None,
                             first.critical, fill, cluster, _node_tooltip(first), errors.get(first.id),
                             1, first.id))
            continue
        total = duration(sum(n.estimate_s for n in ns))
        approvals = sum(n.approve is not None for n in ns)
        lines: tuple[str, ...]
        if lane is None:
            lines = (stages, f"{len(ns)} gates \u00b7 {total}")
            if approvals:
                lines += (f"{approvals} need approval",)
        else:
            lines = (f"{lane.label} \u00b7 {stages}", f"{len(ns)} tasks \u00b7 {total}")
            if lane.merged:
                lines += _merged_lines(ns)
        bad = [errors[n.id] for n in ns if n.id in errors]
        boxes.append(Box(key[g], lines, lane is None, approvals > 0, any(n.critical for n in ns), fill,
                         cluster, _clip(", ".join(n.id for n in ns)),
                         f"{len(bad)} with errors; first {bad[0]}" if bad else None, len(ns)))
    group = {n.id: key[group_of(n)] for n in plan.nodes}
    pairs = _critical_pairs(plan)
    counts: dict[tuple[str, str], int] = {}
    critical: set[tuple[str, str]] = set()
    for n in plan.nodes:
        for up in n.needs:
            k = (group[up], group[n.id])
            if k[0] == k[1]:                 # inside one box: its count says enough
                continue
            counts[k] = counts.get(k, 0) + 1
            if (up, n.id) in pairs:
                critical.add(k)
    edges = tuple(Edge(s, d, (s, d) in critical, cnt) for (s, d), cnt in counts.items())
    return Drawing(title, by, True, clusters.all(), tuple(boxes), edges, _group_conflicts(conflicts, group))


def _group_conflicts(conflicts: list[Diagnostic], group: dict[str, str]) -> tuple[Conflict, ...]:
    """One edge per pair of boxes, labelled with its first witness and how many more."""
    first: dict[tuple[str, str], Diagnostic] = {}
    count: dict[tuple[str, str], int] = {}
    for d in conflicts:
        a, b = sorted((group[d.nodes[0]], group[d.nodes[1]]))
        first.setdefault((a, b), d)
        count[(a, b)] = count.get((a, b), 0) + 1
    out = []
    for (a, b), d in first.items():
        n = count[(a, b)]
        more = f" (+{n - 1} more)" if n > 1 else ""
        out.append(Conflict(a, b, d.code, _conflict_label(d) + more))
    return tuple(out)
