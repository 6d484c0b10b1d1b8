"""The runtime against `make -j2` on the same graphs, in one run.

    python bench/bench_runtime.py [--repeat N] [--here]

1,000 no-op tasks (`true`) in a wide and a layered shape with --jobs 2, timed
against `make -j2` on a Makefile of the same graph (process start included for
both: `lanes run plan.json --jobs 2 --no-progress`, each graph's runs in one state
directory, as a project keeps its `.lanes/`; the first run in it, which also
compiles the brief template into the state directory's cache, is printed apart);
and 200 tasks of `sleep 0.05` with --jobs 2 for parallel efficiency against the
ideal (200 * 0.05 / 2 = 5 s). Runs alternate between the two tools and the best
of N is kept, so a burst of load from elsewhere on the machine hits both alike.
Python may cache bytecode (in a temporary directory) as an installed package
does, even where the environment sets PYTHONDONTWRITEBYTECODE (this sandbox does,
which would otherwise add ~30 ms of compiling to every start).
lanes runs as a user installs it: the project's wheel (built here with `pip wheel`) in
a venv of its own, so that what this environment adds to every Python start-up is
left out: the .pth hooks of its site-packages, here the editable install's import
finder (it loads pathlib and importlib's machinery) and a sandbox's certificate hook
(it loads importlib.resources, zipfile, tempfile), 0.025 s of the 0.032 s that
`python -c pass` took. `lanes run` of a plan imports no third-party package; the
venv has jinja2 (at this environment's version) for the briefs' first rendering in
a state directory, and nothing else. The no-op graphs also run with this
environment's lanes, printed apart; with --here (or when the wheel cannot be built)
only that.
Goals (issue 12): lanes within 1.7x of make's wall time on the no-op graphs, and
at least 0.94 efficiency on the sleep graph. The load average is printed before and
after: ratios from a busy machine say little.

To show where the time goes, the same run also prints the CPU each tool spends
(itself and its tasks), lanes' last run in three parts (its start-up, the loop from
the first start to the last end, its end), lanes' fixed cost (a one-task plan), and
three floors of 1,000 `true` two at a time: a bare Python posix_spawn loop; the same
loop after importing what `lanes run` imports, in a thread of its own as lanes runs
its loop; and that loop through lanes' executor (output pipes, logs, process groups).
The gap between the last floor and `lanes run` is reading the plan and creating the
run, the scheduler, the state store (a SQLite transaction at most every 20 ms), the
dashboard and the progress lines.
"""
from __future__ import annotations

import argparse
import glob
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

AGENTS = 10
N = 1000                     # no-op tasks per graph
JOBS = 2


def graph(shape: str, n: int) -> dict[str, list[str]]:
    """wide: n independent tasks; layered: 10 layers of n/10, each task needing two
    random tasks of the layer before."""
    rnd = random.Random(1)
    if shape == "wide":
        return {f"t{i}": [] for i in range(n)}
    width = n // 10
    out: dict[str, list[str]] = {}
    for i in range(n):
        layer = i // width
        out[f"t{i}"] = [] if layer == 0 else sorted({f"t{(layer - 1) * width + rnd.randrange(width)}"
                                                      for _ in range(2)})
    return out


def write_workflow(path: str, g: dict[str, list[str]], command: str) -> None:
    agents = min(AGENTS, len(g))
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


