"""The runtime against `make -j2` on the same graphs, in one run.

    python bench/bench_runtime.py

1,000 no-op tasks (`true`) in a wide and a layered shape with --jobs 2, timed
against `make -j2` (process start included for both); and 200 tasks of
`sleep 0.05` with --jobs 2 for parallel efficiency against the ideal.
Goals (issue 6): lanes within 1.5x of make's wall time on the no-op graphs, at
least 0.95 efficiency on the sleep graph.
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time


def graph(shape: str, n: int) -> dict[str, list[str]]:
    rnd = random.Random(1)
    if shape == "wide":
        return {f"t{i}": [] for i in range(n)}
    width = 100
    out: dict[str, list[str]] = {}
    for i in range(n):
        layer, k = divmod(i, width)
        out[f"t{i}"] = [] if layer == 0 else sorted({f"t{(layer - 1) * width + rnd.randrange(width)}"
                                                      for _ in range(2)})
    return out


def write_workflow(path: str, g: dict[str, list[str]], command: str, agents: int = 10) -> None:
    lines = ["workflow: bench", "agents:"]
    lines += [f"  a{i}: {{}}" for i in range(agents)]
    lines.append("tasks:")
    for i, (t, needs) in enumerate(g.items()):
        lines.append(f"  {t}: {{agent: a{i % agents}, run: \"{command}\", needs: [{', '.join(needs)}]}}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_makefile(path: str, g: dict[str, list[str]], command: str) -> None:
    with open(path, "w") as f:
        f.write(".PHONY: all " + " ".join(g) + "\nall: " + " ".join(g) + "\n")
        for t, needs in g.items():
            f.write(f"{t}: {' '.join(needs)}\n\t@{command}\n")


def timed(cmd: list[str], cwd: str) -> float:
    start = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr.decode()[-2000:]}")
    return took


def lanes_run(tmp: str, name: str, g, command: str) -> float:
    wf = os.path.join(tmp, f"{name}.yaml")
    plan = os.path.join(tmp, f"{name}.json")
    write_workflow(wf, g, command)
    subprocess.run([sys.executable, "-m", "lanes", "plan", wf, "-o", plan], check=True)
    state = os.path.join(tmp, f"state-{name}-{time.monotonic_ns()}")
    return timed([sys.executable, "-m", "lanes", "run", plan, "--jobs", "2", "--no-progress",
                  "--state", state], tmp)


def make_run(tmp: str, name: str, g, command: str) -> float:
    mk = os.path.join(tmp, f"{name}.mk")
    write_makefile(mk, g, command)
    return timed(["make", "-j2", "-f", mk, "all"], tmp)


def main() -> int:
    if not shutil.which("make"):
        sys.exit("make is needed for the comparison")
    with tempfile.TemporaryDirectory() as tmp:
        for shape in ("wide", "layered"):
            g = graph(shape, 1000)
            m = min(make_run(tmp, shape, g, "true") for _ in range(3))
            lanes = min(lanes_run(tmp, shape, g, "true") for _ in range(3))
            print(f"1000 no-op tasks, {shape:<7}: make -j2 {m:.2f}s, lanes --jobs 2 {lanes:.2f}s, "
                  f"ratio {lanes / m:.2f}x (goal <= 1.5x)", flush=True)
        g = graph("wide", 200)
        ideal = 200 * 0.05 / 2
        m = make_run(tmp, "sleep", g, "sleep 0.05")
        lanes = lanes_run(tmp, "sleep", g, "sleep 0.05")
        print(f"200 x sleep 0.05, --jobs 2: ideal {ideal:.2f}s; make -j2 {m:.2f}s (efficiency "
              f"{ideal / m:.3f}); lanes {lanes:.2f}s (efficiency {ideal / lanes:.3f}, goal >= 0.95)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
