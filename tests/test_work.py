"""`lanes work`: pull-mode workers that claim, run, heartbeat and complete until the run is
finished; several at once; a stopped worker gives its node back."""
from __future__ import annotations

from collections import Counter
import json
import signal
import sqlite3

from runtime_helpers import run, start, wait_for, workflow


def test_workers_serve_a_run_to_its_end_each_task_once(tmp_path):
    lines = ["agents:"] + [f"  a{i}: {{instances: 2}}" for i in range(3)] + ["tasks:"]
    lines += [f"  t{i}: {{agent: a{i % 3}, run: 'echo $LANES_TASK >> {tmp_path}/ran'"
              + (f", needs: [t{i - 3}]" if i >= 3 else "") + "}" for i in range(30)]
    lines += ["  flaky: {agent: a0, retries: 1, backoff: {initial: 0.05s}, run: '[ $LANES_ATTEMPT -ge 2 ]'}"]
    lines += ["gates:", "  check: {needs: [t29, flaky], run: 'true'}"]
    wf = workflow(tmp_path, "\n".join(lines) + "\n")
    assert run("open", wf, "--run-id", "w").returncode == 0
    workers = [start("work", "w", "--worker", f"w{i}") for i in range(3)]
    outs = [p.communicate(timeout=120) for p in workers]
    assert [p.returncode for p in workers] == [0, 0, 0], outs
    ran = Counter((tmp_path / "ran").read_text().split())
    assert ran == Counter({f"t{i}": 1 for i in range(30)})            # each exactly once
    data = json.loads(run("status", "w", "--format", "json").stdout)
    assert data["status"] == "succeeded" and data["tasks"]["flaky"]["attempts"] == 2
    db = sqlite3.connect(tmp_path / ".lanes" / "state.db")
    workers_seen = {w for (w,) in db.execute("SELECT DISTINCT worker FROM attempts WHERE run_id='w'")}
    db.close()
    assert workers_seen and workers_seen <= {"w0", "w1", "w2"}     # (how many took part: the machine's business)


def test_a_failed_run_ends_its_workers_with_status_1(tmp_path):
    wf = workflow(tmp_path, """
        agents: {a: {}}
        tasks:
          bad: {agent: a, run: "exit 3"}
          after: {agent: a, run: "true", needs: [bad]}
        """)
    assert run("open", wf, "--run-id", "f").returncode == 0
    r = run("work", "f")
    assert r.returncode == 1 and "run f failed" in r.stdout
    assert json.loads(run("status", "f", "--format", "json").stdout)["tasks"]["after"]["status"] == "skipped"


def test_a_stopped_worker_gives_its_node_back_and_another_finishes_it(tmp_path):
    wf = workflow(tmp_path, f"""
        agents: {{a: {{}}}}
        tasks:
          slow: {{agent: a, run: "echo $LANES_ATTEMPT >> {tmp_path}/tries; [ -e {tmp_path}/go ] || exec sleep 60"}}
        """)
    assert run("open", wf, "--run-id", "s").returncode == 0
    first = start("work", "s", "--worker", "first")
    assert wait_for(lambda: (tmp_path / "tries").read_text().strip() == "1")
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=30)
    assert first.returncode == 128 + signal.SIGTERM and "given back" in err
    assert json.loads(run("status", "s", "--format", "json").stdout)["tasks"]["slow"]["status"] == "pending"
    (tmp_path / "go").touch()
    r = run("work", "s", "--worker", "second")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "tries").read_text().split() == ["1", "2"]


def test_a_heartbeat_the_store_refuses_is_tried_again_at_the_next_beat(tmp_path, monkeypatch):
    import lanes.api as api
    from lanes.runtime.pull import open_run
    from lanes.runtime.store import Store, StoreError
    from lanes.runtime.work import Worker
    wf = workflow(tmp_path, """
        agents: {a: {}}
        tasks:
          slow: {agent: a, run: "sleep 2.5"}
        """)
    plan = api.compile(str(wf)).plan
    assert plan is not None
    store = Store(str(tmp_path / ".lanes"))
    open_run(store, plan, "hb", None)
    said: list[str] = []
    worker = Worker(store, "hb", None, "w", lease_s=3.0, say=said.append)
    real, beats = worker.puller.heartbeat, []

    def heartbeat(*args, **kwargs):
        beats.append(args)
        if len(beats) == 1:
            raise StoreError("database is locked")
        return real(*args, **kwargs)

    monkeypatch.setattr(worker.puller, "heartbeat", heartbeat)
    tally = worker.serve()
    assert tally.run_status == "succeeded" and tally.ran == 1 and tally.failed == 0, said
    assert len(beats) >= 2 and any("database is locked" in s for s in said)


def test_a_store_error_ends_lanes_work_with_a_message(tmp_path, monkeypatch, capsys):
    from lanes.cli import main
    from lanes.runtime.store import StoreError
    from lanes.runtime.work import Worker
    wf = workflow(tmp_path, """
        agents: {a: {}}
        tasks:
          t: {agent: a, run: "true"}
        """)
    monkeypatch.chdir(tmp_path)
    assert run("open", wf, "--run-id", "se", cwd=tmp_path).returncode == 0

    def serve(self):
        raise StoreError("database is locked")

    monkeypatch.setattr(Worker, "serve", serve)
    assert main(["work", "se"]) == 1
    assert "database is locked" in capsys.readouterr().err
