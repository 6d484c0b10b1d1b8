"""Graph algorithms over `needs` (node id -> ids it needs), iterative for 100k nodes."""
from __future__ import annotations

from collections import deque


def strongly_connected(needs: dict[str, tuple[str, ...]], order: dict[str, int]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively; members in declaration order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in needs:
        if root in index:
            continue
        work = [(root, iter(needs[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(needs[nxt])))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                out.append(sorted(comp, key=order.__getitem__))
    return out


def cycles(needs: dict[str, tuple[str, ...]], order: dict[str, int]) -> list[list[str]]:
    """One shortest cycle per cyclic component, starting at its first declared node,
    each node needing the next (and the last needing the first)."""
    found: list[list[str]] = []
    for scc in sorted(strongly_connected(needs, order), key=lambda c: order[c[0]]):
        start = scc[0]
        if len(scc) == 1 and start not in needs[start]:
            continue
        inside = set(scc)
        parent: dict[str, str | None] = {start: None}
        queue = deque([start])
        end: str | None = None
        while queue and end is None:
            n = queue.popleft()
            for m in needs[n]:
                if m == start:
                    end = n
                    break
                if m in inside and m not in parent:
                    parent[m] = n
                    queue.append(m)
        path: list[str] = []
        while end is not None:
            path.append(end)
            end = parent[end]
        found.append(path[::-1])
    return found


def topological(needs: dict[str, tuple[str, ...]]) -> list[str]:
    """Kahn's order (needs first), stable in the dict's order. The graph must be acyclic."""
    indeg = {n: len(set(ups)) for n, ups in needs.items()}
    down: dict[str, list[str]] = {n: [] for n in needs}
    for n, ups in needs.items():
        for u in set(ups):
            down[u].append(n)
    queue = deque(n for n, d in indeg.items() if d == 0)
    out = []
    while queue:
        n = queue.popleft()
        out.append(n)
        for m in down[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                queue.append(m)
    return out


def dependents(needs: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    down: dict[str, list[str]] = {n: [] for n in needs}
    for n, ups in needs.items():
        for u in dict.fromkeys(ups):
            down[u].append(n)
    return down
