"""Pull mode: claims respect needs, lanes and priorities; leases expire; stale tokens are fenced out."""
from __future__ import annotations

import json
import sqlite3
import time

from helpers import lanes_cli, write
import pytest

import lanes.api as api
from lanes.runtime.pull import PullError, claim, complete, heartbeat, open_run
from lanes.runtime.store import Store

WORKFLOW = """
workflow: pulled
agents:
  arch:  {domain: {writes: ["contracts/**"]}}
  back:  {domain: {writes: ["api/**"], reads: ["contracts/**"]}}
  front: {domain: {writes: ["ui/**"], reads: ["contracts/**"]}, instances: 2}
tasks:
  schema:   {agent: arch, run: "true", estimate: 2m}
  api:      {agent: back, needs: [schema], run: "true", estimate: 5m, rollback: echo undo api}
  api-docs: {agent: back, needs: [schema], run: "true", estimate: 1m}
  ui:       {agent: front, needs: [schema], run: "true", estimate: 3m, domain: {writes: ["ui/app/**"]},
             rollback: echo undo ui}
  ui-tests: {agent: front, needs: [schema], run: "true", estimate: 1m, domain: {writes: ["ui/tests/**"]}}
gates:
  integration: {needs: [api, api-docs, ui, ui-tests], run: "true", on_fail: rollback}
  release:     {needs: [integration], approve: "ship it?"}
"""


def opened(tmp_path, text=WORKFLOW, keep_going=False):
    comp = api.compile(write(tmp_path, "w.yaml", text))
    assert not comp.has_errors, comp.diagnostics
    store = Store(str(tmp_path / ".lanes"))
    open_run(store, comp.plan, "r1", None, keep_going=keep_going)
    return store


def statuses(store) -> dict[str, str]:
    return {n: r["status"] for n, r in store.nodes("r1").items()}


def db_dump(tmp_path) -> list:
    db = sqlite3.connect(tmp_path / ".lanes" / "state.db")
    try:
        return [list(db.execute(f"SELECT * FROM {t} ORDER BY 1, 2")) for t in ("runs", "nodes", "attempts", "events")]
    finally:
        db.close()


def test_claims_follow_needs_and_priority_and_finish_the_run(tmp_path):
    store = opened(tmp_path)
    first = claim(store, "r1", worker="w1")
    assert first["node"]["id"] == "schema" and first["node"]["attempt"] == 1
    assert first["node"]["run"] == "true" and first["node"]["writes"] == ["contracts/**"]
    assert first["lease_expires_at"].endswith("Z") and len(first["token"]) == 32
    assert claim(store, "r1") == {"node": None, "state": "waiting"}      # everything needs schema
    assert complete(store, "r1", "schema", first["token"])["status"] == "succeeded"
    # longest remaining path first: api (5m) before ui (3m); back's lane then holds api-docs back
    order = [claim(store, "r1") for _ in range(4)]
    assert [c["node"]["id"] if c["node"] else None for c in order] == ["api", "ui", "ui-tests", None]
    for c in order[:3]:
        complete(store, "r1", c["node"]["id"], c["token"])
    docs = claim(store, "r1")
    assert docs["node"]["id"] == "api-docs"
    assert claim(store, "r1")["state"] == "waiting"
    complete(store, "r1", "api-docs", docs["token"])
    gate = claim(store, "r1")
    assert gate["node"]["id"] == "integration" and gate["node"]["kind"] == "gate"
    complete(store, "r1", "integration", gate["token"])
    release = claim(store, "r1")                       # an approval gate: its claimer approves it
    assert release["node"]["approve"] == "ship it?"
    done = complete(store, "r1", "release", release["token"])
    assert done == {"node": "release", "status": "succeeded", "attempt": 1, "run": "succeeded"}
    assert claim(store, "r1") == {"node": None, "state": "finished"}
    assert set(statuses(store).values()) == {"succeeded"}
    assert store.nodes("r1")["release"]["approved"] == 1
    board = json.loads((tmp_path / ".lanes" / "runs" / "r1" / "dashboard.json").read_text())
    assert board["status"] == "succeeded" and board["counts"]["succeeded"] == 7