def timed(cmd: list[str], cwd: str, env: dict | None = None) -> tuple[float, float]:
    """Wall seconds of a command, and the CPU seconds (user + system) of it and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr.decode()[-2000:]}")
    return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def installed(tmp: str) -> str | None:
    """The interpreter of a venv that has this project installed from its wheel, with
    jinja2 (the briefs' first rendering in a state directory needs it) at this
    environment's versions, and nothing else; None, after saying why, when the wheels
    cannot be had."""
    from importlib.metadata import version
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    wheels, venv = os.path.join(tmp, "wheel"), os.path.join(tmp, "venv")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, root,
                            f"jinja2=={version('jinja2')}", f"markupsafe=={version('markupsafe')}"],
                           capture_output=True, text=True)
    found = glob.glob(os.path.join(wheels, "*.whl"))
    if built.returncode != 0 or len(found) != 3:
        print(f"(cannot build the wheel, lanes runs in this environment: {built.stderr.strip()[-300:]})")
        return None
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = os.path.join(venv, "bin", "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    for wheel in found:                         # what installing a wheel amounts to, for these
        with zipfile.ZipFile(wheel) as z:
            z.extractall(site)
    return python


class Case:
    """One graph, ready to run with both tools; lanes with the interpreter `python`
    (`lanes plan` always runs here: it needs the front ends' packages)."""

    def __init__(self, tmp: str, name: str, g: dict[str, list[str]], command: str,
                 python: str = sys.executable) -> None:
        self.tmp, self.name, self.python = tmp, name, python
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
        wf = os.path.join(tmp, f"{name}.yaml")
        self.plan = os.path.join(tmp, f"{name}.json")
        self.makefile = os.path.join(tmp, f"{name}.mk")
        write_workflow(wf, g, command)
        write_makefile(self.makefile, g, command)
        subprocess.run([sys.executable, "-m", "lanes", "plan", wf, "-o", self.plan], check=True, env=self.env)

        self.state = os.path.join(tmp, f"{name}.state")
        self.first = self.lanes()[0]         # the first run in the state directory

    def lanes(self) -> tuple[float, float]:
        self.launched_at = time.time()       # (for `phases`, `handovers`: the state database's clock)
        took = self.lanes_with(self.python)
        self.exited_at = time.time()
        return took

    def lanes_with(self, python: str) -> tuple[float, float]:
        return timed([python, "-m", "lanes", "run", self.plan, "--jobs", str(JOBS), "--no-progress",
                      "--state", self.state], self.tmp, self.env)

    def make(self) -> tuple[float, float]:
        return timed(["make", f"-j{JOBS}", "-f", self.makefile, "all"], self.tmp)

    def both(self, repeat: int) -> tuple[list[float], list[float]]:
        """Wall times of each tool; `cpu` keeps the median CPU seconds of each."""
        runs = [(self.make(), self.lanes()) for _ in range(repeat)]
        self.cpu = (statistics.median(mk[1] for mk, _ in runs), statistics.median(la[1] for _, la in runs))
        return [mk[0] for mk, _ in runs], [la[0] for _, la in runs]


# The floor for any Python runtime here: start 1,000 `true` with posix_spawn, two at a
# time, reaping through pidfds; no state, no logs, no scheduling.
# The same through lanes' executor: what is left between this and `lanes run` is the
# scheduler, the state store, the dashboard and the progress lines.
EXECUTOR_ONLY = """
import os, tempfile
from lanes.runtime.executor import Launch
from lanes.runtime.local import LocalExecutor
ex, logs, todo, running = LocalExecutor(), tempfile.mkdtemp(dir=os.getcwd()), 1000, 0   # in the bench's directory
env = tuple((k, "") for k in ("LANES_RUN_ID", "LANES_TASK", "LANES_AGENT", "LANES_ATTEMPT", "LANES_WRITES",
                              "LANES_READS", "LANES_BRIEF"))
while todo or running:
    while todo and running < 2:
        ex.start(Launch("r", f"t{todo}", 1, "true", os.getcwd(), env, f"{logs}/t{todo}.log", None))
        todo, running = todo - 1, running + 1
    running -= len(ex.wait(None))
"""
IMPORTS = "import lanes.runtime.driver, lanes.runtime.local, lanes.compiler.brief, lanes.inputs, lanes.cli\n"
BARE_PYTHON = """
import os, select
env, todo, running, poller = dict(os.environ), 1000, {}, select.poll()
while todo or running:
    while todo and len(running) < 2:
        pid = os.posix_spawn("/usr/bin/true", ["true"], env, setsid=True)
        fd = os.pidfd_open(pid); running[fd] = pid; poller.register(fd, select.POLLIN); todo -= 1
    for fd, _ in poller.poll():
        poller.unregister(fd); os.waitpid(running.pop(fd), 0); os.close(fd)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs of each tool per graph (best kept)")
    ap.add_argument("--here", action="store_true", help="run lanes in this environment only (no wheel, no venv)")
    args = ap.parse_args()
    if not shutil.which("make"):
        sys.exit("make is needed for the comparison")
    print(f"load average before: {_load()} (other work on the machine skews every line below)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        python = (None if args.here else installed(tmp)) or sys.executable
        where = "this environment" if python == sys.executable else "installed from its wheel in a venv"
        print(f"lanes: {where} ({python})", flush=True)
        for shape in ("wide", "layered"):
            case = Case(tmp, shape, graph(shape, N), "true", python)
            m, la = case.both(args.repeat)
            print(f"{N} no-op tasks, {shape:<7}: make -j2 {min(m):.3f}s (median {statistics.median(m):.3f}), "
                  f"lanes --jobs 2 {min(la):.3f}s (median {statistics.median(la):.3f}), "
                  f"ratio {min(la) / min(m):.2f}x (goal <= 1.7x); the first lanes run {case.first:.3f}s",
                  flush=True)
            print(f"  CPU, the tool and its tasks: make {case.cpu[0]:.2f}s, lanes {case.cpu[1]:.2f}s: lanes' own "
                  f"{(case.cpu[1] - case.cpu[0]) / N * 1e3:.2f} ms per task more, on {os.cpu_count()} CPUs",
                  flush=True)
            up, loop, down = phases(case)
            print(f"  in lanes' last run: {up:.3f}s from its launch to the first start, {loop:.3f}s from there "
                  f"to the last end ({loop / min(m):.2f}x make's whole run), {down:.3f}s from there to its exit",
                  flush=True)
            if python != sys.executable:
                here = [(case.make()[0], case.lanes_with(sys.executable)[0]) for _ in range(max(1, args.repeat // 2))]
                print(f"  the same in this environment (editable install, its .pth hooks): lanes "
                      f"{min(h for _, h in here):.3f}s, ratio {min(h for _, h in here) / min(mk for mk, _ in here):.2f}x",
                      flush=True)
        one = Case(tmp, "one", {"t0": []}, "true", python)
        start = min(one.lanes()[0] for _ in range(args.repeat))
        print(f"  fixed cost: lanes runs a one-task plan in {start:.3f}s (start-up, briefs, state, summary; "
              f"{one.first:.3f}s the first time)",
              flush=True)
        # of it, what any Python program started here pays before its first line: the
        # interpreter, and `site` with the .pth hooks of its environment (here, an editable
        # install's import finder, a sandbox's certificate hook); `-S` skips site
        py = min(timed([python, "-c", "pass"], tmp, one.env)[0] for _ in range(args.repeat))
        bare_py = min(timed([python, "-S", "-c", "pass"], tmp, one.env)[0] for _ in range(args.repeat))
        print(f"  of it, Python's own start-up: {py:.3f}s ({py - bare_py:.3f}s of that in site and its "
              f".pth hooks)", flush=True)
        if shutil.which("true") == "/usr/bin/true" and hasattr(os, "pidfd_open"):
            bare = min(timed([python, "-c", BARE_PYTHON], tmp)[0] for _ in range(args.repeat))
            print(f"  for scale, a bare Python loop (posix_spawn, 2 at a time, no state): {bare:.3f}s, "
                  f"{bare / min(m):.2f}x make", flush=True)
            # the same loop in a process that first loads what `lanes run` loads, run in a new
            # thread as lanes runs its loop (lanes.runtime.driver.in_a_new_thread): what is
            # left between this and lanes is the bookkeeping (state, logs, dashboard, lines)
            loaded = IMPORTS + "import threading\nt = threading.Thread(target=exec, args=(%r,))\n" \
                "t.start(); t.join()\n" % BARE_PYTHON
            heavy = min(timed([python, "-c", loaded], tmp, case.env)[0] for _ in range(args.repeat))
            print(f"  the same loop after lanes' imports, in a thread of its own: {heavy:.3f}s, "
                  f"{heavy / min(m):.2f}x make", flush=True)
            loaded = IMPORTS + "import threading\nt = threading.Thread(target=exec, args=(%r,))\n" \
                "t.start(); t.join()\n" % EXECUTOR_ONLY
            alone = min(timed([python, "-c", loaded], tmp, case.env)[0] for _ in range(args.repeat))
            print(f"  and with lanes' executor (output pipes, logs, process groups; no scheduler, no state): "
                  f"{alone:.3f}s, {alone / min(m):.2f}x make", flush=True)
        ideal = 200 * 0.05 / JOBS
        sleep = Case(tmp, "sleep", graph("wide", 200), "sleep 0.05", python)
        m, la = sleep.both(max(1, args.repeat // 2))
        print(f"200 x sleep 0.05, --jobs 2: ideal {ideal:.2f}s; make -j2 {min(m):.3f}s (efficiency "
              f"{ideal / min(m):.3f}); lanes {min(la):.3f}s (efficiency {ideal / min(la):.3f}, goal >= 0.94)")
        print(f"  lanes over make: {min(la) - min(m):.3f}s, of which {py:.3f}s is Python's start-up above "
              f"(efficiency {ideal / (min(la) - py + bare_py):.3f} if the interpreter started as bare as "
              f"`python -S`)")
        first, gaps = handovers(sleep)
        print(f"  in lanes' last run: its first task started {first:.3f}s after the command was launched; the "
              f"{len(gaps)} hand-overs (a task's end to the next start in its slot, as recorded) took "
              f"{sum(gaps):.3f}s in all, median {statistics.median(gaps) * 1e3:.2f} ms; {sum(gaps) / JOBS:.3f}s "
              f"per slot", flush=True)
    print(f"load average after: {_load()}")
    return 0


def attempts(case: Case) -> list[tuple[float, float]]:
    """(started_at, finished_at) of every attempt of lanes' last run of `case`, from its
    state database (whose clock is time.time), in the order they started."""
    import sqlite3
    db = sqlite3.connect(os.path.join(case.state, "state.db"))
    try:
        (run_id,) = db.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
        return db.execute("SELECT started_at, finished_at FROM attempts WHERE run_id=? ORDER BY started_at",
                          (run_id,)).fetchall()
    finally:
        db.close()


def phases(case: Case) -> tuple[float, float, float]:
    """lanes' last run of `case` in three parts: from its launch to the first task's start
    (start-up: the interpreter, reading the plan, creating the run), from there to the last
    task's end (the loop), and from there to its exit (the last records, the summary)."""
    rows = attempts(case)
    first, last = rows[0][0], max(f for _, f in rows)
    return first - case.launched_at, last - first, case.exited_at - last


def handovers(case: Case) -> tuple[float, list[float]]:
    """lanes' last run of `case`: seconds from its launch to the first task's start, and
    each gap from a task's end to the start it let happen (the earliest end not yet
    followed, as a slot frees)."""
    import heapq
    rows = attempts(case)
    ends: list[float] = []
    gaps = []
    for started, finished in rows:
        if ends and ends[0] <= started:
            gaps.append(started - heapq.heappop(ends))
        heapq.heappush(ends, finished)
    return rows[0][0] - case.launched_at, gaps


def _load() -> str:
    """The 1, 5 and 15 minute load averages, on this many CPUs."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


if __name__ == "__main__":
    sys.exit(main())
