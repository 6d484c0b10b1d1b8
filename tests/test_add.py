"""`lanes add`: tasks added to a live run, admitted only when the proof still holds (SPEC section 10).

Real processes throughout: a `lanes run` (or pull-mode workers) whose first task waits
for a file the test creates once it has added work."""
from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys
import time

import pytest
from runtime_helpers import let_go, run, start, wait_for

from lanes.runtime.store import Store

BASE = """
workflow: base
agents:
  a: {domain: {writes: ["a/**"]}, instances: 2}
  b: {domain: {writes: ["b/**"]}}
tasks:
  wait:  {agent: a, run: "while [ ! -e go ]; do sleep 0.02; done; echo done > a/wait", writes: ["a/wait"]}
  other: {agent: b, run: "echo other > b/other", writes: ["b/other"]}
"""

MORE = """
workflow: more
tasks:
  extra:
    for_each: {n: [1, 2]}
    agent: b
    needs: [other]
    run: echo extra {n} > b/extra-{n}
    writes: ["b/extra-{n}"]
  after: {agent: a, needs: [wait, extra], run: "cat a/wait b/extra-1 b/extra-2 > a/after", writes: ["a/after"]}
gates:
  check: {needs: [after], run: "test -s a/after"}
"""

CLASH = """
workflow: clash
tasks:
  clash: {agent: a, run: "echo clash > a/wait", writes: ["a/wait"]}
"""


def setup(tmp_path: Path) -> Path:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for name, text in (("base.yaml", BASE), ("more.yaml", MORE), ("clash.yaml", CLASH)):
        (tmp_path / name).write_text(text.lstrip())
    return tmp_path / ".lanes"


def node_status(state: Path, run_id: str) -> dict[str, str]:
    if not (state / "state.db").exists():
        return {}
    store = Store(str(state), create=False)
    try:
        return {k: str(r["status"]) for k, r in store.nodes(run_id).items()}
    finally:
        store.close()


def run_row(state: Path, run_id: str):
    store = Store(str(state), create=False)
    try:
        return dict(store.run(run_id))
    finally:
        store.close()


def events(state: Path, run_id: str) -> list[str]:
    store = Store(str(state), create=False)
    try:
        return [str(e["kind"]) for e in store.events(run_id)]
    finally:
        store.close()


@pytest.fixture
def ended(tmp_path: Path):
    """The processes a test starts; whatever the test does, at teardown `go` is created (the
    base task's loop ends) and each is waited for, then killed after a timeout."""
    procs: list[subprocess.Popen] = []
    yield procs
    let_go(procs, tmp_path / "go")


@pytest.fixture
def started_run(tmp_path: Path, ended: list[subprocess.Popen]):
    """Start `lanes run` of base.yaml and wait until its `wait` task runs; ended at teardown."""
    def begin(state: Path, run_id: str = "r1") -> subprocess.Popen:
        proc = start("run", "base.yaml", "--run-id", run_id, "--state", state, "--no-progress", cwd=tmp_path)
        ended.append(proc)
        assert wait_for(lambda: node_status(state, run_id)["wait"] == "running"), proc.stderr
        return proc
    return begin


