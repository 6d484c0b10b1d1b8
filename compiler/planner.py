"""Resolved model -> Plan: stages, critical path, estimates and digests (SPEC section 5).

Everything here is a pure function of the model, iterates in a fixed order and
sorts what it emits, so the same input gives a byte-identical plan.
"""
from __future__ import annotations

import hashlib
import heapq
import json

from lanes.compiler.graph import dependents, topological
from lanes.compiler.model import Model, RNode
from lanes.compiler.planfile import Estimate, Plan, PlanAgent, PlanNode


def stages_of(needs: dict[str, tuple[str, ...]], topo: list[str]) -> dict[str, int]:
    """Depth = the longest chain of needs from a root."""
    stage: dict[str, int] = {}
    for n in topo:
        stage[n] = 1 + max((stage[u] for u in needs[n]), default=-1)
    return stage


def remaining(est: dict[str, float], down: dict[str, list[str]], topo: list[str]) -> dict[str, float]:
    """Longest path (by estimate) from each node to the end, the node included."""
    tail: dict[str, float] = {}
    for n in reversed(topo):
        tail[n] = est[n] + max((tail[d] for d in down[n]), default=0.0)
    return tail


def critical_path(tail: dict[str, float], needs: dict[str, tuple[str, ...]],
                  down: dict[str, list[str]]) -> list[str]:
    """The longest chain; among equally long ones the one with the smaller ids first."""
    roots = [n for n in tail if not needs[n]]
    if not roots:
        return []
    cur = min(roots, key=lambda n: (-tail[n], n))
    path = [cur]
    while down[cur]:
        cur = min(down[cur], key=lambda n: (-tail[n], n))
        path.append(cur)
    return path


def simulate(nodes: list[RNode], lanes: dict[str, int], est: dict[str, float], tail: dict[str, float],
             rank: dict[str, int]) -> float:
    """Wall time with agent lanes and unlimited job slots; gates hold no lane. Among
    ready nodes the longest remaining critical path starts first (as the runtime does)."""
    needs = {n.id: set(n.needs) for n in nodes}
    down = dependents({n.id: n.needs for n in nodes})
    lane_of = {n.id: (n.agent if n.is_task and n.agent in lanes else None) for n in nodes}
    free = dict(lanes)
    waiting: dict[str | None, list[tuple[float, int, str]]] = {}
    running: list[tuple[float, int, str]] = []
    missing = {k: len(v) for k, v in needs.items()}
    now = 0.0

    def make_ready(n: str) -> None:
        heapq.heappush(waiting.setdefault(lane_of[n], []), (-tail[n], rank[n], n))

    def start_what_fits() -> None:
        for lane, heap in waiting.items():
            while heap and (lane is None or free[lane] > 0):
                _, _, n = heapq.heappop(heap)
                if lane is not None:
                    free[lane] -= 1
                heapq.heappush(running, (now + est[n], rank[n], n))

    for node in nodes:
        if not missing[node.id]:
            make_ready(node.id)
    start_what_fits()
    while running:
        now, _, n = heapq.heappop(running)
        finished = [n]
        while running and running[0][0] == now:
            finished.append(heapq.heappop(running)[2])
        for f in finished:
            lane = lane_of[f]
            if lane is not None:
                free[lane] += 1
            for d in down[f]:
                missing[d] -= 1
                if not missing[d]:
                    make_ready(d)
        start_what_fits()
    return now


def _definition(n: RNode) -> dict[str, object]:
    """What a node's digest covers: everything that changes what it does or where. The
    fields of v2 count only when they differ from v1's behaviour, so the digests of a v1
    workflow stay the same (a run started before keeps what it did on resume)."""
    d: dict[str, object] = {
        "id": n.id, "kind": n.kind, "agent": n.agent, "needs": sorted(n.needs), "run": n.run,
        "approve": n.approve, "on_fail": n.on_fail, "writes": list(n.domain.write_texts),
        "reads": list(n.domain.read_texts), "timeout_s": n.timeout_s, "retries": n.retries,
        "backoff": [n.backoff.initial_s, n.backoff.factor, n.backoff.max_s],
        "rollback": n.rollback, "env": list(n.env),
    }
    if n.is_task and n.workspace != "shared":
        d["workspace"] = n.workspace
    if n.expect_changes:
        d["expect_changes"] = True
    if n.prompt is not None:
        d["prompt"] = n.prompt
        d["command"] = n.command
    return d


def plan_model(model: Model) -> Plan:
    nodes = list(model.nodes)
    needs = {n.id: n.needs for n in nodes}
    topo = topological(needs)
    down = dependents(needs)
    est = {n.id: float(n.estimate_s) for n in nodes}
    stage = stages_of(needs, topo)
    tail = remaining(est, down, topo)
    path = critical_path(tail, needs, down)
    on_path = set(path)
    ordered = sorted(nodes, key=lambda n: (stage[n.id], n.id))
    rank = {n.id: i for i, n in enumerate(ordered)}

    digest: dict[str, str] = {}
    for ident in topo:
        n = model.node_by_id[ident]
        body = json.dumps([_definition(n), sorted(digest[u] for u in n.needs)], sort_keys=True)
        digest[ident] = "sha256:" + hashlib.sha256(body.encode()).hexdigest()

    sequential = sum(est.values())
    lanes = {a.id: a.instances for a in model.agents}
    parallel = simulate(ordered, lanes, est, tail, rank) if nodes else 0.0
    efficiency = round((sequential - parallel) / sequential, 4) if sequential else 0.0

    plan_nodes = tuple(
        PlanNode(
            id=n.id, kind=n.kind, needs=tuple(sorted(n.needs, key=rank.__getitem__)), stage=stage[n.id],
            critical=n.id in on_path, digest=digest[n.id], estimate_s=n.estimate_s,
            timeout_s=n.timeout_s, retries=n.retries, backoff=n.backoff, env=n.env,
            description=n.description, agent=n.agent, requires=n.requires, run=n.run,
            writes=n.domain.write_texts if n.is_task else (),
            reads=n.domain.read_texts if n.is_task else (),
            rollback=n.rollback, approve=n.approve, on_fail=n.on_fail,
            workspace=n.workspace if n.is_task else "shared", expect_changes=n.expect_changes,
            prompt=n.prompt, runner=n.runner, command=n.command)
        for n in ordered)
    depth = max(stage.values(), default=-1) + 1
    stages: list[list[str]] = [[] for _ in range(depth)]
    for n in ordered:
        stages[stage[n.id]].append(n.id)
    agents = tuple(
        PlanAgent(id=a.id, skills=a.skills, instances=a.instances, domain=a.domain.name,
                  writes=a.domain.write_texts, reads=a.domain.read_texts, env=a.env,
                  description=a.description, runner=a.runner, runner_command=a.command_template,
                  model=a.model, max_turns=a.max_turns, max_budget_usd=a.max_budget_usd)
        for a in model.agents)
    return Plan(
        workflow=model.workflow, source_digest=model.source_digest, nodes=plan_nodes,
        stages=tuple(tuple(s) for s in stages), critical_path=tuple(path),
        estimate=Estimate(sequential, parallel, efficiency), agents=agents,
        workdir=model.workdir, description=model.description, workspace=model.workspace,
        limits=model.limits, max_budget_usd=model.max_budget_usd, pools=model.pools)
