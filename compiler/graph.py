"""Graph algorithms over `needs` (node id -> ids it needs), iterative for 100k nodes."""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import NamedTuple


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


def kahn(up: Sequence[Sequence[int]]) -> tuple[list[int], list[list[int]]]:
    """Kahn's order of the nodes 0..n-1 given the positions each one needs, each once
    (needs first, ties by position), and each node's dependents in position order. On a
    cyclic graph the nodes on a cycle, or after one, are left out of the order."""
    down: list[list[int]] = [[] for _ in up]
    for i, us in enumerate(up):
        for u in us:
            down[u].append(i)
    indeg = [len(us) for us in up]
    queue = deque(i for i, d in enumerate(indeg) if d == 0)
    order: list[int] = []
    while queue:
        i = queue.popleft()
        order.append(i)
        for m in down[i]:
            indeg[m] -= 1
            if indeg[m] == 0:
                queue.append(m)
    return order, down


def topological(needs: dict[str, tuple[str, ...]]) -> list[str]:
    """Kahn's order (needs first), stable in the dict's order. On a cyclic graph the nodes
    on a cycle, or after one, are left out (so it is acyclic when every node is there)."""
    names = list(needs)
    index = {n: i for i, n in enumerate(names)}
    up = [[index[u] for u in (dict.fromkeys(ups) if len(ups) > 1 else ups)] for ups in needs.values()]
    return [names[i] for i in kahn(up)[0]]


class Positions(NamedTuple):
    """A graph of needs on the positions of its nodes (their order in the `needs` dict)."""

    pos: dict[str, int]             # node id -> its position
    up: list[list[int]]             # per position, the positions of its needs
    down: list[list[int]]           # per position, the positions of its dependents
    order: list[int]                # Kahn's order (kahn): all positions when it is acyclic


def positions(needs: dict[str, tuple[str, ...]]) -> Positions:
    """The graph of `needs` on positions, in one pass over its edges (every need is a node
    of `needs`). A need written twice is two edges, which neither the order nor a walk
    along `up` or `down` tells from one."""
    index = {n: i for i, n in enumerate(needs)}
    up = [[index[u] for u in ups] for ups in needs.values()]
    order, down = kahn(up)
    return Positions(index, up, down, order)


def dependents(needs: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    down: dict[str, list[str]] = {n: [] for n in needs}
    for n, ups in needs.items():
        for u in dict.fromkeys(ups):
            down[u].append(n)
    return down
