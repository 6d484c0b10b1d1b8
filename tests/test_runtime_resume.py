"""Interrupting a run and resuming it: signals, a runtime that is still alive, changed
nodes, process groups left behind, and what `status` and `logs` say meanwhile."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import time

import pytest
from runtime_helpers import alive, run, run_id_of, start, statuses, wait_for, workflow


def two_lanes(tmp_path, slow: str = "sleep 30"):
    return workflow(tmp_path, f"""
        agents:
          a: {{domain: {{writes: ["a"]}}}}
          b: {{domain: {{writes: ["b"]}}}}
        tasks:
          quick: {{agent: a, run: "echo quick >> {tmp_path}/ran"}}
          slow: {{agent: b, run: "{slow}"}}
          after: {{agent: a, run: "echo after >> {tmp_path}/ran", needs: [slow]}}
        """)


def running(tmp_path, rid, node) -> bool:
    return statuses(tmp_path, rid).get(node) == "running"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_cancels_running_work_and_resume_finishes(tmp_path, sig):
    wf = two_lanes(tmp_path)
    proc = start("run", wf, "--no-progress", "--run-id", "c1")
    assert wait_for(lambda: running(tmp_path, "c1", "slow") and statuses(tmp_path, "c1")["quick"] == "succeeded")
    pgid = int(sqlite3.connect(tmp_path / ".lanes" / "state.db").execute(
        "SELECT pgid FROM nodes WHERE node_id='slow'").fetchone()[0])
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig, out + err           # 130 for Ctrl-C: resumable
    assert "lanes resume c1" in err
    assert statuses(tmp_path, "c1") == {"quick": "succeeded", "slow": "cancelled", "after": "cancelled"}
    assert not alive(pgid)                                   # its process group was terminated
    wf.write_text(wf.read_text().replace("sleep 30", "true"))   # changed: reruns
    r = run("resume", "--state", tmp_path / ".lanes", "--no-progress")   # the latest unfinished run
    assert r.returncode == 0 and run_id_of(r) == "c1", r.stdout + r.stderr
    assert (tmp_path / "ran").read_text().split() == ["quick", "after"]   # quick kept, not rerun
    assert set(statuses(tmp_path, "c1").values()) == {"succeeded"}
    again = run("resume", "c1", "--state", tmp_path / ".lanes", "--no-progress")
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_resume_refuses_while_the_runtime_lives_and_status_tells(tmp_path):
    wf = two_lanes(tmp_path, slow=f"while [ ! -e {tmp_path}/go ]; do sleep 0.05; done")
    proc = start("run", wf, "--no-progress", "--run-id", "live")
    assert wait_for(lambda: running(tmp_path, "live", "slow"))
    state = tmp_path / ".lanes"
    r = run("resume", "live", "--state", state, "--no-progress")
    assert r.returncode == 1 and "in progress" in r.stderr
    st = run("status", "live", "--state", state)
    assert st.returncode == 0 and "running" in st.stdout.splitlines()[0]
    assert any(line.split()[:2] == ["running", "slow"] for line in st.stdout.splitlines())
    (tmp_path / "go").touch()
    proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert run("logs", "live", "slow", "--state", state).returncode == 0       # silent: empty, not an error
    assert run("logs", "live", "nope", "--state", state).returncode == 1


def test_a_changed_node_reruns_with_its_downstream(tmp_path):
    def wf_text(mid: str) -> str:
        return f"""
        agents: {{a: {{instances: 2}}}}
        tasks:
          first: {{agent: a, run: "echo first >> {tmp_path}/ran"}}
          mid: {{agent: a, run: "echo {mid} >> {tmp_path}/ran", needs: [first]}}
          last: {{agent: a, run: "echo last >> {tmp_path}/ran", needs: [mid]}}
          aside: {{agent: a, run: "echo aside >> {tmp_path}/ran"}}
        """
    wf = workflow(tmp_path, wf_text("mid"))
    r = run("run", wf, "--no-progress", "--run-id", "d")
    assert r.returncode == 0
    wf = workflow(tmp_path, wf_text("mid2"))
    r = run("resume", "d", "--state", tmp_path / ".lanes", "--no-progress")
    assert r.returncode == 0, r.stdout + r.stderr
    ran = (tmp_path / "ran").read_text().split()
    assert sorted(ran[4:]) == ["last", "mid2"]              # first and aside kept
    assert set(statuses(tmp_path, "d").values()) == {"succeeded"}


def test_groups_a_dead_runtime_left_are_ended_even_unrecorded(tmp_path):
    marker = tmp_path / "second-time"
    wf = two_lanes(tmp_path, slow=f"test -e {marker} || {{ touch {marker}; echo $$ > {tmp_path}/pid; sleep 30; }}")
    proc = start("run", wf, "--no-progress", "--run-id", "k")
    assert wait_for(lambda: running(tmp_path, "k", "slow") and (tmp_path / "pid").exists())
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    pid = int((tmp_path / "pid").read_text())
    assert alive(pid)                                      # the orphan outlived its runtime
    db = sqlite3.connect(tmp_path / ".lanes" / "state.db")
    with db:                                               # as if killed before the pgid was committed
        db.execute("UPDATE nodes SET pgid=NULL WHERE node_id='slow'")
    db.close()
    st = run("status", "k", "--state", tmp_path / ".lanes")
    assert "interrupted" in st.stdout.splitlines()[0]
    start_t = time.monotonic()
    r = run("resume", "k", "--state", tmp_path / ".lanes", "--no-progress")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not alive(pid) and time.monotonic() - start_t < 25   # (less than the 30 s it sleeps)
    assert (tmp_path / "ran").read_text().split() == ["quick", "after"]
    events = sqlite3.connect(tmp_path / ".lanes" / "state.db").execute(
        "SELECT kind FROM events WHERE run_id='k'").fetchall()
    assert ("orphan-killed",) in events


def test_resume_needs_a_run(tmp_path):
    assert run("resume", "--state", tmp_path / "none").returncode == 1
    wf = workflow(tmp_path, """
        agents: {a: {}}
        tasks:
          t: {agent: a, run: "true"}
        """)
    assert run("run", wf, "--no-progress", "--run-id", "ok").returncode == 0
    r = run("resume", "--state", tmp_path / ".lanes")
    assert r.returncode == 1 and "no unfinished run" in r.stderr
    r = run("resume", "okk", "--state", tmp_path / ".lanes")
    assert r.returncode == 1 and "did you mean 'ok'" in r.stderr
    assert os.path.exists(tmp_path / ".lanes" / "runs" / "ok" / "briefs" / "a.md")


def test_a_signal_during_a_rollback_ends_it_and_resume_finishes_it_then_reruns(tmp_path):
    """Ctrl-C while the second of two rollbacks runs: the finished one never runs again,
    the interrupted one is run again first, then both tasks rerun before the gate."""
    undo_first = (f"if [ -e {tmp_path}/fixed ]; then echo first >> {tmp_path}/undone; "
                  f"else echo $$ > {tmp_path}/undoing; exec sleep 30; fi")
    wf = workflow(tmp_path, f"""
        agents: {{a: {{}}}}
        tasks:
          first:  {{agent: a, run: "echo first >> {tmp_path}/ran", rollback: "{undo_first}"}}
          second: {{agent: a, run: "echo second >> {tmp_path}/ran", needs: [first],
                   rollback: "echo second >> {tmp_path}/undone"}}
        gates:
          check: {{needs: [second], run: "test -e {tmp_path}/fixed", on_fail: rollback}}
        """)
    proc = start("run", wf, "--no-progress", "--run-id", "rb")
    assert wait_for(lambda: (tmp_path / "undoing").exists() and (tmp_path / "undoing").read_text().strip())
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert not alive(int((tmp_path / "undoing").read_text()))       # the rollback was ended
    assert (tmp_path / "undone").read_text().split() == ["second"]  # newest first, before it
    st = json.loads(run("status", "rb", "--format", "json").stdout)
    assert [(r["node"], r["status"], r["exit_code"] == 0) for r in st["rollbacks"]] == \
        [("second", "done", True), ("first", "cancelled", False)]
    assert st["tasks"]["second"]["status"] == "rolled-back" and st["tasks"]["check"]["status"] == "failed"
    (tmp_path / "fixed").touch()
    r = run("resume", "rb", "--no-progress")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "undone").read_text().split() == ["second", "first"]   # the finished one not again
    assert (tmp_path / "ran").read_text().split() == ["first", "second", "first", "second"]
    assert set(statuses(tmp_path, "rb").values()) == {"succeeded"}