def test_agent_lanes_and_agent_filter(tmp_path):
    store = opened(tmp_path)
    assert claim(store, "r1", agent="back")["state"] == "waiting"
    assert claim(store, "r1", agent="arch")["node"]["id"] == "schema"
    assert claim(store, "r1", agent="arch")["state"] == "waiting"     # its task may yet come back
    s = store.nodes("r1")["schema"]
    complete(store, "r1", "schema", s["lease_token"])
    assert claim(store, "r1", agent="arch")["state"] == "finished"    # arch has nothing more
    assert claim(store, "r1", agent="back")["node"]["id"] == "api"
    assert claim(store, "r1", agent="back") == {"node": None, "state": "waiting"}   # one instance
    front = [claim(store, "r1", agent="front")["node"]["id"] for _ in range(2)]      # two instances
    assert front == ["ui", "ui-tests"]
    assert claim(store, "r1", agent="front")["state"] == "waiting"
    with pytest.raises(PullError, match="no agent 'frnt' .*did you mean 'front'"):
        claim(store, "r1", agent="frnt")


def test_gates_are_not_handed_to_an_agent(tmp_path):
    store = opened(tmp_path)
    for _ in range(6):
        c = claim(store, "r1")
        complete(store, "r1", c["node"]["id"], c["token"])
    for agent in ("arch", "back", "front"):
        assert claim(store, "r1", agent=agent)["state"] == "finished"
    assert claim(store, "r1")["node"]["id"] == "release"


def test_failure_skips_downstream_and_stops_the_run(tmp_path):
    store = opened(tmp_path)
    c = claim(store, "r1")
    complete(store, "r1", "schema", c["token"])
    api_claim, ui_claim = claim(store, "r1"), claim(store, "r1")
    failed = complete(store, "r1", "api", api_claim["token"], failed=True)
    assert failed["status"] == "failed" and failed["run"] == "running"
    assert sorted(failed["skipped"]) == ["integration", "release"]
    assert claim(store, "r1")["state"] == "finished"      # stopped: nothing new is handed out
    done = complete(store, "r1", "ui", ui_claim["token"])  # a running lease still completes
    assert done["run"] == "failed"
    s = statuses(store)
    assert (s["api"], s["integration"], s["release"], s["ui"]) == ("failed", "skipped", "skipped", "succeeded")
    assert s["api-docs"] == s["ui-tests"] == "cancelled"


def test_keep_going_hands_out_independent_branches(tmp_path):
    store = opened(tmp_path, keep_going=True)
    c = claim(store, "r1")
    complete(store, "r1", "schema", c["token"])
    a = claim(store, "r1")
    complete(store, "r1", "api", a["token"], failed=True)
    rest = []
    while (c := claim(store, "r1"))["node"]:
        rest.append(c["node"]["id"])
        last = complete(store, "r1", c["node"]["id"], c["token"])
    assert sorted(rest) == ["api-docs", "ui", "ui-tests"] and last["run"] == "failed"


def test_failed_rollback_gate_lists_rollbacks_newest_first(tmp_path):
    store = opened(tmp_path)
    t = 1000.0
    while (c := claim(store, "r1", now=t))["node"]["kind"] == "task":
        t += 1
        complete(store, "r1", c["node"]["id"], c["token"], now=t)
    answer = complete(store, "r1", "integration", c["token"], failed=True, now=t + 1)
    # api finished before ui (priority order), so ui is undone first
    assert answer["rollback"] == [{"node": "ui", "run": "echo undo ui"}, {"node": "api", "run": "echo undo api"}]
    assert answer["run"] == "failed" and answer["skipped"] == ["release"]


def test_retries_come_back_after_their_backoff(tmp_path):
    text = WORKFLOW.replace('schema:   {agent: arch, run: "true", estimate: 2m}',
                            'schema:   {agent: arch, run: "true", retries: 1, backoff: {initial: 10s}}')
    store = opened(tmp_path, text)
    c = claim(store, "r1", now=100.0)
    answer = complete(store, "r1", "schema", c["token"], failed=True, now=101.0)
    assert answer["status"] == "pending" and answer["retry_at"] >= "1970-01-01T00:01:51"
    waiting = claim(store, "r1", now=105.0)
    assert waiting["state"] == "waiting" and waiting["retry_at"] == answer["retry_at"]
    again = claim(store, "r1", now=113.0)
    assert again["node"]["id"] == "schema" and again["node"]["attempt"] == 2
    final = complete(store, "r1", "schema", again["token"], failed=True, now=114.0)
    assert final["status"] == "failed" and final["run"] == "failed"


