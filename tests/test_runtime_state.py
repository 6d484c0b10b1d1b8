"""Where run state lives and what guards it: one default state directory for every
command, run ids that cannot escape it, runs told apart across state directories,
the default of --jobs, logs per attempt, and state databases that are damaged."""
from __future__ import annotations

import json
import os
import signal
import sqlite3

import pytest
from runtime_helpers import alive, run, start, wait_for, workflow

from lanes.runtime.store import explain


def test_every_command_defaults_to_dot_lanes_in_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("LANES_STATE")
    flows = tmp_path / "flows"
    flows.mkdir()
    wf = workflow(flows, """
        agents: {a: {}}
        tasks:
          t: {agent: a, run: "echo hello"}
        """)
    here = tmp_path / "here"
    here.mkdir()
    r = run("run", wf, "--no-progress", "--run-id", "d1", cwd=here)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[:2] == ["run d1", f"state {here / '.lanes'}"]
    assert (here / ".lanes" / "state.db").exists() and not (flows / ".lanes").exists()
    assert json.loads(run("status", "--format", "json", cwd=here).stdout)["run_id"] == "d1"
    assert run("logs", "t", cwd=here).stdout == "hello\n"              # the latest run by default
    elsewhere = run("status", cwd=tmp_path)
    assert elsewhere.returncode == 1 and "no lanes state" in elsewhere.stderr
    monkeypatch.setenv("LANES_STATE", str(here / ".lanes"))
    assert json.loads(run("status", "--format", "json", cwd=tmp_path).stdout)["run_id"] == "d1"


@pytest.mark.parametrize("bad", ["../../x", "/abs/path", ".", "..", "-x", "a/b", "x" * 5000, "a b", ""])
def test_run_ids_that_are_not_ids_are_refused_and_nothing_is_written(tmp_path, bad):
    wf = workflow(tmp_path, """
        agents: {a: {}}
        tasks:
          t: {agent: a, run: "true"}
        """)
    before = sorted(p.name for p in tmp_path.iterdir())
    r = run("run", wf, f"--run-id={bad}", "--no-progress")
    assert r.returncode == 2 and "not a run id" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr) < 400                                # a 5,000-character id is not echoed whole
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert run("open", wf, f"--run-id={bad}").returncode == 2


def test_the_same_run_id_in_two_state_directories_are_two_runs(tmp_path):
    """Resuming a dead run must not end the processes of a live run that has the same id
    in another state directory: processes are found by the run's key, not its id."""
    live_dir, dead_dir = tmp_path / "live", tmp_path / "dead"
    for d in (live_dir, dead_dir):
        d.mkdir()
    body = """
        agents: {a: {}}
        tasks:
          t: {agent: a, run: "echo $$ > %s/pid; while [ ! -e %s/go ]; do sleep 0.05; done"}
        """
    live = start("run", workflow(live_dir, body % (live_dir, live_dir)), "--no-progress", "--run-id", "same",
                 "--state", live_dir / ".lanes")
    dead = start("run", workflow(dead_dir, body % (dead_dir, dead_dir)), "--no-progress", "--run-id", "same",
                 "--state", dead_dir / ".lanes")
    try:
        assert wait_for(lambda: (live_dir / "pid").read_text().strip() and (dead_dir / "pid").read_text().strip())
        dead.send_signal(signal.SIGKILL)
        dead.wait()
        live_pid, dead_pid = int((live_dir / "pid").read_text()), int((dead_dir / "pid").read_text())
        (dead_dir / "go").touch()
        r = run("resume", "same", "--state", dead_dir / ".lanes", "--no-progress")
        assert r.returncode == 0, r.stdout + r.stderr
        assert not alive(dead_pid)                          # the dead run's orphan was ended
        assert alive(live_pid)                              # the live run's task was not touched
    finally:
        (live_dir / "go").touch()
        out, err = live.communicate(timeout=30)
    assert live.returncode == 0, out + err


def test_jobs_default_to_no_limit_beyond_the_agent_lanes(tmp_path):
    """Three agents whose tasks wait for each other: they finish only if all three run at
    once, whatever the number of CPUs (the old default, one slot per CPU, held one back)."""
    n = (os.cpu_count() or 1) + 1
    lines = ["agents:"] + [f"  a{i}: {{}}" for i in range(n)] + ["tasks:"]
    barrier = (f"touch {tmp_path}/in-$LANES_TASK; i=0; while [ $(ls {tmp_path} | grep -c '^in-') -lt {n} ]; "
               "do sleep 0.05; i=$((i+1)); [ $i -gt 600 ] && exit 1; done; true")
    lines += [f"  t{i}: {{agent: a{i}, run: {json.dumps(barrier)}}}" for i in range(n)]
    r = run("run", workflow(tmp_path, "\n".join(lines) + "\n"), "--no-progress")
    assert r.returncode == 0, r.stdout + r.stderr


def test_logs_separate_attempts_and_pick_one(tmp_path):
    wf = workflow(tmp_path, """
        agents: {a: {}}
        tasks:
          t: {agent: a, retries: 2, backoff: {initial: 0.01s}, run: "echo try $LANES_ATTEMPT; [ $LANES_ATTEMPT -ge 3 ]"}
        """)
    assert run("run", wf, "--no-progress", "--run-id", "l1").returncode == 0
    out = run("logs", "t").stdout                              # the latest run
    headers = [line for line in out.splitlines() if line.startswith("==> t: attempt")]
    assert len(headers) == 3 and headers[0].endswith(", exit 1 <==") and headers[2].endswith(", exit 0, succeeded <==")
    assert [line for line in out.splitlines() if line.startswith("try")] == ["try 1", "try 2", "try 3"]
    assert run("logs", "l1", "t", "--attempt", "2").stdout == "try 2\n"
    missing = run("logs", "l1", "t", "--attempt", "9")
    assert missing.returncode == 1 and "no attempt 9" in missing.stderr


