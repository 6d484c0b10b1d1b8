""""May run at the same time" for whole groups of tasks at once.

Two tasks may run together when neither is reachable from the other through
`needs` (gates included) and they are not in one single-instance lane; the
callers only ask about tasks in different lanes. For every family (two sets of
tasks whose domains overlap) we need the pairs that are not ordered.

Reachability is computed as bitsets, but only over a small set of "source"
tasks: for each family one side becomes sources, chosen so that a group that
appears in many families (say a test agent writing `**/test_*.py` against every
other agent) is the one indexed. Bitsets are built chunk by chunk, so memory
stays bounded for any number of sources.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lanes.compiler.graph import dependents, topological
from lanes.compiler.model import Model

CHUNK = 4096


@dataclass(frozen=True)
class Family:
    code: str                            # "E300", "E301", or "W401" (a probe: any pair at all?)
    left: tuple[str, ...]                # task ids
    right: tuple[str, ...]
    patterns: tuple[str, str, str]       # left's pattern, right's pattern, a witness


@dataclass
class Found:
    pairs: list[list[tuple[str, str]]] = field(default_factory=list)   # per family, (left, right)
    counts: list[int] = field(default_factory=list)                     # unordered pairs in all


def _choose_sources(fams: list[Family]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(sources, others) per family: the side that serves the most families per task."""
    appearances: dict[tuple[str, ...], int] = {}
    for f in fams:
        appearances[f.left] = appearances.get(f.left, 0) + 1
        appearances[f.right] = appearances.get(f.right, 0) + 1
    def score(side: tuple[str, ...]) -> float:
        return appearances[side] / len(side)

    out = []
    for f in fams:
        if score(f.left) >= score(f.right):
            out.append((f.left, f.right))
        else:
            out.append((f.right, f.left))
    return out


def concurrent_pairs(model: Model, fams: list[Family], limit: int) -> Found:
    found = Found([[] for _ in fams], [0] * len(fams))
    if not fams:
        return found
    needs = {n.id: n.needs for n in model.nodes}
    topo = topological(needs)
    pos = {n: i for i, n in enumerate(topo)}
    down = dependents(needs)
    ups = [[pos[u] for u in needs[n]] for n in topo]
    downs = [[pos[d] for d in down[n]] for n in topo]
    sides = _choose_sources(fams)

    sources: dict[str, int] = {}
    for src, _ in sides:
        for t in src:
            sources.setdefault(t, len(sources))
    ordered_sources = sorted(sources, key=pos.__getitem__)   # chunks follow the graph's order
    bit_of = {t: i for i, t in enumerate(ordered_sources)}
    order = {n.id: n.order for n in model.nodes}
    seen_pairs: list[set[tuple[str, ...]]] = [set() for _ in fams]

    for lo in range(0, len(ordered_sources), CHUNK):
        chunk = ordered_sources[lo:lo + CHUNK]
        own = [0] * len(topo)
        for t in chunk:
            own[pos[t]] = 1 << (bit_of[t] - lo)
        anc = [0] * len(topo)
        for i in range(len(topo)):
            v = 0
            for u in ups[i]:
                v |= anc[u] | own[u]
            anc[i] = v
        desc = [0] * len(topo)
        for i in range(len(topo) - 1, -1, -1):
            v = 0
            for d in downs[i]:
                v |= desc[d] | own[d]
            desc[i] = v
        for k, (src, others) in enumerate(sides):
            mask = 0
            for t in src:
                b = bit_of[t] - lo
                if 0 <= b < CHUNK:
                    mask |= 1 << b
            if not mask:
                continue
            probe = fams[k].code == "W401"
            for o in others:
                i = pos[o]
                free = mask & ~(anc[i] | desc[i] | own[i])
                while free:
                    low = free & -free
                    free ^= low
                    s = chunk[low.bit_length() - 1]
                    pair = (s, o) if src is fams[k].left else (o, s)
                    # a write/read pair is directed: (a writes, b reads) differs from the reverse
                    key = pair if fams[k].code == "E301" else tuple(sorted(pair, key=order.__getitem__))
                    if key in seen_pairs[k]:
                        continue
                    seen_pairs[k].add(key)
                    found.counts[k] += 1
                    if len(found.pairs[k]) < (1 if probe else limit):
                        found.pairs[k].append(pair)
                    if probe:
                        break
                if probe and found.pairs[k]:
                    break
    for k in range(len(fams)):
        found.pairs[k].sort(key=lambda p: (order[p[0]], order[p[1]]))
    return found
