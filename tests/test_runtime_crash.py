"""A runtime killed with SIGKILL at random moments loses nothing: resume finishes the run,
ends the process groups it left behind, and never reruns what had succeeded."""
from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import pytest

from runtime_helpers import alive, run, statuses, workflow

TASKS = 12


def crash_workflow(tmp_path):
    lines = ["agents:"]
    for a in range(3):
        lines.append(f"  ag{a}: {{domain: {{writes: [\"d{a}/**\"]}}}}")
    lines.append("tasks:")
    for i in range(TASKS):
        needs = f", needs: [t{i - 3}]" if i >= 3 else ""
        lines.append(f"  t{i}: {{agent: ag{i % 3}, run: 'echo t{i} >> {tmp_path}/ran; "
                     f"echo $$ >> {tmp_path}/pids; sleep 0.{1 + i % 3}'{needs}}}")
    return workflow(tmp_path, "\n".join(lines) + "\n")


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume(tmp_path):
    rnd = random.Random(2026)
    for round_ in range(20):
        work = tmp_path / f"r{round_}"
        work.mkdir()
        wf = crash_workflow(work)
        rid = f"crash{round_}"
        proc = subprocess.Popen([sys.executable, "-m", "lanes", "run", str(wf), "--no-progress", "--run-id", rid,
                                 "--jobs", "3"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.15, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        created = (work / ".lanes" / "state.db").exists()
        done_before = set()
        if created:
            db = sqlite3.connect(work / ".lanes" / "state.db")
            created = db.execute("SELECT 1 FROM runs WHERE run_id=?", (rid,)).fetchone() is not None
            done_before = {r[0] for r in db.execute(
                "SELECT node_id FROM nodes WHERE run_id=? AND status='succeeded'", (rid,))}
            db.close()
        if created:
            r = run("resume", rid, "--state", work / ".lanes", "--no-progress", "--jobs", "3")
        else:                                   # killed before the run existed: start it again
            r = run("run", wf, "--run-id", rid, "--no-progress", "--jobs", "3")
        assert r.returncode == 0, (round_, r.stdout, r.stderr)
        assert set(statuses(work, rid).values()) == {"succeeded"}
        counts = Counter((work / "ran").read_text().split())
        assert set(counts) == {f"t{i}" for i in range(TASKS)}
        for t in done_before:
            assert counts[t] == 1, (round_, t, counts)     # a succeeded task never ran twice
        for pid in map(int, (work / "pids").read_text().split()):
            assert not alive(pid)                          # no orphan outlived the resume