def test_added_tasks_run_in_the_running_run_without_a_restart(tmp_path, started_run):
    state = setup(tmp_path)
    proc = started_run(state)
    r = run("add", "r1", "more.yaml", "--state", state, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "added 4 nodes to run r1: extra-1, extra-2, after, check" in r.stdout
    assert wait_for(lambda: node_status(state, "r1")["extra-2"] == "succeeded")   # while `wait` still runs
    assert node_status(state, "r1")["wait"] == "running"
    (tmp_path / "go").touch()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert set(node_status(state, "r1").values()) == {"succeeded"}
    assert sorted(node_status(state, "r1")) == ["after", "check", "extra-1", "extra-2", "other", "wait"]
    assert (tmp_path / "a" / "after").read_text() == "done\nextra 1\nextra 2\n"
    row = run_row(state, "r1")
    assert row["status"] == "succeeded" and row["plan_version"] == 1
    stored = json.loads(row["plan_json"])            # resume and status read this plan
    assert {"extra-1", "extra-2", "after", "check"} <= {n["id"] for n in stored["nodes"]}
    assert "added" in events(state, "r1")
    status = run("status", "r1", "--state", state, "--format", "json", cwd=tmp_path)
    assert status.returncode == 0 and "extra-1" in status.stdout


def test_a_refused_addition_names_both_tasks_and_the_witness_and_adds_nothing(tmp_path, started_run):
    state = setup(tmp_path)
    proc = started_run(state)
    r = run("add", "clash.yaml", "--state", state, cwd=tmp_path)      # the latest unfinished run
    assert r.returncode == 1
    assert "clash.yaml:3:3: error[E300]: tasks 'wait' and 'clash' may run at the same time and both " \
           "write 'a/wait'" in r.stdout
    assert "nothing added to run r1" in r.stderr
    j = run("add", "r1", "clash.yaml", "--state", state, "--format", "json", cwd=tmp_path)
    assert j.returncode == 1
    [d] = json.loads(j.stdout)["diagnostics"]
    assert (d["code"], d["witness"], d["line"], d["column"]) == ("E300", "a/wait", 3, 3)
    assert "clash" not in node_status(state, "r1")
    assert run_row(state, "r1")["plan_version"] == 0
    (tmp_path / "go").touch()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert sorted(node_status(state, "r1")) == ["other", "wait"]
    assert (tmp_path / "a" / "wait").read_text() == "done\n"


def test_an_overlap_with_a_succeeded_task_is_no_conflict(tmp_path, started_run):
    state = setup(tmp_path)
    proc = started_run(state)
    assert wait_for(lambda: node_status(state, "r1")["other"] == "succeeded")
    (tmp_path / "again.yaml").write_text('workflow: again\ntasks:\n  again: {agent: b, run: "true", '
                                         'writes: ["b/other"]}\n')
    r = run("add", "r1", "again.yaml", "--state", state, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    (tmp_path / "go").touch()
    assert proc.wait(timeout=60) == 0
    assert node_status(state, "r1")["again"] == "succeeded"


def test_a_crash_between_the_check_and_the_commit_adds_nothing(tmp_path, started_run):
    state = setup(tmp_path)
    proc = started_run(state)
    crashed = subprocess.run([sys.executable, "-m", "lanes", "add", "r1", "more.yaml", "--state", str(state)],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60,
                             env={**os.environ, "LANES_FAULT": "add-before-commit"})
    assert crashed.returncode == 137                 # died inside the transaction, after the inserts
    assert sorted(node_status(state, "r1")) == ["other", "wait"]
    row = run_row(state, "r1")
    assert row["plan_version"] == 0 and "extra-1" not in row["plan_json"]
    assert "added" not in events(state, "r1")
    r = run("add", "r1", "more.yaml", "--state", state, cwd=tmp_path)    # the same addition, again
    assert r.returncode == 0, r.stdout + r.stderr
    (tmp_path / "go").touch()
    assert proc.wait(timeout=60) == 0
    assert set(node_status(state, "r1").values()) == {"succeeded"} and len(node_status(state, "r1")) == 6


def test_concurrent_adds_are_serialised_both_land_or_one_is_refused(tmp_path, started_run):
    state = setup(tmp_path)
    for name, path in (("x", "b/x"), ("y", "b/y"), ("z1", "a/z"), ("z2", "a/z")):
        (tmp_path / f"{name}.yaml").write_text(      # each waits with `wait`: none succeeds before the others land
            f'workflow: {name}\ntasks:\n  {name}: {{agent: {path[0]}, run: "while [ ! -e go ]; do sleep 0.02; '
            f'done", writes: ["{path}"]}}\n')
    proc = started_run(state)
    adds = [start("add", "r1", f"{n}.yaml", "--state", state, cwd=tmp_path) for n in ("x", "y", "z1", "z2")]
    results = [(p.wait(timeout=60), *p.communicate()) for p in adds]
    assert [rc for rc, *_ in results[:2]] == [0, 0]           # compatible: both land
    z = sorted(rc for rc, *_ in results[2:])
    assert z == [0, 1], results                           # z1 and z2 write a/z unordered: one is refused
    refused = next(out for rc, out, _ in results[2:] if rc == 1)
    assert "E300" in refused and "'z1'" in refused and "'z2'" in refused and "'a/z'" in refused
    nodes = set(node_status(state, "r1"))
    assert {"x", "y"} <= nodes and len(nodes & {"z1", "z2"}) == 1     # never a mix
    assert run_row(state, "r1")["plan_version"] == 3
    (tmp_path / "go").touch()
    assert proc.wait(timeout=60) == 0
    assert set(node_status(state, "r1").values()) == {"succeeded"}


def test_adding_to_a_finished_run_is_refused_and_a_closing_run_never_loses_an_addition(tmp_path):
    state = setup(tmp_path)
    (tmp_path / "go").touch()
    r = run("run", "base.yaml", "--run-id", "done", "--state", state, "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    refused = run("add", "done", "more.yaml", "--state", state, cwd=tmp_path)
    assert refused.returncode == 1 and "run done is succeeded" in refused.stderr
    store = Store(str(state))
    try:                                               # a run loop that knows version 0 may not close
        store.set_run("done", status="running")        # a run at version 1
        store.db.execute("UPDATE runs SET plan_version=1 WHERE run_id='done'")
        assert store.finish_run("done", "succeeded", 0) is False
        assert store.run("done")["status"] == "running"
        assert store.finish_run("done", "succeeded", 1) is True
    finally:
        store.close()


def test_the_agents_of_an_addition_are_the_runs(tmp_path, started_run):
    state = setup(tmp_path)
    (tmp_path / "agents.yaml").write_text(
        "workflow: agents\nagents:\n  a: {domain: {writes: [\"a/**\"]}, instances: 2}\n"
        "  b: {domain: {writes: [\"b/**\", \"c/**\"]}}\n  c: {domain: {writes: [\"c/**\"]}}\n"
        "tasks:\n  t: {agent: c, run: \"true\"}\n  u: {agent: nobody, run: \"true\"}\n")
    proc = started_run(state)
    r = run("add", "r1", "agents.yaml", "--state", state, "--format", "json", cwd=tmp_path)
    assert r.returncode == 1
    found = sorted((d["code"], d["line"]) for d in json.loads(r.stdout)["diagnostics"])
    assert found == [("E102", 4), ("E201", 5), ("E201", 7), ("E201", 8)], r.stdout
    (tmp_path / "go").touch()
    assert proc.wait(timeout=60) == 0


def test_adding_in_pull_mode_while_workers_claim(tmp_path, ended):
    state = setup(tmp_path)
    r = run("open", "base.yaml", "--run-id", "p1", "--state", state, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    workers = [start("work", "p1", "--worker", f"w{i}", "--state", state, cwd=tmp_path) for i in range(2)]
    ended.extend(workers)
    assert wait_for(lambda: node_status(state, "p1")["wait"] == "running")
    added = run("add", "p1", "more.yaml", "--state", state, cwd=tmp_path)
    assert added.returncode == 0, added.stdout + added.stderr
    assert wait_for(lambda: node_status(state, "p1")["extra-2"] == "succeeded")
    refused = run("add", "p1", "clash.yaml", "--state", state, cwd=tmp_path)
    assert refused.returncode == 1 and "E300" in refused.stdout
    (tmp_path / "go").touch()
    for w in workers:
        out, err = w.communicate(timeout=60)
        assert w.returncode == 0, out + err
    assert node_status(state, "p1") == {n: "succeeded" for n in
                                        ("after", "check", "extra-1", "extra-2", "other", "wait")}
    assert run_row(state, "p1")["status"] == "succeeded"
    assert (tmp_path / "a" / "after").read_text() == "done\nextra 1\nextra 2\n"


def test_resume_after_a_kill_runs_the_added_tasks_from_the_stored_plan(tmp_path, started_run):
    state = setup(tmp_path)
    proc = started_run(state)
    r = run("add", "r1", "more.yaml", "--state", state, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    proc.kill()
    proc.wait(timeout=30)
    (tmp_path / "go").touch()
    resumed = run("resume", "r1", "--state", state, "--no-progress", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert node_status(state, "r1") == {n: "succeeded" for n in
                                        ("after", "check", "extra-1", "extra-2", "other", "wait")}


def test_an_addition_racing_the_end_of_the_run_lands_or_is_refused_never_lost(tmp_path):
    state = setup(tmp_path)
    (tmp_path / "quick.yaml").write_text('workflow: quick\nagents:\n  a: {domain: {writes: ["a/**"]}}\n'
                                         'tasks:\n  q: {agent: a, run: "sleep 0.4", writes: ["a/q"]}\n')
    for i in range(8):
        (tmp_path / f"late{i}.yaml").write_text(f'workflow: late\ntasks:\n  late{i}: {{agent: a, run: "true", '
                                                f'writes: ["a/late{i}"]}}\n')
        proc = start("run", "quick.yaml", "--run-id", f"q{i}", "--state", state, "--no-progress", cwd=tmp_path)
        assert wait_for(lambda i=i: node_status(state, f"q{i}").get("q") == "running")
        # around the moment `q` ends and the run closes
        time.sleep(0.05 * i)
        r = run("add", f"q{i}", f"late{i}.yaml", "--state", state, cwd=tmp_path)
        assert proc.wait(timeout=60) == 0
        if r.returncode == 0:                  # it landed: the run ran it before it ended
            assert node_status(state, f"q{i}")[f"late{i}"] == "succeeded"
        else:                                  # refused: the run had ended, nothing of it is left
            assert r.returncode == 1 and "is succeeded" in r.stderr, r.stdout + r.stderr
            assert f"late{i}" not in node_status(state, f"q{i}")
        assert run_row(state, f"q{i}")["status"] == "succeeded"


def test_extend_plan_keeps_the_runs_nodes_and_points_into_the_added_file(tmp_path):
    import lanes.api as api
    from lanes.compiler.plan_extend import extend_plan

    (tmp_path / "run.yaml").write_text(
        'workflow: pool\nagents:\n  ops: {domain: {writes: ["port:*"]}, instances: 4}\n'
        'tasks:\n  db: {agent: ops, run: "true", writes: ["port:1"]}\n'
        '  svc: {for_each: {port: [8100, 8101]}, agent: ops, needs: [db], run: "true", writes: ["port:{port}"]}\n'
        'gates:\n  smoke: {needs: [svc], run: "true"}\n')
    plan = api.compile(tmp_path / "run.yaml").plan
    (tmp_path / "add.lanes").write_text(
        'workflow more\ntask verify by ops needs db { run "true"; writes "port:8101" }\n'
        'task report by ops needs smoke { run "true"; writes "port:8100" }\n')
    loaded = api.load(tmp_path / "add.lanes")
    extended, diags = extend_plan(plan, loaded.workflow, loaded.source, set(), "r")
    assert extended is None
    [d] = [d for d in diags if d.is_error]
    assert (d.code, d.span.file, d.span.line, d.witness) == ("E300", loaded.source.path, 2, "port:8101")
    assert "'svc-8101'" in d.message and "'verify'" in d.message
    assert any(r.message.endswith("(in run r)") and r.span is None for r in d.related)
    # once svc-8101 has succeeded, it conflicts with nothing new
    extended, diags = extend_plan(plan, loaded.workflow, loaded.source, {"svc-8101"}, "r")
    assert extended is not None and not [d for d in diags if d.is_error]
    for n in plan.nodes:                       # the run's nodes as they were (digests above all)
        assert extended.node_by_id[n.id].digest == n.digest
    assert [n.id for n in extended.nodes if n.id not in plan.node_by_id] == ["verify", "report"]
    assert extended.node_by_id["report"].stage == plan.node_by_id["smoke"].stage + 1
    assert extended.pools == (("svc", ("svc-8100", "svc-8101")),)


def test_a_need_on_a_template_of_the_run_means_all_its_tasks(tmp_path):
    import lanes.api as api
    from lanes.compiler.plan_extend import extend_plan

    plan = api.compile("examples/restore.yaml").plan
    (tmp_path / "add.yaml").write_text(
        'workflow: more\ntasks:\n  verify: {agent: accounts-ops, needs: [accounts], run: "true", '
        'writes: ["port:8100"]}\n  accounts: {agent: accounts-ops, run: "true", writes: ["port:8101"]}\n')
    loaded = api.load(tmp_path / "add.yaml")
    extended, diags = extend_plan(plan, loaded.workflow, loaded.source, set(), "r")
    assert extended is None and [(d.code, d.span.line) for d in diags] == [("E200", 4)]
    (tmp_path / "add.yaml").write_text(
        'workflow: more\ntasks:\n  verify: {agent: accounts-ops, needs: [accounts], run: "true", '
        'writes: ["port:8100"]}\n')
    loaded = api.load(tmp_path / "add.yaml")
    extended, diags = extend_plan(plan, loaded.workflow, loaded.source, set(), "r")
    assert extended is not None, diags
    assert extended.node_by_id["verify"].needs == ("accounts-8100", "accounts-8101", "accounts-8102")
