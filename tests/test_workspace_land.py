"""`lanes diff` and `lanes land` underneath: a run's or a task's change as a diff, and
the integration branch brought into the user's branch only when that is safe."""
from __future__ import annotations

from pathlib import Path
import subprocess

import pytest
from test_workspace import git, isolate, make_repo, task, workspaces, write

from lanes.runtime.workspace import WorkspaceError, Workspaces


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


@pytest.fixture
def ws(tmp_path) -> Workspaces:
    ws = workspaces(make_repo(tmp_path / "repo", {"a.txt": "a\n", "b.txt": "b\n"}))
    task(ws, "one", write("one.txt", "one\n"))
    task(ws, "two", write("a.txt", "a, by two\n"))
    return ws


def user(ws: Workspaces) -> Path:
    return Path(ws.toplevel)


def untouched(repo: Path) -> tuple[bytes, str, str, bytes]:
    return ((repo / ".git/index").read_bytes(), git(repo, "rev-parse", "HEAD"),
            git(repo, "status", "--porcelain"), (repo / "a.txt").read_bytes())


def test_diff_of_the_run_and_of_one_task(ws):
    run = ws.diff()
    assert "+++ b/one.txt" in run and "+a, by two" in run
    one = ws.diff("one")
    assert "+++ b/one.txt" in one and "a.txt" not in one
    assert "one.txt" not in ws.diff("two") and "+a, by two" in ws.diff("two")
    assert ws.diff("never-ran") == ""
    task(ws, "noop", lambda cwd: None)
    assert ws.diff("noop") == ""


def test_land_fast_forwards_the_current_branch(ws):
    landed = ws.land()
    assert landed == ws.tip() == git(user(ws), "rev-parse", "main")
    assert (user(ws) / "one.txt").read_text() == "one\n" and git(user(ws), "status", "--porcelain") == ""
    assert ws.land() == landed                                 # landed already: nothing to do


def test_land_keeps_the_users_unrelated_uncommitted_work(ws):
    (user(ws) / "b.txt").write_text("b, the user's edit\n")
    (user(ws) / "notes.txt").write_text("the user's notes\n")
    ws.land()
    assert (user(ws) / "b.txt").read_text() == "b, the user's edit\n"
    assert (user(ws) / "notes.txt").exists() and (user(ws) / "one.txt").exists()


@pytest.mark.parametrize("in_the_way", ["modified", "staged", "untracked"])
def test_land_refuses_to_overwrite_uncommitted_work(ws, in_the_way):
    repo = user(ws)
    if in_the_way == "untracked":
        (repo / "one.txt").write_text("the user's own one.txt\n")
    else:
        (repo / "a.txt").write_text("a, the user's edit\n")
        if in_the_way == "staged":
            git(repo, "add", "a.txt")
    before = untouched(repo)
    with pytest.raises(WorkspaceError, match="not landed"):
        ws.land()
    assert untouched(repo) == before


def test_land_merges_when_the_user_went_on(ws):
    repo = user(ws)
    (repo / "b.txt").write_text("b, committed by the user meanwhile\n")
    git(repo, "commit", "-q", "-am", "the user goes on")
    mine = git(repo, "rev-parse", "HEAD")
    landed = ws.land()
    assert git(repo, "rev-parse", f"{landed}^1", f"{landed}^2").split("\n") == [mine, ws.tip()]
    assert git(repo, "log", "-1", "--format=%s") == "Merge branch 'lanes/r1' into main"
    assert (repo / "b.txt").read_text() == "b, committed by the user meanwhile\n"
    assert (repo / "a.txt").read_text() == "a, by two\n" and git(repo, "status", "--porcelain") == ""


def test_land_refuses_a_conflict_and_changes_nothing(ws):
    repo = user(ws)
    (repo / "a.txt").write_text("a, the user's other idea\n")
    git(repo, "commit", "-q", "-am", "the user's a")
    before = untouched(repo)
    with pytest.raises(WorkspaceError, match="conflicts with main: a.txt"):
        ws.land()
    assert untouched(repo) == before


def test_land_into_another_branch_leaves_the_current_one(ws):
    repo = user(ws)
    git(repo, "branch", "release")
    before = untouched(repo)
    assert ws.land("release") == ws.tip() == git(repo, "rev-parse", "release")
    assert untouched(repo) == before
    assert ws.land("fresh") == git(repo, "rev-parse", "fresh")  # a new branch starts at the tip


def test_land_into_a_branch_checked_out_in_another_worktree_updates_that_worktree(ws, tmp_path):
    repo = user(ws)
    git(repo, "worktree", "add", "-q", "-b", "side", str(tmp_path / "side"))
    ws.land("side")
    assert (tmp_path / "side/one.txt").read_text() == "one\n"
    assert git(tmp_path / "side", "status", "--porcelain") == ""


def test_land_needs_a_branch(ws):
    git(user(ws), "checkout", "-q", "--detach")
    with pytest.raises(WorkspaceError, match="detached"):
        ws.land()
    with pytest.raises(WorkspaceError, match="into itself"):
        ws.land("lanes/r1")
    with pytest.raises(WorkspaceError, match="check-ref-format"):
        ws.land("no..dots")
    assert subprocess.run(["git", "-C", str(user(ws)), "symbolic-ref", "-q", "HEAD"], check=False).returncode == 1
