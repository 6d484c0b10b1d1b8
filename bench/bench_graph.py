"""Time the diagram emitters on a generated plan (default 10k tasks, 20 agents).

    python bench/bench_graph.py [TASKS] [--render]

Prints the seconds for DOT and Mermaid, collapsed (the default above 300 nodes) and
--full; with --render also the time Graphviz takes to lay out the collapsed DOT.
"""
from __future__ import annotations

import random
import sys
import time

from lanes.compiler.emit_dot import emit_dot
from lanes.compiler.emit_mermaid import emit_mermaid
from lanes.compiler.planfile import Plan, plan_from_dict

DIGEST = "sha256:" + "0" * 64


def synthetic_plan(tasks: int = 10_000, agents: int = 20, gate_every: int = 500, seed: int = 1) -> Plan:
    """A layered plan: each task needs one or two earlier nodes, a gate every `gate_every` tasks."""
    rng = random.Random(seed)
    nodes, stage, ids = [], {}, []
    for i in range(tasks):
        nid = f"t{i:05d}"
        window = ids[-200:]
        needs = sorted(set(rng.sample(window, k=min(len(window), rng.choice((1, 2)))))) if window else []
        kind = "gate" if i and i % gate_every == 0 else "task"
        stage[nid] = 1 + max((stage[u] for u in needs), default=-1)
        node = {"id": nid, "kind": kind, "needs": needs, "estimate_s": 30 + i % 300, "timeout_s": None,
                "retries": 0, "backoff": {"initial_s": 1, "factor": 2, "max_s": 60},
                "stage": stage[nid], "critical": False, "digest": DIGEST}
        if kind == "task":
            node.update(agent=f"agent{i % agents:02d}", run=f"make part-{i}", writes=[f"out/{i}/**"],
                        reads=["src/**"])
        else:
            node.update(run="make check", on_fail="stop")
            if i % (2 * gate_every) == 0:
                node.update(run=None, approve="Looks right?")
        nodes.append(node)
        ids.append(nid)
    path = [ids[-1]]
    while nodes[int(path[-1][1:])]["needs"]:
        path.append(nodes[int(path[-1][1:])]["needs"][0])
    path.reverse()
    for nid in path:
        nodes[int(nid[1:])]["critical"] = True
    nodes.sort(key=lambda n: (n["stage"], n["id"]))
    depth = max(stage.values()) + 1
    stages = [[] for _ in range(depth)]
    for n in nodes:
        stages[n["stage"]].append(n["id"])
    total = sum(n["estimate_s"] for n in nodes)
    return plan_from_dict({
        "lanes_plan": 1, "workflow": "bench", "source_digest": DIGEST, "nodes": nodes, "stages": stages,
        "critical_path": path, "estimate": {"sequential_s": total, "parallel_s": total / 4, "efficiency": 0.75},
        "workdir": "/tmp", "agents": [{"id": f"agent{a:02d}", "skills": ["x"], "instances": 1, "domain": None,
                                       "writes": ["out/**"], "reads": ["src/**"], "env": {}}
                                      for a in range(agents)]})


def _timed(label: str, fn) -> str:
    start = time.perf_counter()
    text = fn()
    print(f"{label:<28} {time.perf_counter() - start:7.3f} s  {len(text):>10,} chars")
    return text


def main(argv: list[str]) -> None:
    tasks = int(argv[0]) if argv and argv[0].isdigit() else 10_000
    start = time.perf_counter()
    plan = synthetic_plan(tasks)
    print(f"plan of {len(plan.nodes)} nodes built in {time.perf_counter() - start:.3f} s")
    collapsed = _timed("dot, collapsed", lambda: emit_dot(plan))
    _timed("dot, --full", lambda: emit_dot(plan, full=True))
    _timed("dot, collapsed, --by agent", lambda: emit_dot(plan, by="agent"))
    _timed("mermaid, collapsed", lambda: emit_mermaid(plan))
    _timed("mermaid, --full", lambda: emit_mermaid(plan, full=True))
    if "--render" in argv:
        import graphviz
        _timed("svg of collapsed (dot)", lambda: graphviz.Source(collapsed).pipe(format="svg").decode())


if __name__ == "__main__":
    main(sys.argv[1:])
