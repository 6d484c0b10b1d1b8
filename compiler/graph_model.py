"""What to draw: a Plan (plus its diagnostics) reduced to boxes, edges and clusters.

The DOT and Mermaid emitters render the same `Drawing`, so both show the same
thing: one colour per agent, gates as diamonds, approval gates marked, the
critical path bold, stages or agent lanes as clusters, estimates on nodes, and
every write/write or write/read conflict (E300/E301) as a red label box joined by
two red dashed edges to exactly its pair (a label of its own is laid out like a
node, so it never lands on one, and the edges are routed around the others).
Every box has a rank (its stage, or its band of stages): boxes of one rank are
drawn in one column, so stage clusters and agent lanes never overlap.

Above `COLLAPSE_ABOVE` nodes a graph is unreadable and slow to lay out, so unless
`full` is asked for, the drawing is a grid: one box per agent lane and stage
(or band of stages) with its count, one diamond per stage for its gates, edges
aggregated with counts. The `MAX_LANES - 1` busiest agents keep a lane of their
own, the others share one; bands widen until the grid fits `SUMMARY_BOXES`.

Emitter ids are synthetic (`n0`, `g0`, `c0`, `x0`): user ids may hold any
character, so they appear only in labels, which each emitter escapes for its own
syntax.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from itertools import pairwise

from lanes.compiler.planfile import Plan, PlanNode
from lanes.dsl.diagnostics import Diagnostic
from lanes.dsl.durations import duration
from lanes.dsl.frozen import dataclass

COLLAPSE_ABOVE = 60
SUMMARY_BOXES = 120              # a summary grid holds at most this many boxes ...
SUMMARY_EDGES = 400              # ... and edges (more is a hairball, and slow to lay out)
MAX_LANES = 8                    # lanes in a summary: the busiest agents', plus one shared by the rest
CONFLICT_CODES = ("E300", "E301")
# Light fills that keep black text readable, in a fixed order: an agent's colour is
# its position among the agents, so it is the same in every drawing of a workflow.
PALETTE = ("#8ecae6", "#ffb703", "#90be6d", "#f4a3c0", "#bdb2ff", "#f9c74f",
           "#84dcc6", "#ffadad", "#a0c4ff", "#e9c46a", "#caffbf", "#d4a373")
UNASSIGNED = "#d9d9d9"
OTHERS = "#eeeeee"
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
    rank: int = 0                # its column: the stage, or the band of stages


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    critical: bool
    count: int = 1
    flat: bool = False           # both ends in one rank (inside a band): must not bend the ranks


@dataclass(frozen=True)
class Conflict:
    key: str                     # emitter id of its label box
    a: str
    b: str
    code: str
    label: str
    count: int = 1               # conflicting pairs of tasks it stands for


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
    direction: str = "LR"        # ranks left to right, or top to bottom ("TB") when that fits a screen better


# Rough sizes of a laid-out box in points, to choose the direction that fits a screen
BOX_W, BOX_H, RANK_GAP, ROW_GAP = 150, 50, 40, 20
SCREEN_W, SCREEN_H = 1400, 2000              # a page scrolls down more easily than across


def direction(boxes: Sequence[Box]) -> str:
    """"TB" when stacking the ranks top to bottom needs less shrinking to fit a screen."""
    per_rank: dict[int, int] = defaultdict(int)
    for b in boxes:
        per_rank[b.rank] += 1
    ranks, rows = len(per_rank), max(per_rank.values(), default=1)

    def shrink(width: float, height: float) -> float:
        return max(width / SCREEN_W, height / SCREEN_H, 1.0)

    across = shrink(ranks * (BOX_W + RANK_GAP), rows * (BOX_H + ROW_GAP))
    down = shrink(rows * (BOX_W + ROW_GAP), ranks * (BOX_H + RANK_GAP))
    return "TB" if down < across else "LR"


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
    return _summary(plan, title, by, errors, conflicts)


def _critical_pairs(plan: Plan) -> set[tuple[str, str]]:
    cp = plan.critical_path
    return set(pairwise(cp))


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
            cluster=cluster(n), tooltip=_node_tooltip(n), error=errors.get(n.id), node_id=n.id, rank=n.stage)
        for n in plan.nodes)
    pairs = _critical_pairs(plan)
    edges = tuple(Edge(key[up], key[n.id], (up, n.id) in pairs) for n in plan.nodes for up in n.needs)
    return Drawing(title, by, False, clusters.all(), boxes, edges, _pair_conflicts(conflicts, key), direction(boxes))


def _pair_conflicts(conflicts: list[Diagnostic], key: dict[str, str]) -> tuple[Conflict, ...]:
    """One label per pair of tasks: their ids, then a line per conflict (E300, E301 both ways)."""
    lines: dict[frozenset[str], list[str]] = {}
    first: dict[frozenset[str], Diagnostic] = {}
    for d in conflicts:
        pair = frozenset(d.nodes)
        first.setdefault(pair, d)
        label = _conflict_label(d)
        if label not in lines.setdefault(pair, []):
            lines[pair].append(label)
    # the pair is named too: the label says which two tasks even where the lines are hard to follow
    return tuple(Conflict(f"x{i}", key[d.nodes[0]], key[d.nodes[1]], d.code,
                          "\n".join([f"{d.nodes[0]} \u00d7 {d.nodes[1]}", *lines[pair]]), len(lines[pair]))
                 for i, (pair, d) in enumerate(first.items()))




@dataclass(frozen=True)
class _Lane:
    order: int
    label: str
    fill: str
    merged: bool = False         # several agents share it: name the busiest in its boxes

    @property
    def cluster_label(self) -> str:
        return self.label if self.merged or self.label == "unassigned" else f"agent {self.label}"


def _lanes(plan: Plan, keep: int) -> dict[str | None, _Lane]:
    """agent id -> its lane: all agents when they are at most `keep`, else the `keep - 1`
    with the most tasks (ties: first declared) and one lane for the others; tasks
    without a known agent (a workflow with errors) get a lane of their own."""
    colours, known = agent_colours(plan), plan.agent_by_id
    count: dict[str, int] = defaultdict(int)
    for n in plan.nodes:
        if not n.is_gate and n.agent in known:
            count[n.agent] += 1
    declared = [a.id for a in plan.agents if count[a.id]]
    own = declared if len(declared) <= keep else sorted(declared, key=lambda a: -count[a])[:keep - 1]
    rest = len(declared) - len(own)
    others = _Lane(len(declared), f"{rest} other agent{'s' if rest != 1 else ''}", OTHERS, merged=True)
    lanes: dict[str | None, _Lane] = {a: _Lane(i, a, colours[a]) if a in own else others
                                      for i, a in enumerate(declared)}
    lanes[None] = _Lane(len(declared) + 1, "unassigned", UNASSIGNED)
    return lanes


Group = tuple[int, int, int]       # (band of stages, 1 for gates, the lane's order)


def _stage_label(first: int, last: int) -> str:
    return f"stage {first}" if first == last else f"stages {first}\u2013{last}"


def _summary(plan: Plan, title: str, by: str, errors: dict[str, str], conflicts: list[Diagnostic]) -> Drawing:
    """The grid with the narrowest bands of stages that fits SUMMARY_BOXES and SUMMARY_EDGES."""
    lanes = _lanes(plan, MAX_LANES)
    stages = max(len(plan.stages), 1)

    def group_of(width: int) -> dict[str, Group]:
        out: dict[str, Group] = {}
        for n in plan.nodes:
            lane = None if n.is_gate else lanes.get(n.agent, lanes[None])
            out[n.id] = (n.stage // width, 1, 0) if lane is None else (n.stage // width, 0, lane.order)
        return out

    def fits(group: dict[str, Group]) -> bool:
        if len(set(group.values())) > SUMMARY_BOXES:
            return False
        edges = {(group[u], group[n.id]) for n in plan.nodes for u in n.needs}
        return sum(a != b for a, b in edges) <= SUMMARY_EDGES

    low, high = 1, stages                    # the narrowest width that fits (the widest always does)
    while low < high:
        mid = (low + high) // 2
        if fits(group_of(mid)):
            high = mid
        else:
            low = mid + 1
    width, merged = low, any(lane.merged for lane in lanes.values())
    how = "agent lane and stage" if width == 1 else f"agent lane and band of {width} stages"
    if merged:
        how += f" (the {MAX_LANES - 1} busiest agents have a lane of their own)"
    return _grouped(plan, f"{title}; one box per {how} (--full draws every node)", by, errors, conflicts,
                    lanes, width, group_of(width))


def _merged_lines(ns: list[PlanNode]) -> tuple[str, ...]:
    count: dict[str, int] = defaultdict(int)
    for n in ns:
        count[n.agent or "unassigned"] += 1
    top = sorted(count, key=lambda a: (-count[a], a))
    names = ", ".join(f"{a} ({count[a]})" for a in top[:3])
    return (names + (f", {len(top) - 3} more" if len(top) > 3 else ""),)


def _group_box(key: str, g: Group, ns: list[PlanNode], lane: _Lane | None, stages: str, cluster: str | None,
               errors: dict[str, str]) -> Box:
    first = ns[0]
    fill = GATE_FILL if lane is None else lane.fill
    if len(ns) == 1:
        return Box(key, _node_lines(first), first.is_gate, first.approve is not None, first.critical, fill,
                   cluster, _node_tooltip(first), errors.get(first.id), 1, first.id, g[0])
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
    return Box(key, lines, lane is None, approvals > 0, any(n.critical for n in ns), fill, cluster,
               _clip(", ".join(n.id for n in ns)), f"{len(bad)} with errors; first {bad[0]}" if bad else None,
               len(ns), None, g[0])


def _grouped(plan: Plan, title: str, by: str, errors: dict[str, str], conflicts: list[Diagnostic],
             lanes: dict[str | None, _Lane], width: int, group_of: dict[str, Group]) -> Drawing:
    last_stage = max(len(plan.stages) - 1, 0)
    members: dict[Group, list[PlanNode]] = defaultdict(list)
    for n in plan.nodes:
        members[group_of[n.id]].append(n)
    lane_by_order = {lane.order: lane for lane in lanes.values()}
    clusters = _Clusters()
    if by == "agent":                        # lanes in declaration order, whichever stage they start in
        for lane_order in sorted({g[2] for g in members if g[1] == 0}):
            first = lane_by_order[lane_order]
            clusters.get(("a", lane_order), first.cluster_label, first.fill)
    order = sorted(members)
    key = {g: f"g{i}" for i, g in enumerate(order)}
    boxes = []
    for g in order:
        ns = members[g]
        lane = None if g[1] else lane_by_order[g[2]]
        stages = _stage_label(g[0] * width, min(g[0] * width + width - 1, last_stage))
        if by == "stage":
            cluster: str | None = clusters.get(("s", g[0]), stages, None)
        else:
            cluster = None if lane is None else clusters.get(("a", lane.order), lane.cluster_label, lane.fill)
        boxes.append(_group_box(key[g], g, ns, lane, stages, cluster, errors))
    group = {nid: key[g] for nid, g in group_of.items()}
    pairs = _critical_pairs(plan)
    counts: dict[tuple[str, str], int] = {}
    critical: set[tuple[str, str]] = set()
    flat: set[tuple[str, str]] = set()
    for n in plan.nodes:
        for up in n.needs:
            k = (group[up], group[n.id])
            if k[0] == k[1]:                 # inside one box: its count says enough
                continue
            counts[k] = counts.get(k, 0) + 1
            if (up, n.id) in pairs:
                critical.add(k)
            if group_of[up][0] == group_of[n.id][0]:
                flat.add(k)
    edges = tuple(Edge(s, d, (s, d) in critical, cnt, (s, d) in flat) for (s, d), cnt in counts.items())
    return Drawing(title, by, True, clusters.all(), tuple(boxes), edges, _group_conflicts(conflicts, group),
                   direction(boxes))


def _group_conflicts(conflicts: list[Diagnostic], group: dict[str, str]) -> tuple[Conflict, ...]:
    """One label per pair of boxes, with its first witness and how many more pairs."""
    first: dict[tuple[str, str], Diagnostic] = {}
    count: dict[tuple[str, str], int] = {}
    for d in conflicts:
        a, b = sorted((group[d.nodes[0]], group[d.nodes[1]]))
        first.setdefault((a, b), d)
        count[(a, b)] = count.get((a, b), 0) + 1
    out = []
    for i, ((a, b), d) in enumerate(first.items()):
        n = count[(a, b)]
        more = f" (+{n - 1} more)" if n > 1 else ""
        out.append(Conflict(f"x{i}", a, b, d.code, _conflict_label(d) + more, n))
    return tuple(out)
