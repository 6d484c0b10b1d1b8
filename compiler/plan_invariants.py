"""Checks on a plan read from a file, after its schema: what its parts must say about
each other for the runtime to rely on them. Node and agent ids are unique, every
reference names a node or agent that exists, `needs` has no cycle, and stages agree
with the nodes: each node is listed once, in the stage it says, after the stages of
what it needs, and the nodes come in stage order (the runtime walks them in order,
trusting that what a node needs comes before it; `--stages` finishes stage k before
it starts k + 1).
"""
from __future__ import annotations

from lanes.compiler.graph import cycles
from lanes.compiler.plan_check import Problem
from lanes.compiler.planfile import Plan
from lanes.dsl.diagnostics import did_you_mean


def invariant_problems(plan: Plan) -> list[Problem]:
    """What is wrong where, for a plan that plan_quick.py's `invariants_hold` doubts.
    Paths index the document, whose nodes, agents and lists are the plan's, in order."""
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for i, n in enumerate(plan.nodes):
        if n.id in first:
            problems.append(Problem("E200", f"duplicate node id '{n.id}'", ("nodes", i, "id"), related=(
                (f"'{n.id}' is first defined here", ("nodes", first[n.id], "id")),)))
        else:
            first[n.id] = i
    agent_at: dict[str, int] = {}
    for i, a in enumerate(plan.agents):
        if a.id in agent_at:
            problems.append(Problem("E200", f"duplicate agent id '{a.id}'", ("agents", i, "id"), related=(
                (f"'{a.id}' is first defined here", ("agents", agent_at[a.id], "id")),)))
        else:
            agent_at[a.id] = i
    needs: dict[str, tuple[str, ...]] = {}
    for i, n in enumerate(plan.nodes):
        for j, u in enumerate(n.needs):
            if u not in first:
                problems.append(Problem("E201", f"node '{n.id}' needs unknown node '{u}'"
                                        + did_you_mean(u, first), ("nodes", i, "needs", j)))
        if first[n.id] == i:
            needs[n.id] = tuple(u for u in n.needs if u in first)
        if n.kind == "task" and n.agent not in agent_at:
            problems.append(Problem("E201", f"task '{n.id}' is given to unknown agent '{n.agent}'"
                                    + did_you_mean(n.agent or "", agent_at), ("nodes", i, "agent")))
    found = cycles(needs, first)
    for cycle in found:
        text = " -> ".join([*cycle, cycle[0]])
        edges = zip(cycle, [*cycle[1:], cycle[0]])
        problems.append(Problem(
            "E202", f"dependency cycle: {text} (each needs the next)", ("nodes", first[cycle[0]], "id"),
            related=tuple((f"'{a}' needs '{b}'", ("nodes", first[a], "needs", plan.nodes[first[a]].needs.index(b)))
                          for a, b in edges)))
    problems += _stage_problems(plan, first, needs, ordered=not found)
    for j, c in enumerate(plan.critical_path):
        if c not in first:
            problems.append(Problem("E201", f"the critical path holds unknown node '{c}'"
                                    + did_you_mean(c, first), ("critical_path", j)))
    for template, members in plan.pools:
        for j, m in enumerate(members):
            if m not in first:
                problems.append(Problem("E201", f"pool '{template}' holds unknown node '{m}'"
                                        + did_you_mean(m, first), ("pools", template, j)))
    return problems


def _stage_problems(plan: Plan, first: dict[str, int], needs: dict[str, tuple[str, ...]],
                    ordered: bool) -> list[Problem]:
    problems: list[Problem] = []
    listed: dict[str, int] = {}
    for k, members in enumerate(plan.stages):
        for j, nid in enumerate(members):
            if nid not in first:
                problems.append(Problem("E201", f"stage {k} lists unknown node '{nid}'"
                                        + did_you_mean(nid, first), ("stages", k, j)))
            elif nid in listed:
                problems.append(Problem("E200", f"stages list node '{nid}' twice (first in stage "
                                        f"{listed[nid]})", ("stages", k, j)))
            else:
                listed[nid] = k
    stage_of = {n.id: n.stage for n in plan.nodes}
    highest = 0
    for i, n in enumerate(plan.nodes):
        at = ("nodes", i, "stage")
        if n.id in listed and listed[n.id] != n.stage:
            problems.append(Problem("E102", f"node '{n.id}' has stage {n.stage} but stages list it "
                                    f"in stage {listed[n.id]}", at))
        elif n.id not in listed and first[n.id] == i:
            problems.append(Problem("E102", f"node '{n.id}' (stage {n.stage}) is missing from stages", at))
        if n.stage < highest:
            problems.append(Problem("E102", f"node '{n.id}' of stage {n.stage} comes after a node of "
                                    f"stage {highest}: nodes are ordered by stage", at))
        highest = max(highest, n.stage)
        if ordered and first[n.id] == i:
            late = [u for u in needs[n.id] if stage_of[u] >= n.stage]
            if late:
                problems.append(Problem(
                    "E102", f"node '{n.id}' of stage {n.stage} needs '{late[0]}' of stage "
                    f"{stage_of[late[0]]}: a node comes in a later stage than what it needs", at))
    return problems
