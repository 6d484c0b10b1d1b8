"""The domain proof: tasks that may run at the same time never write the same thing.

Codes (SPEC section 4): E300 write/write and E301 write/read overlap between
tasks that may run together, E302 a task's domain outside its agent's, E303 a
pattern that escapes the workdir, W400 unused agent or domain, W401 agents whose
write domains overlap although all their tasks are ordered.

Nothing here compares every pair of tasks. Tasks are grouped by (agent, writes,
reads); only distinct patterns are intersected, and only when one literal prefix
starts the other (patterns whose literal prefixes diverge cannot meet); and
"may run together" is answered for whole groups at once with reachability
bitsets over the smaller side of each overlapping pair (concurrency.py).
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from lanes.compiler.concurrency import Family, Found, concurrent_pairs
from lanes.compiler.model import Model, Pattern, RAgent, RDomain, RNode
from lanes.compiler.patterns import compile_pattern, intersect, pattern_problem, uncovered
from lanes.dsl.diagnostics import Diagnostic, Related, diag
from lanes.dsl.span import Span

MAX_CONFLICTS = 500     # beyond this a workflow is broken wholesale; say how many were left out


@dataclass(frozen=True)
class _Group:
    """Tasks of one agent with the same effective domain: they share every overlap."""

    index: int
    agent: str | None
    serial: bool
    writes: tuple[Pattern, ...]
    reads: tuple[Pattern, ...]
    tasks: tuple[str, ...]


def _usable(patterns: Iterable[Pattern], bad: set[str]) -> tuple[Pattern, ...]:
    return tuple(p for p in patterns if p.text not in bad)


def check_escapes(model: Model) -> tuple[list[Diagnostic], set[str]]:
    """E303 once per written pattern; the texts of unusable patterns are left out later."""
    diags: list[Diagnostic] = []
    bad: set[str] = set()
    seen: set[tuple[str, Span | None]] = set()
    declared = [d for d in model.domains]
    declared += [a.domain for a in model.agents if a.domain.name is None]
    declared += [n.domain for n in model.nodes if n.is_task and n.own_domain and n.domain.name is None]
    for dom in declared:
        for p in (*dom.writes, *dom.reads):
            if (p.text, p.span) in seen:
                continue
            seen.add((p.text, p.span))
            problem = pattern_problem(p.text)
            if problem:
                bad.add(p.text)
                diags.append(diag("E303", f"pattern \"{p.text}\" of {p.owner} escapes the workdir "
                                  f"or is not a valid pattern: {problem}", p.span))
    return diags, bad


def check_unused(model: Model) -> list[Diagnostic]:
    diags = []
    busy = {n.agent for n in model.nodes if n.is_task}
    for a in model.agents:
        if a.id not in busy:
            diags.append(diag("W400", f"agent '{a.id}' has no tasks", a.span))
    used = {a.domain.name for a in model.agents} | {n.domain.name for n in model.nodes if n.own_domain}
    for d in model.domains:
        if d.name not in used:
            span = (d.writes or d.reads or (None,))[0]
            diags.append(diag("W400", f"domain '{d.name}' is never used by an agent or a task",
                              span.span if span else None))
    return diags


def check_containment(model: Model, bad: set[str]) -> list[Diagnostic]:
    """E302: a task's own domain must lie inside its agent's (reads inside writes + reads)."""
    diags = []
    for n in model.nodes:
        if not (n.is_task and n.own_domain and n.agent):
            continue
        agent = model.agent_by_id[n.agent]
        writes = [p.text for p in _usable(agent.domain.writes, bad)]
        reads = writes + [p.text for p in _usable(agent.domain.reads, bad)]
        for verb, mine, theirs in (("writes", n.domain.writes, writes), ("reads", n.domain.reads, reads)):
            for p in _usable(mine, bad):
                outside = uncovered(p.text, theirs)
                if outside is not None:
                    diags.append(diag(
                        "E302", f"task '{n.id}' {verb} \"{p.text}\", outside the domain of agent "
                        f"'{agent.id}': '{outside}' is not in what the agent {verb}", p.span,
                        related=[Related(f"agent '{agent.id}' is declared here", agent.span)],
                        witness=outside, nodes=(n.id,)))
    return diags


class _OverlapIndex:
    """Which distinct patterns may meet: only those whose literal prefixes nest."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.by_scheme: dict[str, list[tuple[str, str]]] = {}
        for t in sorted(set(texts)):
            c = compile_pattern(t)
            self.by_scheme.setdefault(c.scheme, []).append((c.literal_prefix, t))
        for rows in self.by_scheme.values():
            rows.sort()
        self.prefixes: dict[str, dict[str, list[str]]] = {s: {} for s in self.by_scheme}
        for s, rows in self.by_scheme.items():
            for prefix, t in rows:
                self.prefixes[s].setdefault(prefix, []).append(t)
        self.cache: dict[tuple[str, str], str | None] = {}

    def candidates(self, text: str) -> Iterator[str]:
        c = compile_pattern(text)
        rows = self.by_scheme.get(c.scheme, [])
        table = self.prefixes.get(c.scheme, {})
        pre = c.literal_prefix
        for k in range(len(pre)):                          # shorter prefixes of ours
            yield from table.get(pre[:k], ())
        start = bisect_left(rows, (pre, ""))               # ours and longer ones
        for prefix, t in rows[start:]:
            if not prefix.startswith(pre):
                break
            yield t

    def witness(self, a: str, b: str) -> str | None:
        key = (a, b) if a <= b else (b, a)
        if key not in self.cache:
            self.cache[key] = intersect(*key)
        return self.cache[key]


