"""The domain analysis against a brute-force twin that compares every pair of tasks.

The analysis groups tasks, indexes patterns by literal prefix and answers "may
run together" with bitsets over a chosen side; the twin does none of that: for
every pair of tasks it walks the graph and intersects every pattern pair.
"""
from __future__ import annotations

import itertools
from pathlib import Path
import sys

from hypothesis import HealthCheck, given, settings, strategies as st

from lanes.compiler.domains import check_domains
from lanes.compiler.patterns import intersect
from lanes.compiler.resolve import resolve
from lanes.dsl.loader import parse_source
from lanes.dsl.source import Source

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

PATTERNS = ["a/**", "a/b/*", "**/t_*", "b/*", "a/*/c", "**", "b/{x,y}", "c/?", "port:80*", "port:8000"]


@st.composite
def workflows(draw):
    n_agents = draw(st.integers(1, 4))
    agents = []
    for a in range(n_agents):
        writes = draw(st.lists(st.sampled_from(PATTERNS), max_size=2, unique=True))
        reads = draw(st.lists(st.sampled_from(PATTERNS), max_size=1, unique=True))
        agents.append((f"ag{a}", writes, reads, draw(st.sampled_from([1, 1, 2]))))
    n = draw(st.integers(1, 9))
    tasks = []
    for i in range(n):
        needs = draw(st.lists(st.integers(0, max(0, i - 1)), max_size=2, unique=True)) if i else []
        own = draw(st.none() | st.lists(st.sampled_from(PATTERNS), max_size=2, unique=True))
        tasks.append((f"t{i}", draw(st.integers(0, n_agents - 1)), sorted(set(needs)), own))
    gate_after = draw(st.none() | st.integers(0, n - 1))
    return agents, tasks, gate_after


def to_yaml(agents, tasks, gate_after) -> str:
    q = lambda xs: "[" + ", ".join(f'"{x}"' for x in xs) + "]"  # noqa: E731
    out = ["workflow: w", "agents:"]
    for name, writes, reads, inst in agents:
        out.append(f"  {name}: {{domain: {{writes: {q(writes)}, reads: {q(reads)}}}, instances: {inst}}}")
    out.append("tasks:")
    for name, agent, needs, own in tasks:
        needs = [f"t{j}" for j in needs]
        idx = int(name[1:])
        if gate_after is not None and idx > gate_after and idx % 2 == 0:
            needs.append("g")
        dom = f", domain: {{writes: {q(own)}}}" if own is not None else ""
        out.append(f"  {name}: {{agent: ag{agent}, run: x, needs: [{', '.join(needs)}]{dom}}}")
    if gate_after is not None:
        out.append(f"gates:\n  g: {{needs: [t{gate_after}], run: x}}")
    return "\n".join(out) + "\n"


def brute_force(model) -> set[tuple[str, str, str]]:
    nodes = model.node_by_id

    def reaches(a, b, seen=None) -> bool:     # does b (transitively) need a?
        return any(u == a or reaches(a, u) for u in nodes[b].needs)

    tasks = [n for n in model.nodes if n.is_task]
    out = set()
    for x, y in itertools.permutations(tasks, 2):
        if reaches(x.id, y.id) or reaches(y.id, x.id):
            continue
        if x.agent == y.agent and model.agent_by_id[x.agent].instances == 1:
            continue
        for w in x.domain.write_texts:
            for o in y.domain.write_texts:
                if intersect(w, o) is not None:
                    out.add(("E300", *sorted((x.id, y.id))))
            for r in y.domain.read_texts:
                if intersect(w, r) is not None:
                    out.add(("E301", x.id, y.id))
    return out


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(workflows())
def test_conflicts_equal_brute_force(spec):
    text = to_yaml(*spec)
    wf, diags = parse_source(Source("w.yaml", text.encode(), text))
    assert not diags, diags
    model, diags = resolve(wf, None)
    assert not [d for d in diags if d.is_error]
    found = set()
    for d in check_domains(model):
        if d.code == "E300":
            found.add(("E300", *sorted(d.nodes)))
        elif d.code == "E301":
            found.add(("E301", *d.nodes))
    assert found == brute_force(model)


def test_generated_workflow_is_clean():
    from gen_workflow import generate
    text, _ = generate(1000)
    wf, diags = parse_source(Source("g.yaml", text.encode(), text))
    model, more = resolve(wf, None)
    assert [*diags, *more] == []
    found = check_domains(model)
    # the cross-cutting tester overlaps every service agent, always in order: W401 only
    assert {d.code for d in found} == {"W401"}
    warned = {a for d in found for a in d.message.split("'")[1::2][:2]}
    assert warned == {a.id for a in model.agents}        # every service, tester and reviewer


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(workflows(), st.sampled_from([(1, 1, 1), (1, 64, 2), (2, 4, 256)]))
def test_shortcuts_never_change_the_answer(spec, knobs):
    """The same equality with every shortcut taken as often as possible: buckets looked
    at deeply from one pattern on, owner pairs settled one by one or in bulk, and the
    order search given up early (an unknown must never count as ordered)."""
    import pytest

    import lanes.compiler.domains as domains
    import lanes.compiler.overlaps as overlaps
    deep, cheap, budget = knobs
    text = to_yaml(*spec)
    wf, _ = parse_source(Source("w.yaml", text.encode(), text))
    model, _ = resolve(wf, None)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(overlaps, "DEEP", deep)
        mp.setattr(overlaps, "CHEAP", cheap)
        mp.setattr(domains, "CHEAP", cheap)
        mp.setattr(domains._Order, "BUDGET", budget)
        found = set()
        for d in check_domains(model):
            if d.code == "E300":
                found.add(("E300", *sorted(d.nodes)))
            elif d.code == "E301":
                found.add(("E301", *d.nodes))
    assert found == brute_force(model)


def brute_force_w401(model) -> set[tuple[str, str]]:
    """Agents with tasks whose write domains meet while no task of one may run together
    with a task of the other."""
    nodes = model.node_by_id

    def reaches(a, b) -> bool:
        return any(u == a or reaches(a, u) for u in nodes[b].needs)

    tasks = {a.id: [n for n in model.nodes if n.is_task and n.agent == a.id] for a in model.agents}
    out = set()
    for a1, a2 in itertools.combinations([a for a in model.agents if tasks[a.id]], 2):
        if not any(intersect(w, q) for w in a1.domain.write_texts for q in a2.domain.write_texts):
            continue
        if all(reaches(x.id, y.id) or reaches(y.id, x.id) for x in tasks[a1.id] for y in tasks[a2.id]):
            out.add((a1.id, a2.id))
    return out


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(workflows())
def test_w401_equals_brute_force(spec):
    text = to_yaml(*spec)
    wf, _ = parse_source(Source("w.yaml", text.encode(), text))
    model, _ = resolve(wf, None)
    found = {tuple(d.message.split("'")[1:4:2]) for d in check_domains(model) if d.code == "W401"}
    assert found == brute_force_w401(model)
