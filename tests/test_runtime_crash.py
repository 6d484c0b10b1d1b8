"""A runtime killed with SIGKILL at random moments loses nothing: resume finishes the run,
ends the process groups it left behind, and never reruns what had succeeded; a
dependent never starts before its needs' successes are on disk (SPEC section 7)."""
from __future__ import annotations

from collections import Counter
import json
from pathlib import Path
import random
import signal
import subprocess
import sys
import time

import pytest
from runtime_helpers import alive, run, wait_for, workflow

TASKS = 12

# Run by every task before its work: are all its needs recorded as succeeded in the state
# database at the moment it starts? (A reader sees committed transactions only.)
CHECK_NEEDS = """
import os, sqlite3, sys
state, out, needs = sys.argv[1], sys.argv[2], sys.argv[3:]
db = sqlite3.connect(f"file:{state}/state.db?mode=ro", uri=True)
rows = dict(db.execute("SELECT node_id, status FROM nodes WHERE run_id=?", (os.environ["LANES_RUN_ID"],)))
bad = [n for n in needs if rows.get(n) != "succeeded"]
if bad:
    with open(out, "a") as f:
        f.write(f"{os.environ['LANES_TASK']} started before {bad} were on disk\\n")
"""


def crash_workflow(work: Path, state: Path, wait_for_file: bool = False):
    (work / "check.py").write_text(CHECK_NEEDS)
    lines = ["agents:"]
    for a in range(3):
        lines.append(f"  ag{a}: {{domain: {{writes: [\"d{a}/**\"]}}}}")
    lines.append("tasks:")
    for i in range(TASKS):
        needs = [f"t{i - 3}"] if i >= 3 else []
        end = f"while [ ! -e {work}/end{i} ]; do sleep 0.01; done" if wait_for_file else f"sleep 0.{1 + i % 3}"
        cmd = (f"{sys.executable} {work}/check.py {state} {work}/violations {' '.join(needs)}; "
               f"echo t{i} >> {work}/ran; echo $LANES_TASK.$LANES_ATTEMPT >> {work}/attempts; "
               f"echo $$ >> {work}/pids; {end}")
        lines.append(f"  t{i}: {{agent: ag{i % 3}, run: {json.dumps(cmd)}"
                     + (f", needs: [{needs[0]}]" if needs else "") + "}")
    return workflow(work, "\n".join(lines) + "\n")


def succeeded(state: Path, rid: str) -> set[str] | None:
    """The nodes recorded as succeeded, through `lanes status` (None: no such run yet)."""
    r = run("status", rid, "--state", state, "--format", "json")
    if r.returncode != 0:
        return None
    return {n for n, t in json.loads(r.stdout)["tasks"].items() if t["status"] == "succeeded"}


def resume_and_check(work: Path, state: Path, wf: Path, rid: str, done_before: set[str] | None) -> None:
    if done_before is not None:
        r = run("resume", rid, "--state", state, "--no-progress", "--jobs", "3")
    else:                                   # killed before the run existed: start it again
        r = run("run", wf, "--run-id", rid, "--state", state, "--no-progress", "--jobs", "3")
    assert r.returncode == 0, (rid, r.stdout, r.stderr)
    assert succeeded(state, rid) == {f"t{i}" for i in range(TASKS)}
    counts = Counter((work / "ran").read_text().split())
    assert set(counts) == {f"t{i}" for i in range(TASKS)}
    for t in done_before or ():
        assert counts[t] == 1, (rid, t, counts)         # a succeeded task never ran twice
    for pid in map(int, (work / "pids").read_text().split()):
        assert not alive(pid)                          # no orphan outlived the resume
    assert not (work / "violations").exists(), (work / "violations").read_text()
    attempts = Counter((work / "attempts").read_text().split())
    assert max(attempts.values()) == 1, attempts                 # LANES_ATTEMPT never reused


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume(tmp_path):
    rnd = random.Random(2026)
    for round_ in range(20):
        work = tmp_path / f"r{round_}"
        work.mkdir()
        state = work / ".lanes"
        wf = crash_workflow(work, state)
        rid = f"crash{round_}"
        proc = subprocess.Popen([sys.executable, "-m", "lanes", "run", str(wf), "--no-progress", "--run-id", rid,
                                 "--state", str(state), "--jobs", "3"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.15, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        resume_and_check(work, state, wf, rid, succeeded(state, rid))


@pytest.mark.slow
def test_sigkill_right_after_tasks_end(tmp_path):
    """The moment the durability rule is about: tasks have just ended, their successes may
    still be in the batch (grouped for at most 20 ms), and the runtime dies."""
    rnd = random.Random(7)
    for round_ in range(8):
        work = tmp_path / f"e{round_}"
        work.mkdir()
        state = work / ".lanes"
        wf = crash_workflow(work, state, wait_for_file=True)
        rid = f"end{round_}"
        proc = subprocess.Popen([sys.executable, "-m", "lanes", "run", str(wf), "--no-progress", "--run-id", rid,
                                 "--state", str(state), "--jobs", "3"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        first = 3 + round_ % 6              # let the first tasks through, then end a layer at once
        for i in range(first):
            assert wait_for(lambda i=i, work=work: f"t{i}" in (work / "ran").read_text().split(), timeout=60)
            (work / f"end{i}").touch()
        time.sleep(rnd.uniform(0.0, 0.03))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for i in range(TASKS):
            (work / f"end{i}").touch()      # what runs after the resume ends at once
        resume_and_check(work, state, wf, rid, succeeded(state, rid))