def _groups(model: Model, bad: set[str]) -> list[_Group]:
    agents = model.agent_by_id
    keyed: dict[tuple[str | None, tuple[str, ...], tuple[str, ...]], list[str]] = {}
    doms: dict[tuple[str | None, tuple[str, ...], tuple[str, ...]], RDomain] = {}
    for n in model.nodes:
        if not n.is_task:
            continue
        key = (n.agent, n.domain.write_texts, n.domain.read_texts)
        keyed.setdefault(key, []).append(n.id)
        doms.setdefault(key, n.domain)
    out = []
    for i, (key, tasks) in enumerate(keyed.items()):
        agent = agents.get(key[0] or "")
        out.append(_Group(i, key[0], bool(agent and agent.instances == 1),
                          _usable(doms[key].writes, bad), _usable(doms[key].reads, bad), tuple(tasks)))
    return out


def _same_lane(g1: _Group, g2: _Group) -> bool:
    return g1.agent is not None and g1.agent == g2.agent and g1.serial


def check_overlaps(model: Model, bad: set[str]) -> list[Diagnostic]:
    groups = _groups(model, bad)
    agents = [a for a in model.agents]
    writers: dict[str, list[_Group]] = {}
    readers: dict[str, list[_Group]] = {}
    for g in groups:
        for p in g.writes:
            writers.setdefault(p.text, []).append(g)
        for p in g.reads:
            readers.setdefault(p.text, []).append(g)
    agent_writes = {a.id: _usable(a.domain.writes, bad) for a in agents}
    agent_writers: dict[str, list[RAgent]] = {}
    for a in agents:
        for p in agent_writes[a.id]:
            agent_writers.setdefault(p.text, []).append(a)
    index = _OverlapIndex([*writers, *readers, *agent_writers])

    families: dict[tuple[str, int, int], Family] = {}
    agent_overlaps: dict[tuple[str, str], tuple[str, str, str]] = {}
    for w in sorted(set(writers) | set(agent_writers)):
        for q in index.candidates(w):
            witness = index.witness(w, q)
            if witness is None:
                continue
            for g1 in writers.get(w, ()):
                for g2 in writers.get(q, ()):
                    if g1.index <= g2.index and not _same_lane(g1, g2):
                        families.setdefault(("E300", g1.index, g2.index),
                                            Family("E300", g1.tasks, g2.tasks, (w, q, witness)))
                for g2 in readers.get(q, ()):
                    if not _same_lane(g1, g2):
                        families.setdefault(("E301", g1.index, g2.index),
                                            Family("E301", g1.tasks, g2.tasks, (w, q, witness)))
            for a1 in agent_writers.get(w, ()):
                for a2 in agent_writers.get(q, ()):
                    if a1.order < a2.order:
                        agent_overlaps.setdefault((a1.id, a2.id), (w, q, witness))

    tasks_of: dict[str, list[str]] = {}
    for n in model.nodes:
        if n.is_task and n.agent:
            tasks_of.setdefault(n.agent, []).append(n.id)
    probes: dict[tuple[str, str, str], Family] = {}
    for (id1, id2), overlap in agent_overlaps.items():
        if tasks_of.get(id1) and tasks_of.get(id2):
            probes[("W401", id1, id2)] = Family("W401", tuple(tasks_of[id1]), tuple(tasks_of[id2]), overlap)

    fams = [families[k] for k in sorted(families)] + [probes[k] for k in sorted(probes)]
    found = concurrent_pairs(model, fams, limit=MAX_CONFLICTS)
    return _conflict_diagnostics(model, fams, found, bad)