def test_expired_lease_goes_back_and_fences_out_the_stale_holder(tmp_path):
    store = opened(tmp_path)
    stale = claim(store, "r1", worker="slow", lease_s=60, now=0.0)
    beat = heartbeat(store, "r1", "schema", stale["token"], lease_s=60, now=50.0)
    assert beat["lease_expires_at"] == "1970-01-01T00:01:50.000Z"
    assert claim(store, "r1", now=100.0)["state"] == "waiting"          # extended: still held
    fresh = claim(store, "r1", worker="fast", now=111.0)
    assert fresh["node"]["id"] == "schema" and fresh["node"]["attempt"] == 2
    before = db_dump(tmp_path)
    with pytest.raises(PullError, match="stale token"):
        complete(store, "r1", "schema", stale["token"], now=112.0)
    with pytest.raises(PullError, match="stale token"):
        heartbeat(store, "r1", "schema", stale["token"], now=112.0)
    assert db_dump(tmp_path) == before
    complete(store, "r1", "schema", fresh["token"], now=113.0)
    attempts = [(a["attempt"], a["worker"], a["outcome"]) for a in store.attempts("r1")]
    assert attempts == [(1, "slow", "expired"), (2, "fast", "succeeded")]
    kinds = [e["kind"] for e in store.events("r1") if e["node_id"] == "schema"]
    assert kinds == ["claimed", "lease-expired", "claimed", "attempt-ok"]


def test_an_expired_lease_cannot_complete_even_before_reclaim(tmp_path):
    store = opened(tmp_path)
    c = claim(store, "r1", lease_s=10, now=0.0)
    with pytest.raises(PullError, match="expired"):
        complete(store, "r1", "schema", c["token"], now=11.0)
    assert statuses(store)["schema"] == "running"


def test_unknown_run_node_and_run_mode(tmp_path):
    store = opened(tmp_path)
    with pytest.raises(PullError, match="no run 'r2'"):
        claim(store, "r2")
    with pytest.raises(PullError, match="no node 'shema' .*did you mean 'schema'"):
        complete(store, "r1", "shema", "x")
    store.db.execute("UPDATE runs SET mode='run'")
    with pytest.raises(PullError, match="executed by `lanes run`"):
        claim(store, "r1")


# -- through the command line -------------------------------------------------------------------

