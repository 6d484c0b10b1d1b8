""""May run at the same time" for whole families of tasks at once.

Two tasks may run together when neither is reachable from the other through
`needs` (gates included) and they are not in one single-instance lane. A family
is two sets of tasks whose patterns meet (all writers of one pattern, all
readers or writers of another); we need its pairs that are not ordered.

Reachability is computed as bitsets over a set of "source" tasks only: for each
family one side becomes sources, the side shared by more families (so the
readers of `**` behind a chain of 10,000 tasks are one side, tested with one
operation per task of the other side). Bitsets are built chunk by chunk, so
memory stays bounded for any number of sources, and one lane mask per agent
removes same-lane pairs in the same operation, so a family whose pairs are all
ordered or all in one lane costs one operation per task of its other side.
The cost is, per chunk of CHUNK sources, one pass over the graph's edges, plus
one operation per (family, task of the non-source side), plus the pairs found.
"""
from __future__ import annotations

from collections import Counter
from functools import reduce
from operator import and_

from lanes.compiler.model import Model
from lanes.dsl.frozen import dataclass, field

CHUNK = 4096


@dataclass(frozen=True, eq=False)
class Family:
    """Two sides of tasks whose patterns meet, and the patterns with their witness."""

    code: str                            # "E300", "E301", or "W401" (a probe: any pair at all?)
    left: tuple[str, ...]                # task ids (the writers for E301); shared tuples
    right: tuple[str, ...]
    patterns: tuple[str, str, str]       # left's pattern, right's pattern, a witness
    # a probe between two agents whose sides are all their tasks: any pair of theirs found
    # by another family answers it
    agents: tuple[str, str] | None = None


@dataclass
class Found:
    """Per family, the pairs (left, right) it found first: a pair of tasks belongs to the
    first family that finds it (one diagnostic per pair and code); a probe finds one."""

    pairs: list[list[tuple[str, str]]] = field(default_factory=list)


def _choose_sources(fams: list[Family]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(sources, others) per family: the side in more families; on a tie the larger."""
    lefts, rights = [f.left for f in fams], [f.right for f in fams]
    appearances = Counter(map(id, lefts))              # counted in C: 100,000 families are common
    appearances.update(map(id, rights))
    out = []
    for left, right in zip(lefts, rights):
        a, b = appearances[id(left)], appearances[id(right)]
        out.append((left, right) if a > b or (a == b and len(left) >= len(right)) else (right, left))
    return out


def _graph(model: Model) -> tuple[dict[str, int], list[list[int]], list[list[int]], list[int], list[int]]:
    """Each node's position among the model's nodes, and per position the positions of
    its needs and of its dependents; the positions in topological order (graph.kahn:
    needs first, ties in declaration order), and each position's rank in that order.
    The graph is the model's (Model.graph: made once, when resolve looked for cycles)."""
    pos, up, down, topo = model.graph
    rank = [0] * len(topo)
    for r, i in enumerate(topo):
        rank[i] = r
    return pos, up, down, topo, rank


def concurrent_pairs(model: Model, fams: list[Family]) -> Found:
    found = Found([[] for _ in fams])
    if not fams:
        return found
    pos, ups, downs, topo, rank = _graph(model)
    one_lane = {a.id for a in model.agents if a.instances == 1}
    lane: dict[str, str] = {}                 # task -> its agent, when that agent is one lane
    lane_positions: dict[str, list[int]] = {}    # such an agent -> the positions of its tasks
    for n in model.tasks:
        if n.agent in one_lane:
            lane[n.id] = n.agent
            lane_positions.setdefault(n.agent, []).append(pos[n.id])
    sides = _choose_sources(fams)
    sources: dict[str, None] = {}
    for src in {id(src): src for src, _ in sides}.values():      # sides are shared tuples
        sources.update(dict.fromkeys(src))
    ordered_sources = sorted(sources, key=lambda t: rank[pos[t]])   # chunks follow the graph's order
    bit_of = {t: i for i, t in enumerate(ordered_sources)}
    order = {n.id: n.order for n in model.nodes}
    claimed: set[tuple[str, str, str]] = set()
    agent_of = {n.id: n.agent for n in model.tasks}
    # (agent, agent) -> a pair of their tasks found that may run together: answers the
    # probe between them without a search (6,000 CODEOWNERS-like rules, two a team: each of
    # the 61,293 probes is answered so, by a conflict found before it)
    met: dict[tuple[str | None, str | None], tuple[str, str]] = {}

    for lo in range(0, len(ordered_sources), CHUNK):
        chunk = ordered_sources[lo:lo + CHUNK]
        own = [0] * len(topo)
        lanes: dict[str, int] = {}
        for t in chunk:
            bit = 1 << (bit_of[t] - lo)
            own[pos[t]] = bit
            if t in lane:
                lanes[lane[t]] = lanes.get(lane[t], 0) | bit
        first, last = rank[pos[chunk[0]]], rank[pos[chunk[-1]]]
        anc = [0] * len(topo)                 # sources among the node's ancestors
        for i in topo[first + 1:]:
            v = 0
            for u in ups[i]:
                v |= anc[u] | own[u]
            anc[i] = v
        desc = [0] * len(topo)                # sources among its descendants
        for i in reversed(topo[:last]):
            v = 0
            for d in downs[i]:
                v |= desc[d] | own[d]
            desc[i] = v
        # the sources that may not run with the node: ordered with it, itself, or in its lane
        blocked = [a | d | s for a, d, s in zip(anc, desc, own)]
        for agent, bits in lanes.items():
            for i in lane_positions[agent]:
                blocked[i] |= bits
        masks: dict[int, int] = {}
        for k, (src, others) in enumerate(sides):
            fam = fams[k]
            probe = fam.code == "W401"
            if probe:
                if found.pairs[k]:
                    continue
                if fam.agents in met:
                    found.pairs[k].append(met[fam.agents])
                    continue
            mask = masks.get(id(src))
            if mask is None:
                mask = 0
                for t in src:
                    b = bit_of[t] - lo
                    if 0 <= b < CHUNK:
                        mask |= 1 << b
                masks[id(src)] = mask
            if not mask:
                continue
            # the usual family: every source blocked for every task of the other side, found
            # with one AND over the side (no Python loop per task)
            if not mask & ~reduce(and_, map(blocked.__getitem__, map(pos.__getitem__, others)), -1):
                continue
            src_is_left = src is fam.left
            for o in others:
                free = mask & ~blocked[pos[o]]
                while free:
                    low = free & -free
                    free ^= low
                    s = chunk[low.bit_length() - 1]
                    pair = (s, o) if src_is_left else (o, s)
                    if probe:
                        found.pairs[k].append(pair)
                        break
                    # a write/read pair is directed: (a writes, b reads) differs from the reverse
                    x, y = pair if fam.code == "E301" or order[pair[0]] < order[pair[1]] else pair[::-1]
                    if (fam.code, x, y) not in claimed:
                        claimed.add((fam.code, x, y))
                        found.pairs[k].append(pair)
                        met.setdefault((agent_of[pair[0]], agent_of[pair[1]]), pair)
                        met.setdefault((agent_of[pair[1]], agent_of[pair[0]]), pair[::-1])
                if probe and found.pairs[k]:
                    break
    for pairs in found.pairs:
        if len(pairs) > 1:
            pairs.sort(key=lambda p: (order[p[0]], order[p[1]]))
    return found
