"""Generate realistic large workflows (and the same graph as a Makefile).

Shape: one directory per agent (`svc17/src/**`, `svc17/tests/**`), ten tasks per
agent in layers, each task needing its own previous task and a neighbour's; a
gate every three layers; after each gate a cross-cutting test agent writes
`**/test_*.py`, then a reviewer reads `**`, and the next block waits for them.
The result is a valid workflow: the cross-cutting globs overlap every agent's
directory, but every such pair of tasks is ordered, which is what the domain
analysis must prove without comparing every pair.

    python bench/gen_workflow.py 10000 > w.yaml
"""
from __future__ import annotations

import random
import sys

LAYERS_PER_BLOCK = 3
TASKS_PER_AGENT = 10


def generate(n_tasks: int, seed: int = 7) -> tuple[str, str]:
    """(workflow YAML, Makefile) for about `n_tasks` tasks."""
    rnd = random.Random(seed)
    n_agents = max(2, n_tasks // TASKS_PER_AGENT)
    layers = TASKS_PER_AGENT
    y = [f"workflow: generated-{n_tasks}", "defaults: {timeout: 10m, retries: 1}", "agents:"]
    for a in range(n_agents):
        y.append(f"  svc{a}: {{domain: {{writes: [\"svc{a}/src/**\", \"svc{a}/tests/**\"], "
                 f"reads: [\"shared/**\"]}}, skills: [python]}}")
    y.append("  tester: {domain: {writes: [\"**/test_*.py\"], reads: [\"**\"]}, instances: 2}")
    y.append("  reviewer: {domain: {writes: [\"reviews/**\"], reads: [\"**\"]}}")
    y.append("tasks:")
    make = [".PHONY: all", ""]
    gates: list[tuple[str, list[str]]] = []
    barrier: list[str] = []          # what the first layer of a block waits for
    prev: list[str] = []
    all_nodes: list[str] = []

    def task(ident: str, agent: str, needs: list[str], run: str) -> None:
        y.append(f"  {ident}: {{agent: {agent}, run: \"{run}\", needs: [{', '.join(needs)}]}}")
        make.append(f"{ident}: {' '.join(needs)}\n\t{run}\n")
        all_nodes.append(ident)

    for layer in range(layers):
        cur = []
        for a in range(n_agents):
            ident = f"t{layer}_{a}"
            needs = list(barrier) if layer % LAYERS_PER_BLOCK == 0 else []
            if prev:
                needs.append(prev[a])
                if rnd.random() < 0.5:
                    needs.append(prev[(a + 1) % n_agents])
            task(ident, f"svc{a}", sorted(set(needs)), f"echo build svc{a} step {layer}")
            cur.append(ident)
        prev = cur
        if layer % LAYERS_PER_BLOCK == LAYERS_PER_BLOCK - 1 and layer < layers - 1:
            b = layer // LAYERS_PER_BLOCK
            gate = f"gate{b}"
            gates.append((gate, cur))
            make.append(f"{gate}: {' '.join(cur)}\n\techo check block {b}\n")
            all_nodes.append(gate)
            task(f"tests{b}", "tester", [gate], f"echo write tests after block {b}")
            task(f"review{b}", "reviewer", [f"tests{b}"], f"echo review block {b}")
            barrier = [f"review{b}"]
            prev = []                # the barrier orders the next block
    if gates:
        y.append("gates:")
        for gate, needs in gates:
            y.append(f"  {gate}: {{needs: [{', '.join(needs)}], run: \"echo check\"}}")
    make.insert(0, f"all: {' '.join(all_nodes)}\n")
    return "\n".join(y) + "\n", "\n".join(make) + "\n"


if __name__ == "__main__":
    wf, _ = generate(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
    sys.stdout.write(wf)
