"""The domain proof: tasks that may run at the same time never write the same thing.

Codes (SPEC section 4): E300 write/write and E301 write/read overlap between
tasks that may run together, E302 a task's domain outside its agent's, E303 a
pattern that escapes the workdir, W400 unused agent or domain, W401 agents whose
write domains overlap although all their tasks are ordered.

Every conflicting pair of tasks is one diagnostic (nothing is capped), and nothing
here compares every pair of tasks or of patterns. Patterns are deduplicated per
domain and tasks grouped by (agent, distinct writes, distinct reads); distinct
patterns meet only through prefix buckets, and an owner pair that already has its
witness, shares one lane or is ordered is not looked at again (overlaps.py); each
meeting pattern pair is one family (all its writers against all its readers or
writers), answered with reachability bitsets over the side shared by more families
(concurrency.py). So the cost is about: the distinct patterns times the prefix
lengths present (bucket look-ups), plus one intersection per meeting pattern pair
not yet settled, plus one pass over the graph per 4,096 source tasks, plus one
bitset operation per (family, task of its other side), plus the pairs reported.
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property

from lanes.compiler.concurrency import Family, concurrent_pairs
from lanes.compiler.model import Model, Pattern, RNode
from lanes.compiler.overlaps import CHEAP, Meeting, PrefixTable, meetings
from lanes.compiler.patterns import compile_pattern, pattern_problem, uncovered
from lanes.dsl.diagnostics import CODES, Diagnostic, Related, diag
from lanes.dsl.frozen import dataclass
from lanes.dsl.span import Span


@dataclass(frozen=True)
class _Group:
    """Tasks of one agent with the same effective domain: they share every overlap."""

    index: int
    agent: str | None
    serial: bool
    writes: tuple[str, ...]             # distinct usable pattern texts
    reads: tuple[str, ...]
    tasks: tuple[str, ...]


def _usable(patterns: Iterable[Pattern], bad: set[str]) -> tuple[Pattern, ...]:
    return tuple(p for p in patterns if p.text not in bad)


def check_escapes(model: Model) -> tuple[list[Diagnostic], set[str]]:
    """E303 once per written pattern; the texts of unusable patterns are left out later."""
    diags: list[Diagnostic] = []
    bad: set[str] = set()
    seen: set[tuple[str, Span | None]] = set()
    problems: dict[str, str | None] = {}           # text -> its problem (the same text is written often)
    declared = [d for d in model.domains]
    declared += [a.domain for a in model.agents if a.domain.name is None]
    declared += [n.domain for n in model.tasks if n.own_domain and n.domain.name is None]
    for dom in declared:
        for p in (*dom.writes, *dom.reads):
            if (p.text, p.span) in seen:
                continue
            seen.add((p.text, p.span))
            if p.text not in problems:
                problems[p.text] = pattern_problem(p.text)
            problem = problems[p.text]
            if problem:
                bad.add(p.text)
                diags.append(diag("E303", f"pattern \"{p.text}\" of {p.owner} escapes the workdir "
                                  f"or is not a valid pattern: {problem}", p.span))
    return diags, bad


def check_unused(model: Model) -> list[Diagnostic]:
    diags = []
    busy = {n.agent for n in model.tasks}
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
    """E302: a task's own domain must lie inside its agent's (reads inside writes + reads).
    Each distinct pattern is decided once per agent, against only the agent's patterns
    whose literal prefixes nest with it (the others cannot cover any of it)."""
    diags = []
    indexes: dict[tuple[str, str], tuple[_OverlapIndex, set[str]]] = {}
    answers: dict[tuple[str, str, str], str | None] = {}
    for n in model.tasks:
        if not (n.own_domain and n.agent):
            continue
        agent = model.agent_by_id[n.agent]
        for verb, mine in (("writes", n.domain.writes), ("reads", n.domain.reads)):
            key = (agent.id, verb)
            if key not in indexes:
                theirs = [p.text for p in _usable(agent.domain.writes, bad)]
                if verb == "reads":
                    theirs += [p.text for p in _usable(agent.domain.reads, bad)]
                indexes[key] = (_OverlapIndex(theirs), set(theirs))
            index, texts = indexes[key]
            for p in _usable(mine, bad):
                if p.text in texts:
                    continue
                asked = (agent.id, verb, p.text)
                if asked not in answers:
                    answers[asked] = uncovered(p.text, list(dict.fromkeys(index.candidates(p.text))))
                outside = answers[asked]
                if outside is not None:
                    diags.append(diag(
                        "E302", f"task '{n.id}' {verb} \"{p.text}\", outside the domain of agent "
                        f"'{agent.id}': '{outside}' is not in what the agent {verb}", p.span,
                        related=[Related(f"agent '{agent.id}' is declared here", agent.span)],
                        witness=outside, nodes=(n.id,)))
    return diags


class _OverlapIndex:
    """Which distinct patterns may cover a part of another: those whose literal prefixes
    nest (for containment, E302)."""

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


def _groups(model: Model, bad: set[str]) -> list[_Group]:
    """Tasks of one agent with the same distinct usable patterns (duplicates dropped)."""
    agents = model.agent_by_id
    keyed: dict[tuple[str | None, tuple[str, ...], tuple[str, ...]], list[str]] = {}
    # (agent, the domain object) -> its group's list: the key of texts is made and hashed
    # once per domain object, not once per task (the tasks of an agent share its domain)
    lists: dict[tuple[str | None, int], list[str]] = {}
    for n in model.tasks:
        shared = (n.agent, id(n.domain))
        tasks = lists.get(shared)
        if tasks is None:
            texts = (tuple(dict.fromkeys(p.text for p in _usable(n.domain.writes, bad))),
                     tuple(dict.fromkeys(p.text for p in _usable(n.domain.reads, bad))))
            tasks = lists[shared] = keyed.setdefault((n.agent, *texts), [])
        tasks.append(n.id)
    out = []
    for i, ((agent_id, writes, reads), tasks) in enumerate(keyed.items()):
        agent = agents.get(agent_id or "")
        out.append(_Group(i, agent_id, bool(agent and agent.instances == 1), writes, reads, tuple(tasks)))
    return out


class _Order:
    """Is one task reachable from the other through needs? A depth-first search back
    along needs from the later task, pruned at nodes before the earlier one in a
    topological order and given up (unknown, so False) past BUDGET nodes: a cheap
    certificate that lets a big bucket of patterns be skipped, never a verdict."""

    BUDGET = 256

    def __init__(self, model: Model) -> None:
        self.model = model

    @cached_property
    def needs(self) -> dict[str, tuple[str, ...]]:
        return {n.id: n.needs for n in self.model.nodes}

    @cached_property
    def pos(self) -> dict[str, int]:                  # only when a search is needed at all
        nodes = self.model.nodes
        return {nodes[i].id: rank for rank, i in enumerate(self.model.graph.order)}

    def ordered(self, a: str, b: str) -> bool:
        if self.pos[a] > self.pos[b]:
            a, b = b, a
        floor, seen, stack = self.pos[a], {b}, [b]
        while stack:
            for u in self.needs[stack.pop()]:
                if u == a:
                    return True
                if u not in seen and self.pos[u] > floor:
                    if len(seen) >= self.BUDGET:
                        return False
                    seen.add(u)
                    stack.append(u)
        return False


def _same_lane(g1: _Group, g2: _Group) -> bool:
    return g1.agent is not None and g1.agent == g2.agent and g1.serial


def _owners(groups: Iterable[_Group], which: str) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for g in groups:
        for t in (g.writes if which == "writes" else g.reads):
            out.setdefault(t, []).append(g.index)
    return out


def _tasks_by_pattern(groups: list[_Group], owners: dict[str, list[int]]) -> dict[str, tuple[str, ...]]:
    return {t: tuple(x for i in gs for x in groups[i].tasks) for t, gs in owners.items()}


_Pairs = list[list[tuple[str, str]]]              # per family, the pairs of tasks it found


def check_overlaps(model: Model, bad: set[str]) -> list[Diagnostic]:
    groups = _groups(model, bad)
    order = _Order(model)
    writers, readers = _owners(groups, "writes"), _owners(groups, "reads")
    writer_tasks, reader_tasks = _tasks_by_pattern(groups, writers), _tasks_by_pattern(groups, readers)
    done: set[tuple[str, int, int]] = set()
    max_pairs = 64                    # groups whose pairs are tested for order one by one
    ordered_groups: dict[tuple[int, int], bool] = {}

    def settled(code: str, i: int, j: int, deep: bool) -> bool:
        """No pair of tasks of groups i and j needs another family for `code` (with
        `deep`, small groups whose pairs are all ordered count too)."""
        if code == "E300" and i > j:
            i, j = j, i
        if (code, i, j) in done:
            return True
        g1, g2 = groups[i], groups[j]
        if _same_lane(g1, g2) or (i == j and len(g1.tasks) == 1):
            return True
        if not deep or len(g1.tasks) * len(g2.tasks) > max_pairs:
            return False
        if (i, j) not in ordered_groups:
            ordered_groups[(i, j)] = all(a == b or order.ordered(a, b) for a in g1.tasks for b in g2.tasks)
        return ordered_groups[(i, j)]

    families: list[Family] = []

    def record(code: str) -> Callable[[Meeting], None]:
        def found(m: Meeting) -> None:
            w, q, _ = m
            right = (writers if code == "E300" else readers)[q]
            families.append(Family(code, writer_tasks[w], (writer_tasks if code == "E300" else reader_tasks)[q], m))
            if len(writers[w]) * len(right) <= CHEAP:
                for i in writers[w]:
                    for j in right:
                        done.add((code, min(i, j), max(i, j)) if code == "E300" else (code, i, j))
        return found

    tables: dict[int, PrefixTable] = {}               # the writers' table serves both
    meetings(writers, writers, lambda i, j, deep: settled("E300", i, j, deep), record("E300"), tables)
    meetings(writers, readers, lambda i, j, deep: settled("E301", i, j, deep), record("E301"), tables)
    families.sort(key=lambda f: (f.code, f.patterns))
    if _one_family_per_pair(groups):
        # the conflicts are found alone, and a probe is made only for agents with no
        # conflict between them (in 6,000 CODEOWNERS-like rules: none of the 66,670
        # pairs of agents that meet)
        found = concurrent_pairs(model, families).pairs
        # with no needs at all no two tasks are ordered: every probe would find a pair
        ordered = any(n.needs for n in model.nodes)
        probes = _agent_probes(model, bad, _agents_met(model, found)) if ordered else []
        return _conflict_diagnostics(model, families, found) + _quiet_agents(
            model, probes, concurrent_pairs(model, probes).pairs)
    # Otherwise a pair goes to the first family that finds it in chunk order, and the
    # probes' sources are among the chunked ones: all are probed, in the same call.
    probes = _agent_probes(model, bad, set())
    found = concurrent_pairs(model, families + probes).pairs
    return (_conflict_diagnostics(model, families, found[:len(families)])
            + _quiet_agents(model, probes, found[len(families):]))


def _one_family_per_pair(groups: list[_Group]) -> bool:
    """Does every task write one pattern and read one at most? Then a pair of tasks is in
    one family at most (per code), so the family it goes to cannot depend on how
    concurrent_pairs chunks its sources, nor on which other families share the call (only
    which of two tasks writing the same pattern is found first may, and the diagnostic
    names the earlier one first either way; the pipeline sorts diagnostics by place)."""
    return all(len(g.writes) <= 1 and len(g.reads) <= 1 for g in groups)


def _agents_met(model: Model, pairs: _Pairs) -> set[tuple[str, str]]:
    """The pairs of agents (ids sorted) with two of their tasks in a conflict."""
    agent = {n.id: n.agent for n in model.tasks}
    met = set()
    for found in pairs:
        for a, b in found:
            x, y = agent[a], agent[b]
            if x and y and x != y:
                met.add((x, y) if x < y else (y, x))
    return met


def _agent_probes(model: Model, bad: set[str], met: set[tuple[str, str]]) -> list[Family]:
    """W401 probes: agents with tasks whose write domains meet, except the pairs `met` (ids
    sorted) already known to have tasks that may run together; a probe with no such pair
    becomes the warning. A pair left out is only passed over in the search: every other
    pair still gets the first meeting it would have got without it."""
    tasks_of: dict[str, list[str]] = {}
    for n in model.tasks:
        if n.agent:
            tasks_of.setdefault(n.agent, []).append(n.id)
    agents = [a for a in model.agents if tasks_of.get(a.id)]
    owners: dict[str, list[int]] = {}
    for i, a in enumerate(agents):
        for t in dict.fromkeys(p.text for p in _usable(a.domain.writes, bad)):
            owners.setdefault(t, []).append(i)
    index = {a.id: i for i, a in enumerate(agents)}
    known: set[tuple[int, int]] = set()        # (lower, higher index): met, or given its meeting
    for x, y in met:
        if x in index and y in index:
            known.add((min(index[x], index[y]), max(index[x], index[y])))
    overlaps: dict[tuple[int, int], Meeting] = {}

    def found(m: Meeting) -> None:
        for i in owners[m[0]]:
            for j in owners[m[1]]:
                key = (min(i, j), max(i, j))
                if i != j and key not in known:
                    known.add(key)
                    overlaps[key] = m if i < j else (m[1], m[0], m[2])

    meetings(owners, owners, lambda i, j, _: i == j or (min(i, j), max(i, j)) in known, found)
    sides = {a.id: tuple(tasks_of[a.id]) for a in agents}
    return [Family("W401", sides[agents[i].id], sides[agents[j].id], overlaps[(i, j)],
                   (agents[i].id, agents[j].id)) for i, j in sorted(overlaps)]


class _Spans:
    """Where each pattern text was written, per domain (found once, not per diagnostic), and
    the related lines made of them (one object per task, verb and pattern, shared by every
    conflict it is in: 66k conflicts of 6,000 CODEOWNERS-like rules share a few thousand)."""

    def __init__(self) -> None:
        self.memo: dict[int, dict[str, Pattern]] = {}
        self.lines: dict[tuple[str, str, str], Related] = {}

    def find(self, patterns: tuple[Pattern, ...], text: str) -> Pattern | None:
        table = self.memo.get(id(patterns))
        if table is None:
            table = self.memo[id(patterns)] = {}
            for p in patterns:
                table.setdefault(p.text, p)
        return table.get(text)


def _describe(spans: _Spans, node: RNode, verb: str, text: str) -> Related:
    line = spans.lines.get((node.id, verb, text))
    if line is None:
        p = spans.find(node.domain.writes if verb == "writes" else node.domain.reads, text)
        where = f" (agent {node.agent})" if not node.own_domain and node.agent else ""
        line = spans.lines[(node.id, verb, text)] = Related(f"'{node.id}' {verb} \"{text}\"{where}",
                                                            p.span if p else None)
    return line


def _lanes(model: Model, a: RNode, b: RNode) -> str:
    """Why two conflicting tasks are in separate lanes."""
    if a.agent != b.agent:
        return f"different agents {a.agent} and {b.agent}"
    if a.agent is None:                         # both references undefined (E201 says so)
        return "neither has an agent"
    return f"agent {a.agent} has {model.agent_by_id[a.agent].instances} instances"


def _conflict_diagnostics(model: Model, fams: list[Family], found: _Pairs) -> list[Diagnostic]:
    """One E300/E301 per conflicting pair of tasks (every one: nothing is capped).
    A pair costs its message and little else: a task's pattern line is made once for all its
    pairs and the lanes line once per pair of agents (66,670 conflicts of 6,000 CODEOWNERS-like
    rules share 5,802 pattern lines)."""
    diags: list[Diagnostic] = []
    by_id = model.node_by_id
    spans = _Spans()
    whys: dict[tuple[str | None, str | None], Related] = {}        # by the two agents
    for fam, pairs in zip(fams, found, strict=True):
        code = fam.code
        verb = "writes" if code == "E300" else "reads"
        severity = CODES[code]                  # given, so that __post_init__ does not look it up
        for a, b in pairs:
            w, q, witness = fam.patterns
            na, nb = by_id[a], by_id[b]
            if code == "E300" and na.order > nb.order:     # the earlier task first
                na, nb, w, q = nb, na, q, w
                a, b = b, a
            first, second = (nb, na) if nb.order < na.order else (na, nb)
            why = whys.get((na.agent, nb.agent))
            if why is None:
                why = whys[(na.agent, nb.agent)] = Related(
                    "they may run at the same time: neither needs the other through any chain of needs, "
                    f"and they run in separate lanes ({_lanes(model, na, nb)})", None)
            if code == "E300":
                msg = (f"tasks '{first.id}' and '{second.id}' may run at the same time and both write "
                       f"'{witness}'")
            else:
                msg = (f"tasks '{first.id}' and '{second.id}' may run at the same time: '{na.id}' writes "
                       f"'{witness}', which '{nb.id}' reads")
            rel = (_describe(spans, na, "writes", w), _describe(spans, nb, verb, q), why)
            diags.append(Diagnostic(code, msg, second.span, rel, witness, (a, b), severity))
    return diags


def _quiet_agents(model: Model, probes: list[Family], found: _Pairs) -> list[Diagnostic]:
    """W401 for each probe that found no pair of tasks that may run together."""
    diags: list[Diagnostic] = []
    by_id = model.node_by_id
    spans = _Spans()
    for fam, pairs in zip(probes, found, strict=True):
        if pairs:
            continue
        a1, a2 = (model.agent_by_id[by_id[side[0]].agent or ""] for side in (fam.left, fam.right))
        w, q, witness = fam.patterns
        pw = spans.find(a1.domain.writes, w)
        pq = spans.find(a2.domain.writes, q)
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
