"""`lanes work` throughput: 16 worker processes serve one pull-mode run of 2,000 no-op
tasks (claims in-process, each claim and complete one transaction on the shared store).

    python bench/bench_work.py [--tasks 2000] [--workers 16]

Prints claims per second overall (goal: at least 100), and checks the run's record:
every node handed out exactly once (no double hand-out: one `claimed` event and one
attempt per node) and none lost (every node succeeded). For scale, the same number of
claims through the CLI (`lanes claim` + `lanes complete`, one process each) is timed
on a sample and extrapolated.
"""
from __future__ import annotations

import argparse
from collections import Counter
import os
import sqlite3
import subprocess
import sys
import tempfile
import time


def workflow(path: str, tasks: int, agents: int = 40) -> None:
    lines = ["workflow: work-bench", "agents:"]
    lines += [f"  a{i}: {{instances: 8}}" for i in range(agents)]
    lines.append("tasks:")
    lines += [f"  t{i}: {{agent: a{i % agents}, run: \"true\"}}" for i in range(tasks)]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def lanes(*args: str, cwd: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lanes", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          check=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPYCACHEPREFIX=os.path.join(tmp, "pycache"), LANES_STATE=os.path.join(tmp, "state"))
        wf = os.path.join(tmp, "w.yaml")
        workflow(wf, args.tasks)
        assert lanes("open", wf, "--run-id", "bench", cwd=tmp, env=env).returncode == 0
        start = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-m", "lanes", "work", "bench", "--worker", f"w{i}"],
                                  cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for i in range(args.workers)]
        codes = [p.wait() for p in procs]
        wall = time.perf_counter() - start
        db = sqlite3.connect(os.path.join(tmp, "state", "state.db"))
        claimed = Counter(n for (n,) in db.execute("SELECT node_id FROM events WHERE run_id='bench' AND kind='claimed'"))
        states = Counter(s for (s,) in db.execute("SELECT status FROM nodes WHERE run_id='bench'"))
        attempts = db.execute("SELECT MAX(attempts) FROM nodes WHERE run_id='bench'").fetchone()[0]
        db.close()
        double = sum(1 for c in claimed.values() if c > 1)
        lost = args.tasks - states.get("succeeded", 0)
        print(f"{args.workers} workers, {args.tasks} no-op tasks: {wall:.2f}s, "
              f"{sum(claimed.values()) / wall:.0f} claims/s (goal >= 100); double hand-outs {double}, "
              f"lost {lost}, max attempts {attempts}, workers' exit codes {sorted(set(codes))}")
        sample = 20
        wf2 = os.path.join(tmp, "w2.yaml")
        workflow(wf2, sample)
        assert lanes("open", wf2, "--run-id", "cli", cwd=tmp, env=env).returncode == 0
        t = time.perf_counter()
        import json
        for _ in range(sample):
            c = json.loads(lanes("claim", "cli", cwd=tmp, env=env).stdout)
            lanes("complete", "cli", c["node"]["id"], "--token", c["token"], cwd=tmp, env=env)
        per = (time.perf_counter() - t) / sample
        print(f"  for scale, through the CLI (one process per claim and per complete): {1 / per:.1f} claims/s "
              f"from one claimer")
    return 0 if double == 0 and lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
