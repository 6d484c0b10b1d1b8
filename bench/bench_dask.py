"""The Dask executor against the local one: 200 no-op tasks through `lanes run`.

    python bench/bench_dask.py [--tasks 200] [--repeat 3]

Rows: the local executor with --jobs 2; `--executor dask` on a LocalCluster of two
single-threaded worker processes (started by lanes: its start-up is in the total);
and on a cluster started beforehand with `dask scheduler` and two `dask worker`
commands on 127.0.0.1 (`--scheduler tcp://...`). `total` is the whole command,
interpreter and cluster start included; `run` is the run's own wall time as its
summary prints it. Best of --repeat.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

DASK = [shutil.which("dask")] if shutil.which("dask") else [sys.executable, "-m", "dask"]


def write_workflow(path: str, n: int, agents: int = 10) -> None:
    lines = ["workflow: dask-bench", "agents:"]
    lines += [f"  a{i}: {{}}" for i in range(agents)]
    lines.append("tasks:")
    lines += [f'  t{i}: {{agent: a{i % agents}, run: "true"}}' for i in range(n)]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def lanes_run(workdir: str, *extra: str) -> tuple[float, float]:
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "lanes", "run", "w.yaml", "--no-progress", *extra],
                       cwd=workdir, capture_output=True, text=True)
    total = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"failed: lanes run {' '.join(extra)}\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    m = re.search(r"wall time ([\d.]+)s", r.stdout)
    return total, float(m.group(1)) if m else float("nan")


def start_cluster(logdir: str) -> tuple[str, list[subprocess.Popen]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    log = open(os.path.join(logdir, "cluster.log"), "wb")
    procs = [subprocess.Popen([*DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)]
    procs += [subprocess.Popen([*DASK, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                                "--host", "127.0.0.1"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
              for _ in range(2)]
    import distributed
    with distributed.Client(address, timeout=30) as client:
        client.wait_for_workers(2, timeout=60)
    return address, procs


def stop_cluster(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        write_workflow(os.path.join(workdir, "w.yaml"), args.tasks)
        address, procs = start_cluster(workdir)
        try:
            rows = [("local executor, --jobs 2", ["--jobs", "2"]),
                    ("dask LocalCluster (2 workers), --jobs 2", ["--executor", "dask", "--jobs", "2"]),
                    ("dask LocalCluster (2 workers), --jobs 4", ["--executor", "dask", "--jobs", "4"]),
                    ("dask scheduler + 2 workers, --jobs 2", ["--executor", "dask", "--scheduler", address,
                                                              "--jobs", "2"]),
                    ("dask scheduler + 2 workers, --jobs 4", ["--executor", "dask", "--scheduler", address,
                                                              "--jobs", "4"])]
            print(f"{args.tasks} no-op tasks (`true`), best of {args.repeat} ({os.cpu_count()} CPUs)")
            print(f"{'':42} {'total s':>8} {'run s':>7} {'tasks/s':>8}")
            for name, extra in rows:
                best = min(lanes_run(workdir, *extra) for _ in range(args.repeat))
                print(f"{name:42} {best[0]:>8.2f} {best[1]:>7.2f} {args.tasks / best[1]:>8.0f}", flush=True)
        finally:
            stop_cluster(procs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
