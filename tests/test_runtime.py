"""`lanes run` with real processes: parallelism, lanes, failures, retries, timeouts, gates."""
from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time

import pytest
from runtime_helpers import alive, dashboard, run, run_id_of, statuses, wait_for, workflow


def test_parallel_agents_overlap_and_lanes_serialise(tmp_path):
    wf = workflow(tmp_path, """
        agents:
          a: {domain: {writes: ["a/**"]}}
          b: {domain: {writes: ["b/**"]}}
        tasks:
          a1: {agent: a, run: "sleep 0.6"}
          a2: {agent: a, run: "sleep 0.6"}
          b1: {agent: b, run: "sleep 0.6"}
        """)
    start = time.monotonic()
    r = run("run", wf, "--jobs", "4", "--no-progress")
    wall = time.monotonic() - start
    assert r.returncode == 0, r.stdout + r.stderr
    rid = run_id_of(r)
    tasks = dashboard(tmp_path, rid)["tasks"]
    # a1 and a2 share one lane: one after the other; b1 beside them (it starts before the
    # second of them has ended, however slow the machine)
    a_times = sorted((tasks[t]["started_at"], tasks[t]["completed_at"]) for t in ("a1", "a2"))
    assert a_times[0][1] <= a_times[1][0]
    assert tasks["b1"]["started_at"] < a_times[1][1]
    assert wall >= 1.2


def test_jobs_limit_slots(tmp_path):
    wf = workflow(tmp_path, """
        agents:
          a: {instances: 3, domain: {writes: []}}
        tasks:
          x: {agent: a, run: "sleep 0.4"}
          y: {agent: a, run: "sleep 0.4"}
          z: {agent: a, run: "sleep 0.4"}
        """)
    start = time.monotonic()
    assert run("run", wf, "--jobs", "1", "--no-progress").returncode == 0
    assert time.monotonic() - start >= 1.2


def test_environment_and_log(tmp_path):
    wf = workflow(tmp_path, """
        agents:
          a: {domain: {writes: ["out/**", "x"], reads: ["in/**"]}, env: {FROM_AGENT: "yes"}}
        tasks:
          t: {agent: a, run: 'echo "$LANES_TASK $LANES_AGENT $LANES_ATTEMPT $FROM_AGENT $MINE"; echo "$LANES_WRITES"; test -s "$LANES_BRIEF" && echo brief-ok', env: {MINE: "m"}}
        """)
    r = run("run", wf, "--no-progress")
    assert r.returncode == 0, r.stderr
    rid = run_id_of(r)
    log = run("logs", rid, "t", "--state", tmp_path / ".lanes").stdout
    assert log.splitlines() == ["t a 1 yes m", "out/**", "x", "brief-ok"]
    bad = run("logs", rid, "tt", "--state", tmp_path / ".lanes")
    assert bad.returncode == 1 and "did you mean 't'" in bad.stderr


def test_failure_cascades_and_stops(tmp_path):
    wf = workflow(tmp_path, """
        agents:
          a: {domain: {writes: ["a"]}}
          b: {domain: {writes: ["b"]}}
        tasks:
          bad: {agent: a, run: "exit 3"}
          after: {agent: a, run: "true", needs: [bad]}
          slow: {agent: b, run: "sleep 0.5"}
          later: {agent: b, run: "true", needs: [slow]}
        """)
    r = run("run", wf, "--no-progress")
    assert r.returncode == 1
    s = statuses(tmp_path, run_id_of(r))
    assert s["bad"] == "failed" and s["after"] == "skipped"
    assert s["slow"] == "succeeded"               # running ones finish
    assert s["later"] == "cancelled"              # nothing new starts after a failure
    r = run("run", wf, "--no-progress", "--keep-going")
    s = statuses(tmp_path, run_id_of(r))
    assert r.returncode == 1 and s["later"] == "succeeded" and s["after"] == "skipped"


def test_retries_with_backoff(tmp_path):
    wf = workflow(tmp_path, f"""
        agents: {{a: {{}}}}
        tasks:
          flaky: {{agent: a, retries: 2, backoff: {{initial: 0.3s, factor: 2, max: 5s}},
                  run: 'echo x >> {tmp_path}/count; test $(wc -l < {tmp_path}/count) -ge 3'}}
        """)
    r = run("run", wf, "--no-progress")
    assert r.returncode == 0, r.stdout
    rid = run_id_of(r)
    assert (tmp_path / "count").read_text().count("x") == 3
    assert dashboard(tmp_path, rid)["tasks"]["flaky"]["attempts"] == 3
    db = sqlite3.connect(tmp_path / ".lanes" / "state.db")
    rows = db.execute("SELECT started_at, finished_at, outcome FROM attempts WHERE run_id=? ORDER BY attempt",
                      (rid,)).fetchall()
    assert [o for _, _, o in rows] == ["exit 1", "exit 1", "succeeded"]
    gaps = [rows[i + 1][0] - rows[i][1] for i in range(2)]
    # 0.3 s then 0.6 s (min(max, initial * factor^(n-1))), each plus up to 10% jitter and a little slack
    assert 0.3 <= gaps[0] < 0.3 * 1.1 + 0.25 and 0.6 <= gaps[1] < 0.6 * 1.1 + 0.25, gaps


