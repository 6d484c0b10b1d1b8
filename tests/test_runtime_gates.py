"""Approvals and rollbacks as SPEC section 7 has them: who approved or rejected and why,
a gate's timeout bounding the wait for a person, `rolled-back` tasks, every rollback on
record (status text and JSON, dashboard, summary, logs) and resume after a rollback."""
from __future__ import annotations

import json
import sqlite3

from runtime_helpers import dashboard, run, start, statuses, wait_for, workflow

GATED = """
    agents: {a: {}}
    tasks:
      t: {agent: a, run: "true"}
      after: {agent: a, run: "true", needs: [ok]}
    gates:
      ok: {needs: [t], approve: "ship?"%s}
    """


def waiting(tmp_path, rid: str, gate: str) -> bool:
    return statuses(tmp_path, rid).get(gate) == "waiting"


def test_approve_by_whom_and_why_is_recorded_and_shown(tmp_path):
    proc = start("run", workflow(tmp_path, GATED % ""), "--no-progress", "--run-id", "a1")
    assert wait_for(lambda: waiting(tmp_path, "a1", "ok"))
    r = run("approve", "a1", "ok", "--by", "alice", "--note", "looks good")
    assert r.returncode == 0 and "by alice" in r.stdout
    again = run("approve", "a1", "ok", "--by", "bob")
    assert again.returncode == 1                                # one answer per gate
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, out + err
    assert "approved ok by alice: looks good" in out
    st = run("status", "a1")
    line = next(x for x in st.stdout.splitlines() if x.split()[:2] == ["succeeded", "ok"])
    assert "approved by alice: looks good" in line
    data = json.loads(run("status", "a1", "--format", "json").stdout)
    decision = data["tasks"]["ok"]["decision"]
    assert decision["decision"] == "approved" and decision["by"] == "alice" and decision["note"] == "looks good"
    assert statuses(tmp_path, "a1")["after"] == "succeeded"


def test_reject_fails_the_gate_and_on_fail_applies(tmp_path):
    proc = start("run", workflow(tmp_path, GATED % ""), "--no-progress", "--run-id", "r1")
    assert wait_for(lambda: waiting(tmp_path, "r1", "ok"))
    assert run("reject", "r1", "t").returncode == 1             # not a waiting gate
    r = run("reject", "r1", "ok", "--by", "carol", "--note", "not yet")
    assert r.returncode == 0
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, out + err                      # on_fail stop: the run failed
    assert statuses(tmp_path, "r1") == {"t": "succeeded", "ok": "failed", "after": "skipped"}
    data = json.loads(run("status", "r1", "--format", "json").stdout)
    assert data["tasks"]["ok"]["decision"]["decision"] == "rejected"
    assert data["tasks"]["ok"]["error"] == "rejected by carol: not yet"
    assert "rejected by carol: not yet" in run("status", "r1").stdout


def test_a_gates_timeout_bounds_the_wait_for_a_person(tmp_path):
    r = run("run", workflow(tmp_path, GATED % ", timeout: 1s"), "--no-progress", "--run-id", "w1")
    assert r.returncode == 1, r.stdout + r.stderr
    assert statuses(tmp_path, "w1") == {"t": "succeeded", "ok": "failed", "after": "skipped"}
    data = json.loads(run("status", "w1", "--format", "json").stdout)
    assert data["tasks"]["ok"]["error"].startswith("timed out waiting for an approval")
    assert "waiting for a person" in r.stdout                  # reported apart in the summary


def rollback_chain(tmp_path, gate_check: str):
    return workflow(tmp_path, f"""
        agents: {{a: {{}}}}
        tasks:
          first:  {{agent: a, run: "echo first >> {tmp_path}/ran", rollback: "echo undo-first; echo first >> {tmp_path}/undone"}}
          second: {{agent: a, run: "echo second >> {tmp_path}/ran", needs: [first]}}
          third:  {{agent: a, run: "echo third >> {tmp_path}/ran", needs: [second], rollback: "echo third >> {tmp_path}/undone; exit 3"}}
        gates:
          check: {{needs: [third], run: "{gate_check}", on_fail: rollback}}
        """)


def test_rollback_marks_tasks_rolled_back_and_records_every_rollback(tmp_path):
    r = run("run", rollback_chain(tmp_path, f"test -e {tmp_path}/fixed"), "--no-progress", "--run-id", "rb")
    assert r.returncode == 1
    assert (tmp_path / "undone").read_text().split() == ["third", "first"]      # newest first
    # second has no rollback: its work is not undone, so it stays succeeded (and reruns on resume)
    assert statuses(tmp_path, "rb") == {"first": "rolled-back", "second": "succeeded", "third": "rolled-back",
                                        "check": "failed"}
    log = tmp_path / ".lanes" / "runs" / "rb" / "logs" / "first.rollback.log"
    assert f"rolled-back first: {log}" in r.stdout                              # the summary
    data = json.loads(run("status", "rb", "--format", "json").stdout)
    rows = [(x["node"], x["gate"], x["status"], x["exit_code"]) for x in data["rollbacks"]]
    assert rows == [("third", "check", "failed", 3), ("first", "check", "done", 0)]
    assert data["rollbacks"][1]["command"].startswith("echo undo-first") and data["rollbacks"][1]["log"] == str(log)
    assert [x["node"] for x in dashboard(tmp_path, "rb")["rollbacks"]] == ["third", "first"]
    assert "rollback of third (gate check): failed, exit 3" in run("status", "rb").stdout
    logs = run("logs", "rb", "first").stdout
    assert "==> first: rollback (gate check)" in logs and "undo-first" in logs


def test_resume_after_a_rollback_reruns_the_undone_work_before_the_gate(tmp_path):
    wf = rollback_chain(tmp_path, f"test -e {tmp_path}/fixed")
    assert run("run", wf, "--no-progress", "--run-id", "rr").returncode == 1
    r = run("resume", "rr", "--no-progress")                  # not fixed: the gate fails again
    assert r.returncode == 1
    assert (tmp_path / "ran").read_text().split() == ["first", "second", "third"] * 2
    (tmp_path / "fixed").touch()
    r = run("resume", "rr", "--no-progress")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "ran").read_text().split() == ["first", "second", "third"] * 3
    assert set(statuses(tmp_path, "rr").values()) == {"succeeded"}
    db = sqlite3.connect(tmp_path / ".lanes" / "state.db")
    order = [n for (n,) in db.execute("SELECT node_id FROM events WHERE run_id='rr' AND kind='started' "
                                      "ORDER BY seq")]
    db.close()
    assert order[-4:] == ["first", "second", "third", "check"]   # the undone work, then the gate