def test_a_lease_longer_than_a_year_is_a_usage_error(tmp_path):
    wf = workflow(tmp_path, """
        agents: {a: {}}
        tasks:
          t: {agent: a, run: "true"}
        """)
    assert run("open", wf, "--run-id", "p1").returncode == 0
    r = run("claim", "p1", "--lease", "99999999999999s")
    assert r.returncode == 2 and "longer than a year" in r.stderr and "Traceback" not in r.stderr


def test_a_damaged_state_database_is_named_with_what_to_do(tmp_path):
    state = tmp_path / ".lanes"
    state.mkdir()
    (state / "state.db").write_bytes(b"this is not sqlite" * 100)
    for args in (["status"], ["logs", "x"], ["resume"], ["claim", "x"], ["approve", "r", "g"]):
        r = run(*args)
        assert r.returncode in (1, 2) and "damaged" in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
        assert "internal error" not in r.stderr
    wf = workflow(tmp_path, """
        agents: {a: {}}
        tasks:
          t: {agent: a, run: "true"}
        """)
    r = run("run", wf, "--no-progress")
    assert r.returncode == 2 and "damaged" in r.stderr and "move it" in r.stderr


def test_a_run_the_database_lost_is_reported_lost_not_absent(tmp_path):
    wf = workflow(tmp_path, """
        agents: {a: {}}
        tasks:
          t: {agent: a, run: "true"}
        """)
    assert run("run", wf, "--no-progress", "--run-id", "gone").returncode == 0
    for f in ("state.db", "state.db-wal", "state.db-shm"):           # as if the WAL had been lost
        (tmp_path / ".lanes" / f).unlink(missing_ok=True)
    assert run("run", wf, "--no-progress", "--run-id", "other").returncode == 0
    r = run("status", "gone")
    assert r.returncode == 1 and "has no record of it" in r.stderr and "damaged" in r.stderr
    again = run("run", wf, "--no-progress", "--run-id", "gone")       # its directory is not reused
    assert again.returncode == 1 and "already exists" in again.stderr


def test_store_errors_name_the_cause():
    path = "/x/.lanes/state.db"
    assert "the disk is full" in explain(sqlite3.OperationalError("database or disk is full"), path)
    assert "make it writable" in explain(sqlite3.OperationalError("attempt to write a readonly database"), path)
    assert "damaged" in explain(sqlite3.DatabaseError("file is not a database"), path)
    assert "I/O error" in explain(sqlite3.OperationalError("disk I/O error"), path)


def test_a_runtime_whose_state_cannot_be_written_stops_with_the_reason(tmp_path, monkeypatch, capsys):
    """Commits start failing under a live run (a full disk): the run stops with the cause
    and the resume command, and the commands it started are ended."""
    from lanes.cli import main
    from lanes.runtime.store import Store, StoreError
    wf = workflow(tmp_path, f"""
        agents: {{a: {{}}, b: {{}}}}
        tasks:
          t: {{agent: a, run: "echo $$ > {tmp_path}/pid; exec sleep 60"}}
          u: {{agent: b, run: "while [ ! -s {tmp_path}/pid ]; do sleep 0.02; done"}}
          v: {{agent: b, run: "true", needs: [u]}}
        """)
    real = Store.apply

    def apply(self, run_id, batch):
        if (tmp_path / "pid").exists() and (tmp_path / "pid").read_text().strip():
            raise StoreError(explain(sqlite3.OperationalError("database or disk is full"), self.path))
        return real(self, run_id, batch)

    monkeypatch.setattr(Store, "apply", apply)
    assert main(["run", str(wf), "--no-progress", "--run-id", "full"]) == 1
    err = capsys.readouterr().err
    assert "the disk is full" in err and "lanes resume full" in err and "Traceback" not in err
    assert not alive(int((tmp_path / "pid").read_text()))


def test_a_failed_attempts_last_lines_are_shown_where_it_is_reported(tmp_path):
    wf = workflow(tmp_path, """
        agents: {a: {}}
        tasks:
          t: {agent: a, run: "for i in 1 2 3 4 5 6 7; do echo line $i; done; echo 'the real error' >&2; exit 3"}
        """)
    r = run("run", wf, "--no-progress")
    assert r.returncode == 1
    shown = [line for line in r.stdout.splitlines() if line.startswith("    | ")]
    assert shown == ["    | line 4", "    | line 5", "    | line 6", "    | line 7", "    | the real error"]


def test_a_run_id_is_taken_only_once_the_database_has_the_run(tmp_path, monkeypatch):
    """run.json (which makes `status` report a run the database lost) is written after the
    run's row is committed; when it cannot be, the row goes too and the id stays free."""
    from runtime_helpers import make_plan

    from lanes.runtime import store as store_module
    from lanes.runtime.store import Store, StoreError
    plan = make_plan([{"id": "t"}], workdir=str(tmp_path))
    store = Store(str(tmp_path / "state"))
    seen = []
    real_replace = os.replace

    def replace(src, dst):
        seen.append(store.has_run("r1"))           # committed before the marker appears
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module.os, "replace", replace)
    with pytest.raises(OSError):
        store.create_run("r1", "key", plan, "{}", None, "run")
    assert seen == [True]
    assert not store.has_run("r1") and not (tmp_path / "state" / "runs" / "r1" / "run.json").exists()
    monkeypatch.setattr(store_module.os, "replace", real_replace)
    store.create_run("r1", "key", plan, "{}", None, "run")         # the id is free
    assert store.has_run("r1")
    with pytest.raises(StoreError, match="already exists"):
        store.create_run("r1", "key", plan, "{}", None, "run")