def cli_json(*args, cwd):
    r = lanes_cli(*args, cwd=cwd)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_cli_two_sessions_claim_a_whole_run(tmp_path):
    write(tmp_path, "w.yaml", WORKFLOW)
    r = lanes_cli("open", "w.yaml", "--run-id", "demo", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "run demo"
    handed = []
    sessions = ["alice", "bob"]
    for turn in range(20):
        me = sessions[turn % 2]
        c = cli_json("claim", "demo", "--worker", me, "--lease", "2m", cwd=tmp_path)
        if c["node"] is None:
            if c["state"] == "finished":
                break
            continue
        handed.append(c["node"]["id"])
        cli_json("heartbeat", "demo", c["node"]["id"], "--token", c["token"], cwd=tmp_path)
        done = cli_json("complete", "demo", c["node"]["id"], "--token", c["token"], cwd=tmp_path)
        assert done["status"] == "succeeded"
    assert sorted(handed) == sorted(["schema", "api", "api-docs", "ui", "ui-tests", "integration", "release"])
    status = lanes_cli("status", "demo", "--format", "json", cwd=tmp_path)
    data = json.loads(status.stdout)
    assert data["status"] == "succeeded" and data["counts"]["succeeded"] == 7


def test_cli_stale_token_after_lease_expiry_is_refused(tmp_path):
    write(tmp_path, "w.yaml", WORKFLOW)
    assert lanes_cli("open", "w.yaml", "--run-id", "r1", cwd=tmp_path).returncode == 0
    old = cli_json("claim", "r1", "--lease", "1s", "--worker", "stalled", cwd=tmp_path)
    time.sleep(1.2)
    new = cli_json("claim", "r1", "--worker", "fresh", cwd=tmp_path)
    assert new["node"]["id"] == "schema" and new["node"]["attempt"] == 2
    before = db_dump(tmp_path)
    for cmd in (["complete", "r1", "schema", "--token", old["token"]],
                ["heartbeat", "r1", "schema", "--token", old["token"]]):
        r = lanes_cli(*cmd, cwd=tmp_path)
        assert r.returncode == 1 and "stale token" in r.stderr and r.stdout == ""
        assert "Traceback" not in r.stderr
    assert db_dump(tmp_path) == before
    assert cli_json("complete", "r1", "schema", "--token", new["token"], cwd=tmp_path)["status"] == "succeeded"


def test_cli_errors(tmp_path):
    write(tmp_path, "w.yaml", WORKFLOW)
    r = lanes_cli("claim", "r1", cwd=tmp_path)
    assert r.returncode == 1 and "no lanes state" in r.stderr
    assert lanes_cli("open", "w.yaml", "--run-id", "r1", cwd=tmp_path).returncode == 0
    r = lanes_cli("open", "w.yaml", "--run-id", "r1", cwd=tmp_path)
    assert r.returncode == 1 and "already exists" in r.stderr
    r = lanes_cli("claim", "nope", cwd=tmp_path)
    assert r.returncode == 1 and "no run 'nope'" in r.stderr
    r = lanes_cli("complete", "r1", "schema", "--token", "0" * 32, cwd=tmp_path)
    assert r.returncode == 1 and "stale token" in r.stderr
    r = lanes_cli("claim", "r1", "--lease", "soon", cwd=tmp_path)
    assert r.returncode == 2 and "not a duration" in r.stderr
    r = lanes_cli("claim", "r1", "--agent", "nobody", cwd=tmp_path)
    assert r.returncode == 1 and "no agent 'nobody'" in r.stderr
    bad = write(tmp_path, "bad.yaml", WORKFLOW.replace("needs: [schema], run", "needs: [shema], run", 1))
    r = lanes_cli("open", bad, cwd=tmp_path)
    assert r.returncode == 1 and "shema" in r.stderr and r.stdout == ""
    assert lanes_cli("open", tmp_path / "missing.yaml", cwd=tmp_path).returncode == 2


def test_cli_open_accepts_a_plan_file(tmp_path):
    write(tmp_path, "w.yaml", WORKFLOW)
    assert lanes_cli("plan", "w.yaml", "-o", "plan.json", cwd=tmp_path).returncode == 0
    r = lanes_cli("open", "plan.json", "--state", "st", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("run ")
    run_id = r.stdout.split()[1]
    c = cli_json("claim", run_id, "--state", "st", cwd=tmp_path)
    assert c["node"]["id"] == "schema" and c["workdir"] == str(tmp_path)
    assert (tmp_path / "st" / "runs" / run_id / "briefs" / "arch.md").exists()


def test_a_spent_budget_hands_out_no_agent_task(tmp_path):
    store = opened(tmp_path, """
workflow: pulled
max_budget_usd: 1.0
agents:
  coder: {runner: claude, domain: {writes: ["src/**"]}}
  sh:    {domain: {writes: ["out/**"]}}
tasks:
  one:   {agent: coder, prompt: "write src/1"}
  two:   {agent: coder, prompt: "write src/2", needs: [one]}
  plain: {agent: sh, run: "true"}
""")
    db = sqlite3.connect(tmp_path / ".lanes" / "state.db")
    with db:                                   # what an earlier attempt of it reported it cost
        db.execute("UPDATE nodes SET cost_usd = 1.5 WHERE run_id = 'r1' AND node_id = 'one'")
    db.close()
    assert claim(store, "r1", agent="coder")["node"] is None
    c = claim(store, "r1")
    assert c["node"]["id"] == "plain", c                     # a plain task still goes out
    assert statuses(store)["one"] == "pending" and statuses(store)["two"] == "pending"


def test_a_worktree_that_cannot_be_written_refuses_the_claim(tmp_path, monkeypatch):
    import subprocess

    from lanes.enforce import allowed_by
    from lanes.runtime.workspace import Workspaces
    for args in (["init", "-q", "-b", "main"], ["config", "user.name", "T"], ["config", "user.email", "t@e"]):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True)
    (tmp_path / "README").write_text("r\n")
    subprocess.run(["git", "-C", str(tmp_path), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-q", "-m", "init"], check=True)
    comp = api.compile(write(tmp_path, "w.yaml", """
workflow: wt
workspace: worktree
agents:
  a: {domain: {writes: ["src/**"]}}
tasks:
  t: {agent: a, run: "true"}
"""))
    assert not comp.has_errors, comp.diagnostics
    store = Store(str(tmp_path / ".lanes"))
    open_run(store, comp.plan, "r1", None, allowed=allowed_by)

    def prepare(self, node_id, attempt):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Workspaces, "prepare", prepare)
    with pytest.raises(PullError, match="cannot prepare the worktree of 't'.*No space left"):
        claim(store, "r1", allowed=allowed_by)
    assert statuses(store) == {"t": "pending"}
