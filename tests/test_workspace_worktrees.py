"""The worktrees of a run: salvage of an attempt that did not succeed, reuse of a
finished worktree (indistinguishable from a fresh one), close and clean."""
from __future__ import annotations

import os
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
    return workspaces(make_repo(tmp_path / "repo", {"a.txt": "a\n", "b.txt": "b\n", ".gitignore": "build/\n"}))


def worktrees(ws: Workspaces) -> list[str]:
    """The run's worktrees as git lists them (relative to the run's worktrees directory)."""
    listed = git(ws.toplevel, "worktree", "list", "--porcelain").split("\n")
    prefix = os.path.join(ws.run_dir, "worktrees") + os.sep
    return sorted(line.split(" ", 1)[1][len(prefix):] for line in listed
                  if line.startswith("worktree " + prefix))


def test_a_retry_salvages_the_older_attempt_and_starts_clean(ws):
    old = ws.prepare("t", 1)
    (Path(old.cwd) / "a.txt").write_text("a, committed by the agent\n")
    git(old.cwd, "commit", "-q", "-am", "agent")
    (Path(old.cwd) / "b.txt").unlink()
    (Path(old.cwd) / "new.txt").write_text("untracked\n")
    (Path(old.cwd) / "build").mkdir()
    (Path(old.cwd) / "build/out").write_text("ignored\n")
    new = ws.prepare("t", 2)
    assert not os.path.exists(old.root) and worktrees(ws) == ["t.2"]
    assert sorted(os.listdir(new.root)) == [".git", ".gitignore", "a.txt", "b.txt"]
    assert git(new.root, "status", "--porcelain", "--ignored") == ""
    patch = Path(ws.run_dir) / "salvage/t.1.patch"
    git(new.root, "apply", "--index", str(patch))           # the whole attempt, its commit included
    assert (Path(new.cwd) / "a.txt").read_text() == "a, committed by the agent\n"
    assert not (Path(new.cwd) / "b.txt").exists() and (Path(new.cwd) / "new.txt").exists()
    assert not (Path(new.cwd) / "build").exists()


def test_an_attempt_that_changed_nothing_leaves_no_patch(ws):
    ws.prepare("t", 1)
    ws.prepare("t", 2)
    assert not (Path(ws.run_dir) / "salvage").exists()


def test_a_finished_worktree_is_reused_as_if_fresh(ws):
    first, _, merged = task(ws, "one", write("one.txt"))
    (Path(first.cwd) / "a.txt").write_text("dirty after the merge\n")
    (Path(first.cwd) / "staged.txt").write_text("staged\n")
    git(first.cwd, "add", "staged.txt")
    (Path(first.cwd) / "build").mkdir()
    (Path(first.cwd) / "build/out").write_text("ignored\n")
    git(first.cwd, "checkout", "-q", "-b", "agent-branch")     # the agent left HEAD on a branch
    inode = os.stat(first.root).st_ino
    ws.remove(first)
    assert worktrees(ws) == ["spare-0"] and not os.path.exists(first.root)
    second = ws.prepare("two", 1)
    assert os.stat(second.root).st_ino == inode and worktrees(ws) == ["two.1"]
    assert git(second.root, "rev-parse", "HEAD") == second.base == ws.tip() == merged.commit
    assert subprocess.run(["git", "-C", second.root, "symbolic-ref", "-q", "HEAD"], check=False).returncode == 1
    assert git(second.root, "status", "--porcelain", "--ignored") == ""
    assert sorted(os.listdir(second.root)) == [".git", ".gitignore", "a.txt", "b.txt", "one.txt"]
    assert (Path(second.cwd) / "a.txt").read_text() == "a\n"
    assert git(ws.toplevel, "rev-parse", "agent-branch") == first.base      # left where the agent put it


def test_a_worktree_in_the_middle_of_a_git_operation_is_not_reused(ws):
    a = ws.prepare("t", 1)
    admin = git(a.root, "rev-parse", "--absolute-git-dir")
    Path(admin, "MERGE_HEAD").write_text(a.base + "\n")
    ws.remove(a)
    assert worktrees(ws) == [] and not os.path.exists(a.root)


def test_close_removes_the_spares(ws):
    attempts = [ws.prepare(f"t{i}", 1) for i in range(3)]
    for a in attempts:
        ws.remove(a)
    assert worktrees(ws) == ["spare-0", "spare-1", "spare-2"]
    ws.close()
    assert worktrees(ws) == [] and os.listdir(os.path.join(ws.run_dir, "worktrees")) == []


def test_clean_removes_worktrees_and_task_branches_but_not_the_run(ws):
    task(ws, "one", write("one.txt"))
    kept = ws.prepare("failed", 1)                        # kept for inspection
    (Path(kept.cwd) / "x.txt").write_text("x\n")
    ws.prepare("failed", 2)                               # salvages attempt 1
    ws.remove(ws.prepare("gate", 1))
    tip = ws.tip()
    ws.clean()
    assert worktrees(ws) == []
    assert git(ws.toplevel, "for-each-ref", "--format=%(refname:short)", "refs/heads/lanes") == "lanes/r1"
    assert ws.tip() == tip and (Path(ws.run_dir) / "salvage/failed.1.patch").exists()
    assert git(ws.toplevel, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_clean_copes_with_a_worktree_deleted_behind_git_back(ws):
    a = ws.prepare("t", 1)
    subprocess.run(["rm", "-rf", a.root], check=True)
    ws.clean()
    assert worktrees(ws) == [] and "prunable" not in git(ws.toplevel, "worktree", "list", "--porcelain")


def test_a_half_made_worktree_is_replaced(ws):
    junk = Path(ws.run_dir) / "worktrees/t.1"
    junk.mkdir(parents=True)
    (junk / "leftover").write_text("from a runtime killed while it made the worktree\n")
    a = ws.prepare("t", 2)
    assert not junk.exists() and worktrees(ws) == ["t.2"]
    assert git(a.root, "status", "--porcelain") == ""


def test_a_worktree_whose_change_cannot_be_saved_is_kept(ws):
    a = ws.prepare("t", 1)
    (Path(a.cwd) / "a.txt").write_text("precious\n")
    admin = git(a.root, "rev-parse", "--absolute-git-dir")
    Path(admin, "index.lock").write_text("")              # a git of the agent still holds it
    with pytest.raises(WorkspaceError, match="in the way"):
        ws.prepare("t", 1)
    assert (Path(a.cwd) / "a.txt").read_text() == "precious\n"
    b = ws.prepare("t", 2)                                # another attempt number: no clash
    assert worktrees(ws) == ["t.1", "t.2"] and b.base == a.base
