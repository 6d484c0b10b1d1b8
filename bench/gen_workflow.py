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


# -- hostile and real-looking shapes (issue 15), each with a conflict-free twin of its size --

def _q(xs: list[str]) -> str:
    return "[" + ", ".join(f'"{x}"' for x in xs) + "]"


def chain_reading_all(n: int, overlap: bool = True) -> str:
    """A chain of n tasks, each writing its own directory and reading `**` (a reviewer
    after each step); the twin reads a directory of its own instead."""
    y = ["workflow: chain", "agents:"]
    for a in range(10):
        y.append(f"  w{a}: {{domain: {{writes: [\"out/**\"], reads: [\"**\"]}}, instances: 4}}")
    y.append("tasks:")
    for i in range(n):
        reads = "**" if overlap else f"in/t{i}/**"
        needs = f", needs: [t{i - 1}]" if i else ""
        y.append(f"  t{i}: {{agent: w{i % 10}, run: \"true\", writes: [\"out/t{i}/**\"], "
                 f"reads: [\"{reads}\"]{needs}}}")
    return "\n".join(y) + "\n"


def duplicated_pattern(n: int, overlap: bool = True) -> str:
    """One agent whose domain holds n copies of one pattern, a second agent writing the
    same tree after it; the twin holds n distinct literal files."""
    pats = ["src/**"] * n if overlap else [f"src/f{i}.py" for i in range(n)]
    return ("workflow: dup\nagents:\n"
            f"  a: {{domain: {{writes: {_q(pats)}}}}}\n"
            f"  b: {{domain: {{writes: {_q(pats)}}}}}\n"
            "tasks:\n"
            "  t0: {agent: a, run: \"true\"}\n  t1: {agent: a, run: \"true\", needs: [t0]}\n"
            "  t2: {agent: b, run: \"true\", needs: [t1]}\n")


def wide_domains(n: int, overlap: bool = True, ordered: bool = False) -> str:
    """Two tasks with n patterns each; with `overlap` every pattern of one meets every
    pattern of the other (`dI/**` against `**/xJ.py`); the twin's never meet."""
    left = [f"d{i}/**" for i in range(n)]
    right = [f"**/x{j}.py" for j in range(n)] if overlap else [f"e{j}/**" for j in range(n)]
    needs = ", needs: [t0]" if ordered else ""
    return ("workflow: wide\nagents:\n"
            f"  a: {{domain: {{writes: {_q(left)}}}}}\n  b: {{domain: {{writes: {_q(right)}}}}}\n"
            f"tasks:\n  t0: {{agent: a, run: \"true\"}}\n  t1: {{agent: b, run: \"true\"{needs}}}\n")


def codeowners(n_rules: int, seed: int = 3) -> str:
    """Ownership rules in the style of a large CODEOWNERS file: one task per rule, each
    an agent of its own (a team), all free to run together. Directory rules (`src/lib7/`),
    nested ones inside them, `**/name` rules, extension rules (`**/*.md`) and a few broad
    ones: thousands of real overlaps, most rules disjoint."""
    rnd = random.Random(seed)
    tops = ["src", "lib", "docs", "tools", "tests", "web", "api", "infra"]
    names = ["Makefile", "README.md", "BUILD", "package.json", "go.mod", "OWNERS"]
    exts = ["md", "py", "ts", "go", "rs", "yaml", "json", "sh"]
    rules: list[str] = []
    for i in range(n_rules):
        r = rnd.random()
        top = rnd.choice(tops)
        if r < 0.80:
            rules.append(f"{top}/m{i}/")
        elif r < 0.97:
            parent = rules[rnd.randrange(len(rules))] if rules else f"{top}/"
            parent = parent if parent.endswith("/") else f"{top}/"
            rules.append(f"{parent}sub{i}/**/*.{rnd.choice(exts)}")
        elif r < 0.985:
            rules.append(f"{top}/**/{rnd.choice(names)}")
        else:
            rules.append(f"{top}/m{i}/**/*.{rnd.choice(exts)}")
    rules[n_rules // 2] = "**/OWNERS"                  # a few broad ones
    rules[n_rules // 3] = "docs/**"
    y = ["workflow: owners", "agents:"]
    for i, rule in enumerate(rules):
        y.append(f"  team{i}: {{domain: {{writes: [\"{rule}\"]}}}}")
    y.append("tasks:")
    for i in range(n_rules):
        y.append(f"  own{i}: {{agent: team{i}, run: \"true\"}}")
    return "\n".join(y) + "\n"
