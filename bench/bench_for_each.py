"""Time `lanes check` on a `for_each` of N items against the same workflow written out
(N tasks), process start included, in both forms.

    python bench/bench_for_each.py [--items 10000] [--repeat 3]

Goal (issue 18): the template checks within 1.5x of the written-out workflow.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def template(n: int, form: str) -> str:
    ports = [str(8000 + i) for i in range(n)]
    if form == "yaml":
        return ("workflow: pool\nagents:\n  ops: {domain: {writes: [\"port:*\"]}, instances: 4}\n"
                "tasks:\n  prepare: {agent: ops, run: \"true\", writes: [\"port:1\"]}\n"
                f"  restore:\n    for_each: {{port: [{', '.join(ports)}]}}\n    agent: ops\n"
                "    needs: [prepare]\n    run: echo restore {port}\n    writes: [\"port:{port}\"]\n"
                "gates:\n  smoke: {needs: [restore], run: \"true\"}\n")
    return ("workflow pool\nagent ops { writes \"port:*\"; instances 4 }\n"
            "task prepare by ops { run \"true\"; writes \"port:1\" }\n"
            f"task restore for port in {', '.join(ports)} by ops needs prepare {{\n"
            "  run \"echo restore {port}\"; writes \"port:{port}\"\n}\n"
            "gate smoke needs restore { run \"true\" }\n")


def written_out(n: int, form: str) -> str:
    ports = [str(8000 + i) for i in range(n)]
    if form == "yaml":
        tasks = "".join(f"  restore-{p}: {{agent: ops, needs: [prepare], run: echo restore {p}, "
                        f"writes: [\"port:{p}\"]}}\n" for p in ports)
        return ("workflow: pool\nagents:\n  ops: {domain: {writes: [\"port:*\"]}, instances: 4}\n"
                "tasks:\n  prepare: {agent: ops, run: \"true\", writes: [\"port:1\"]}\n" + tasks
                + f"gates:\n  smoke: {{needs: [{', '.join('restore-' + p for p in ports)}], run: \"true\"}}\n")
    tasks = "".join(f"task restore-{p} by ops needs prepare {{ run \"echo restore {p}\"; writes \"port:{p}\" }}\n"
                    for p in ports)
    return ("workflow pool\nagent ops { writes \"port:*\"; instances 4 }\n"
            "task prepare by ops { run \"true\"; writes \"port:1\" }\n" + tasks
            + f"gate smoke needs {', '.join('restore-' + p for p in ports)} {{ run \"true\" }}\n")


def best_of(path: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "lanes", "check", path], capture_output=True, text=True)
        best = min(best, time.perf_counter() - start)
        if r.returncode != 0:
            sys.exit(f"lanes check {path} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for form in ("yaml", "lanes"):
            paths = {}
            for kind, make in (("for_each", template), ("written out", written_out)):
                paths[kind] = os.path.join(tmp, f"{kind.replace(' ', '_')}.{form}")
                with open(paths[kind], "w", encoding="utf-8") as f:
                    f.write(make(args.items, form))
            t_each, t_out = best_of(paths["for_each"], args.repeat), best_of(paths["written out"], args.repeat)
            ratio = t_each / t_out
            worst = max(worst, ratio)
            print(f"{form:5}  {args.items} items: for_each {t_each:.3f} s, written out {t_out:.3f} s, "
                  f"ratio {ratio:.2f}")
    print(f"worst ratio {worst:.2f} (goal <= 1.5)")
    return 0 if worst <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