def test_stages_run_with_a_barrier(tmp_path):
    wf = workflow(tmp_path, """
        agents:
          a: {domain: {writes: ["a"]}}
          b: {domain: {writes: ["b"]}}
        tasks:
          quick: {agent: a, run: "true"}
          slow: {agent: b, run: "sleep 0.6"}
          next: {agent: a, run: "true", needs: [quick]}
        """)
    for flag, after_slow in (("--stages", True), ("--keep-going", False)):
        r = run("run", wf, "--no-progress", flag)
        assert r.returncode == 0, r.stdout + r.stderr
        tasks = dashboard(tmp_path, run_id_of(r))["tasks"]
        assert (tasks["next"]["started_at"] >= tasks["slow"]["completed_at"]) is after_slow


def test_dashboard_is_always_whole_and_the_summary_adds_up(tmp_path):
    lines = ["agents:", "  a: {instances: 4, domain: {writes: []}}", "tasks:"]
    lines += [f"  t{i}: {{agent: a, run: 'sleep 0.0{i % 3}'}}" for i in range(60)]
    wf = workflow(tmp_path, "\n".join(lines) + "\n")
    proc = subprocess.Popen([sys.executable, "-m", "lanes", "run", str(wf), "--no-progress", "--run-id", "d1",
                             "--jobs", "4", "--verbose"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    path = tmp_path / ".lanes" / "runs" / "d1" / "dashboard.json"
    reads = 0
    while proc.poll() is None:
        if path.exists():
            data = json.loads(path.read_text())          # never a torn file: written, then renamed
            assert set(data) >= {"run_id", "workflow", "started_at", "tasks", "counts"}
            assert sum(data["counts"].values()) == 60
            reads += 1
        time.sleep(0.01)
    out, _ = proc.communicate()
    assert proc.returncode == 0 and reads > 0
    final = json.loads(path.read_text())
    assert final["counts"]["succeeded"] == 60 and final["status"] == "succeeded"
    m = re.search(r"wall time ([\d.]+)s, summed task time ([\d.]+)s, speedup ([\d.]+)x, efficiency (-?[\d.]+)",
                  out)
    wall, busy, speedup, eff = map(float, m.groups())
    # the printed figures are rounded to 0.01 s: compare within that
    assert abs(eff - (busy - wall) / busy) < 0.03 and abs(speedup * wall - busy) < 0.01 * (1 + speedup) + 0.01
    assert len(re.findall(r"^  succeeded +t\d+  attempts 1", out, re.M)) == 60   # --verbose: a line per node


def test_timeout_kills_the_process_group(tmp_path):
    wf = workflow(tmp_path, f"""
        agents: {{a: {{}}}}
        tasks:
          hang: {{agent: a, timeout: 0.5s, run: 'sleep 30 & echo $! > {tmp_path}/child; wait'}}
        """)
    start = time.monotonic()
    r = run("run", wf, "--no-progress")
    assert r.returncode == 1
    assert time.monotonic() - start < 25            # (not a speed: less than the 30 s it sleeps)
    child = int((tmp_path / "child").read_text())
    assert wait_for(lambda: not alive(child), 10)   # the grandchild died with its group
    assert "timed out" in run("logs", run_id_of(r), "hang", "--state", tmp_path / ".lanes").stdout


@pytest.mark.parametrize("mode", ["stop", "rollback", "continue"])
def test_gate_on_fail(tmp_path, mode):
    wf = workflow(tmp_path, f"""
        agents:
          a: {{domain: {{writes: ["a"]}}}}
          b: {{domain: {{writes: ["b"]}}}}
        tasks:
          first: {{agent: a, run: "true", rollback: "echo first >> {tmp_path}/undo"}}
          second: {{agent: a, run: "sleep 0.2", needs: [first], rollback: "echo second >> {tmp_path}/undo"}}
          other: {{agent: b, run: "true", rollback: "echo other >> {tmp_path}/undo"}}
          after: {{agent: b, run: "true", needs: [check]}}
        gates:
          early: {{needs: [other], run: "true"}}
          check: {{needs: [second, early], run: "exit 1", on_fail: {mode}}}
        """)
    r = run("run", wf, "--no-progress")
    s = statuses(tmp_path, run_id_of(r))
    assert s["check"] == "failed"
    undo = (tmp_path / "undo").read_text().split() if (tmp_path / "undo").exists() else []
    if mode == "continue":
        assert r.returncode == 0 and s["after"] == "succeeded" and undo == []
    else:
        assert r.returncode == 1 and s["after"] == "skipped"
        # newest first, and nothing from behind the earlier gate
        assert undo == (["second", "first"] if mode == "rollback" else [])


def test_a_rollback_does_not_hold_up_the_run_loop(tmp_path):
    # `long` ends while the rollback still runs: its end is reaped and recorded then, not after
    wf = workflow(tmp_path, f"""
        agents:
          a: {{domain: {{writes: ["a"]}}}}
          b: {{domain: {{writes: ["b"]}}}}
        tasks:
          first: {{agent: a, run: "true", rollback: "sleep 1.5; touch {tmp_path}/undone"}}
          long:  {{agent: b, run: "sleep 0.8"}}
        gates:
          check: {{needs: [first], run: "exit 1", on_fail: rollback}}
        """)
    r = run("run", wf, "--no-progress", "--jobs", "3")
    assert r.returncode == 1, r.stdout + r.stderr
    rid = run_id_of(r)
    assert statuses(tmp_path, rid)["long"] == "succeeded"
    db = sqlite3.connect(tmp_path / ".lanes" / "state.db")
    (long_done,) = db.execute("SELECT finished_at FROM attempts WHERE node_id='long'").fetchone()
    events = [k for (k,) in db.execute("SELECT kind FROM events WHERE run_id=? ORDER BY seq", (rid,))]
    db.close()
    assert (tmp_path / "undone").stat().st_mtime - long_done > 0.4
    assert "rolled-back" in events and events[-1] == "run-failed"


def test_approval_gate(tmp_path):
    wf = workflow(tmp_path, """
        agents: {a: {}}
        tasks:
          t: {agent: a, run: "true"}
          after: {agent: a, run: "true", needs: [ok]}
        gates:
          ok: {needs: [t], approve: "ship?"}
        """)
    proc = subprocess.Popen([sys.executable, "-m", "lanes", "run", str(wf), "--no-progress", "--run-id", "r1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = tmp_path / ".lanes"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if (state / "runs" / "r1" / "dashboard.json").exists() and statuses(tmp_path, "r1").get("ok") == "waiting":
            break
    assert statuses(tmp_path, "r1")["ok"] == "waiting"
    assert run("approve", "r1", "t", "--state", state).returncode == 1      # not a waiting gate
    assert run("approve", "r1", "ok", "--state", state).returncode == 0
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, out + err
    assert statuses(tmp_path, "r1")["after"] == "succeeded"
    r = run("run", wf, "--no-progress", "--yes")
    assert r.returncode == 0


def test_errors_run_nothing(tmp_path):
    wf = workflow(tmp_path, f"""
        agents: {{a: {{}}}}
        tasks:
          t: {{agent: a, run: "touch {tmp_path}/ran", needs: [nope]}}
        """)
    r = run("run", wf, "--no-progress")
    assert r.returncode == 1 and "E201" in r.stderr
    assert not (tmp_path / "ran").exists()


def test_plan_file_input_and_status(tmp_path):
    wf = workflow(tmp_path, """
        agents: {a: {}}
        tasks:
          t: {agent: a, run: "true"}
        """)
    assert run("plan", wf, "-o", tmp_path / "plan.json").returncode == 0
    r = run("run", tmp_path / "plan.json", "--no-progress", "--run-id", "p1")
    assert r.returncode == 0 and r.stdout.startswith("run p1\n")
    st = run("status", "--state", tmp_path / ".lanes", "--format", "json")
    data = json.loads(st.stdout)
    assert data["run_id"] == "p1" and data["counts"]["succeeded"] == 1
    assert set(data["tasks"]["t"]) >= {"status", "agent", "attempts", "started_at", "completed_at"}


def test_the_loop_thread_hands_back_its_result_its_error_and_lets_signals_through():
    import os
    import signal
    import threading

    from lanes.runtime.driver import in_a_new_thread

    seen = []
    old = signal.signal(signal.SIGUSR1, lambda *_: seen.append(threading.current_thread().name))
    try:
        def work(x):
            os.kill(os.getpid(), signal.SIGUSR1)        # arrives while the main thread waits
            time.sleep(0.2)
            return threading.current_thread().name, x
        name, x = in_a_new_thread(work, 7)
        assert (name, x) == ("lanes-run-loop", 7)
        assert seen == [threading.main_thread().name]   # the handler ran, in the main thread

        def fail():
            raise ValueError("boom")
        with pytest.raises(ValueError, match="boom"):
            in_a_new_thread(fail)
    finally:
        signal.signal(signal.SIGUSR1, old)


def test_briefs_that_cannot_be_written_fail_the_run_before_any_task(tmp_path):
    """The briefs are rendered beside the run's set-up (lanes.brief_job): when they cannot
    be written, no task starts and the run is recorded as failed, with the reason."""
    wf = workflow(tmp_path, """
        agents: {a: {}}
        tasks:
          t: {agent: a, run: "touch started"}
        """)
    state = tmp_path / "state"
    (state / "runs" / "r1").mkdir(parents=True)
    (state / "runs" / "r1" / "briefs").write_text("in the way\n")     # not a directory
    r = run("run", wf, "--run-id", "r1", "--state", state, "--no-progress", cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "cannot render the agent briefs: cannot write them in" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "started").exists()
    status = json.loads(run("status", "r1", "--state", state, "--format", "json").stdout)
    assert status["status"] == "failed"
    assert {n["status"] for n in status["tasks"].values()} == {"pending"}
