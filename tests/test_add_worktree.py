"""`lanes add` on a run in worktree mode (SPEC sections 8 and 10): added tasks run in
worktrees of their own, their writes are enforced with their own domains, and their
work is merged into the run's integration branch like the rest."""
from __future__ import annotations

import json
from pathlib import Path
import subprocess
import textwrap

import pytest
from runtime_helpers import let_go, run, start, statuses, wait_for
from test_worktree_run import git, repo


@pytest.fixture(autouse=True)
def _state_in_the_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANES_STATE", str(tmp_path / "repo" / ".lanes"))


def base(r: Path, go: Path) -> Path:
    p = r / "w.yaml"
    p.write_text(textwrap.dedent(f"""\
        workflow: wt
        workspace: worktree
        agents:
          aa: {{domain: {{writes: ["a/**"]}}}}
          bb: {{domain: {{writes: ["b/**"]}}}}
        tasks:
          wait: {{agent: aa, run: "while [ ! -e {go} ]; do sleep 0.02; done; echo waited >> a/f"}}
        """))
    return p


def addition(r: Path, name: str, body: str) -> Path:
    p = r / name
    p.write_text("workflow: more\n" + textwrap.dedent(body).lstrip("\n"))
    return p


@pytest.fixture
def started(tmp_path: Path):
    """Start `lanes run` of the base workflow; whatever the test does, the run is let go
    of and ended at teardown (a failed test leaves no process waiting)."""
    procs: list[subprocess.Popen] = []

    def begin(r: Path, wf: Path, rid: str) -> subprocess.Popen:
        proc = start("run", wf, "--run-id", rid, "--no-progress", cwd=r)
        procs.append(proc)
        assert wait_for(lambda: statuses(r, rid).get("wait") == "running"), proc.stderr
        return proc
    yield begin
    let_go(procs, tmp_path / "go")


def test_an_added_task_runs_in_its_worktree_and_is_merged(tmp_path, started):
    r, go = repo(tmp_path), tmp_path / "go"
    proc = started(r, base(r, go), "w1")
    more = addition(r, "more.yaml", """
        tasks:
          extra: {agent: bb, run: "echo extra >> b/g", writes: ["b/g"]}
        """)
    added = run("add", "w1", more, cwd=r)
    assert added.returncode == 0, added.stdout + added.stderr
    assert wait_for(lambda: statuses(r, "w1").get("extra") == "succeeded")    # while `wait` still runs
    go.touch()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert git(r, "show", "lanes/w1:b/g") == "y\nextra\n"
    assert git(r, "show", "lanes/w1:a/f") == "x\nwaited\n"
    assert (r / "b" / "g").read_text() == "y\n"                          # the user's tree untouched
    assert "+extra" in run("diff", "extra", cwd=r).stdout


def test_an_added_task_writing_outside_its_own_domain_is_e500_and_not_merged(tmp_path, started):
    r, go = repo(tmp_path), tmp_path / "go"
    proc = started(r, base(r, go), "w2")
    more = addition(r, "more.yaml", """
        tasks:
          stray: {agent: bb, run: "echo stray >> b/g; echo stray > b/other", writes: ["b/g"]}
        """)
    added = run("add", "w2", more, cwd=r)
    assert added.returncode == 0, added.stdout + added.stderr
    assert wait_for(lambda: statuses(r, "w2").get("stray") == "failed")
    go.touch()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    status = json.loads(run("status", "w2", "--format", "json", cwd=r).stdout)
    err = status["tasks"]["stray"]["error"]
    assert err.startswith("E500:") and "b/other" in err and "writes b/g" in err, err
    assert git(r, "show", "lanes/w2:b/g") == "y\n"                         # nothing of it merged
    assert git(r, "show", "lanes/w2:a/f") == "x\nwaited\n"