def _pattern(dom_patterns: Iterable[Pattern], text: str) -> Pattern | None:
    for p in dom_patterns:
        if p.text == text:
            return p
    return None


def _describe(model: Model, node: RNode, verb: str, text: str, bad: set[str]) -> Related:
    p = _pattern(node.domain.writes if verb == "writes" else node.domain.reads, text)
    where = f" (agent {node.agent})" if not node.own_domain and node.agent else ""
    return Related(f"'{node.id}' {verb} \"{text}\"{where}", p.span if p else None)


def _lanes(model: Model, a: RNode, b: RNode) -> str:
    """Why two conflicting tasks are in separate lanes."""
    if a.agent != b.agent:
        return f"different agents {a.agent} and {b.agent}"
    if a.agent is None:                         # both references undefined (E201 says so)
        return "neither has an agent"
    return f"agent {a.agent} has {model.agent_by_id[a.agent].instances} instances"


def _conflict_diagnostics(model: Model, fams: list[Family], found: Found, bad: set[str]) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    by_id = model.node_by_id
    ordered_agents: list[Family] = []
    total = sum(c for f, c in zip(fams, found.counts) if f.code != "W401")
    for fam, pairs in zip(fams, found.pairs):
        if fam.code == "W401":
            if not pairs:
                ordered_agents.append(fam)
            continue
        w, q, witness = fam.patterns
        for a, b in pairs:
            if len(diags) >= MAX_CONFLICTS:
                break
            na, nb = by_id[a], by_id[b]
            first, second = sorted((na, nb), key=lambda n: n.order)
            why = Related(f"they may run at the same time: neither needs the other through any chain "
                          f"of needs, and they run in separate lanes ({_lanes(model, na, nb)})", None)
            if fam.code == "E300":
                msg = (f"tasks '{first.id}' and '{second.id}' may run at the same time and both write "
                       f"'{witness}'")
                rel = [_describe(model, na, "writes", w, bad), _describe(model, nb, "writes", q, bad), why]
            else:
                msg = (f"tasks '{first.id}' and '{second.id}' may run at the same time: '{na.id}' writes "
                       f"'{witness}', which '{nb.id}' reads")
                rel = [_describe(model, na, "writes", w, bad), _describe(model, nb, "reads", q, bad), why]
            diags.append(diag(fam.code, msg, second.span, related=rel, witness=witness, nodes=(a, b)))
    if total > len(diags):
        last = diags[-1]
        diags[-1] = diag(last.code, last.message + f" ({total - len(diags)} more conflicting pairs "
                         "not listed)", last.span, related=last.related, witness=last.witness,
                         nodes=last.nodes)
    for fam in ordered_agents:             # probes are made only for tasks that have agents
        a1, a2 = (model.agent_by_id[by_id[side[0]].agent or ""] for side in (fam.left, fam.right))
        w, q, witness = fam.patterns
        pw = _pattern(a1.domain.writes, w)
        pq = _pattern(a2.domain.writes, q)
        diags.append(diag(
            "W401", f"agents '{a1.id}' and '{a2.id}' both may write '{witness}'; this is safe only "
            "because every task of one is ordered with every task of the other (fragile: a "
            "changed 'needs' breaks it)", a2.span,
            related=[Related(f"'{a1.id}' writes \"{w}\"", pw.span if pw else None),
                     Related(f"'{a2.id}' writes \"{q}\"", pq.span if pq else None)],
            witness=witness))
    return diags


def check_domains(model: Model) -> list[Diagnostic]:
    escapes, bad = check_escapes(model)
    return [*escapes, *check_unused(model), *check_containment(model, bad), *check_overlaps(model, bad)]
