"""Pull-mode throughput: claims per second with 1, 2 and 8 concurrent claimer processes.

Each claimer is its own OS process looping claim -> complete through the Python API
(no CLI start-up per call) on one run of 1,000 independent no-op tasks (20 agents
of 4 instances, so lanes never hold a claimer back). Every claim and every complete
is one BEGIN IMMEDIATE transaction on the shared SQLite store.

    python bench/bench_pull.py [--tasks 1000] [--claimers 1,2,8]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

CLAIMER = textwrap.dedent("""
    import json, sys, time
    from lanes.runtime.store import Store
    from lanes.runtime.pull import claim, complete
    store, run_id, me, start_at = Store(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
    time.sleep(max(0.0, start_at - time.time()))          # every claimer starts together
    claims, latencies = 0, []
    while True:
        t = time.perf_counter()
        c = claim(store, run_id, worker=me)
        latencies.append(time.perf_counter() - t)
        if c["node"] is None:
            if c["state"] == "finished":
                break
            continue
        complete(store, run_id, c["node"]["id"], c["token"])
        claims += 1
    print(json.dumps({"claims": claims, "end": time.time(), "latencies": latencies}))
""")


def flat_workflow(n_tasks: int, agents: int = 20, instances: int = 4) -> str:
    y = ["workflow: pull-bench", "agents:"]
    for a in range(agents):
        y.append(f'  a{a}: {{domain: {{writes: ["a{a}/**"]}}, instances: {instances}}}')
    y.append("tasks:")
    for i in range(n_tasks):
        y.append(f'  t{i}: {{agent: a{i % agents}, run: "true", domain: {{writes: ["a{i % agents}/t{i}/**"]}}}}')
    return "\n".join(y) + "\n"


def one(n_claimers: int, n_tasks: int, workdir: str) -> dict:
    from lanes.runtime.store import Store
    state = os.path.join(workdir, f".lanes-{n_claimers}")
    r = subprocess.run([sys.executable, "-m", "lanes", "open", "w.yaml", "--run-id", "b", "--state", state],
                       cwd=workdir, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    start_at = time.time() + 1.0 + 0.2 * n_claimers          # after every interpreter has started
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, state, "b", f"c{i}", str(start_at)],
                              stdout=subprocess.PIPE, text=True) for i in range(n_claimers)]
    reports = [json.loads(p.communicate()[0]) for p in procs]
    wall = max(rep["end"] for rep in reports) - start_at
    claims = sum(rep["claims"] for rep in reports)
    lat = sorted(x for rep in reports for x in rep["latencies"])
    store = Store(state)
    handed = [e["node_id"] for e in store.events("b") if e["kind"] == "claimed"]
    assert claims == n_tasks and len(handed) == len(set(handed)) == n_tasks, "a node was lost or doubled"
    assert store.run("b")["status"] == "succeeded"
    return {"claimers": n_claimers, "wall_s": wall, "claims_per_s": claims / wall,
            "claim_p50_ms": 1000 * lat[len(lat) // 2], "claim_p95_ms": 1000 * lat[int(len(lat) * 0.95)]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--claimers", default="1,2,8")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        with open(os.path.join(workdir, "w.yaml"), "w") as f:
            f.write(flat_workflow(args.tasks))
        print(f"{args.tasks} no-op tasks; each claimer loops claim -> complete "
              f"({os.cpu_count()} CPUs)")
        print(f"{'claimers':>8} {'wall s':>8} {'claims/s':>9} {'claim p50 ms':>13} {'claim p95 ms':>13}")
        for n in (int(x) for x in args.claimers.split(",")):
            r = one(n, args.tasks, workdir)
            print(f"{r['claimers']:>8} {r['wall_s']:>8.2f} {r['claims_per_s']:>9.0f} "
                  f"{r['claim_p50_ms']:>13.1f} {r['claim_p95_ms']:>13.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
