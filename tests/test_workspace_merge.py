"""Merging tasks into the integration branch: concurrent merges lose nothing, a conflict
changes nothing, a crash at any step of a merge leaves a state that resumes to a
consistent branch, and a rollback moves the branch back."""
from __future__ import annotations

from dataclasses import asdict
import json
from pathlib import Path
import subprocess
import sys
import threading

import pytest
from test_workspace import RUN, git, isolate, make_repo, task, workspaces, write

from lanes.runtime.workspace import Attempt, Change, Merge, WorkspaceError, Workspaces


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


@pytest.fixture
def ws(tmp_path) -> Workspaces:
    return workspaces(make_repo(tmp_path / "repo", {"shared.txt": "one\ntwo\nthree\n", "keep.txt": "k\n"}))


def merges_of(ws: Workspaces) -> list[str]:
    """The subjects of the merges on the integration branch's first-parent line."""
    return git(ws.toplevel, "log", "--first-parent", "--merges", "--format=%s", "lanes/r1").split("\n")


def started_together(ws: Workspaces, n: int) -> list[tuple[Attempt, Change]]:
    """n attempts from the same tip, each adding its own file: every merge after the first
    is a real three-way merge."""
    attempts = [ws.prepare(f"t{i}", 1) for i in range(n)]
    out = []
    for a in attempts:
        (Path(a.cwd) / f"{a.node_id}.txt").write_text(f"{a.node_id}\n")
        out.append((a, ws.collect(a, lambda p: True)))
    return out


def test_parallel_merges_from_threads_all_land(ws):
    pending = started_together(ws, 8)
    results: dict[str, Merge] = {}
    go = threading.Barrier(len(pending))

    def merge(a: Attempt, change: Change) -> None:
        go.wait()
        results[a.node_id] = ws.merge(a, change, a.node_id)

    threads = [threading.Thread(target=merge, args=p) for p in pending]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(m.ok for m in results.values()) and len(results) == 8
    files = git(ws.toplevel, "ls-tree", "--name-only", "lanes/r1").split("\n")
    assert sorted(files) == sorted(["keep.txt", "shared.txt"] + [f"t{i}.txt" for i in range(8)])
    assert sorted(merges_of(ws)) == sorted(f"Merge branch 'lanes/r1.t{i}' into lanes/r1" for i in range(8))
    base = pending[0][0].base
    line = git(ws.toplevel, "rev-list", "--first-parent", "--reverse", "lanes/r1", "^" + base).split("\n")
    by_commit = {m.commit: m for m in results.values()}
    assert sorted(by_commit) == sorted(line)
    assert [by_commit[c].before for c in line] == [base] + line[:-1]   # each onto the one before
    assert [ws.merged(f"t{i}") for i in range(8)] == [results[f"t{i}"] for i in range(8)]


MERGE_IN_A_PROCESS = """
import json, sys
from lanes.runtime.workspace import Attempt, Change, Workspaces
job = json.loads(sys.argv[1])
ws = Workspaces(job["workdir"], job["run_dir"], job["run_id"])
a = Attempt(**job["attempt"])
c = Change(**{k: tuple(v) if isinstance(v, list) else v for k, v in job["change"].items()})
sys.stdin.read()                                  # all processes go at once
print(json.dumps(ws.merge(a, c, a.node_id).ok))
"""


def test_parallel_merges_from_processes_all_land(ws):
    procs = []
    for a, change in started_together(ws, 8):
        job = {"workdir": ws.toplevel, "run_dir": ws.run_dir, "run_id": RUN,
               "attempt": asdict(a), "change": asdict(change)}
        procs.append(subprocess.Popen([sys.executable, "-c", MERGE_IN_A_PROCESS, json.dumps(job)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    outs = [p.communicate("")[0] for p in procs]
    assert [json.loads(o) for o in outs] == [True] * 8
    assert len(merges_of(ws)) == 8
    assert len(git(ws.toplevel, "ls-tree", "--name-only", "lanes/r1").split("\n")) == 10


def test_a_conflict_changes_nothing(ws):
    first, second = ws.prepare("first", 1), ws.prepare("second", 1)
    (Path(first.cwd) / "shared.txt").write_text("one\nTWO (first)\nthree\n")
    (Path(second.cwd) / "shared.txt").write_text("one\nTWO (second)\nthree\n")
    changes = [ws.collect(a, lambda p: True) for a in (first, second)]
    assert ws.merge(first, changes[0], "first").ok
    tip = ws.tip()
    refused = ws.merge(second, changes[1], "second")
    assert not refused.ok and refused.commit is None and "shared.txt" in str(refused.message)
    assert ws.tip() == tip and ws.merged("second") is None
    assert subprocess.run(["git", "-C", ws.toplevel, "rev-parse", "-q", "--verify", "lanes/r1.second"],
                          capture_output=True, check=False).returncode == 1
    assert git(ws.toplevel, "show", "lanes/r1:shared.txt").split("\n")[1] == "TWO (first)"


def test_edits_of_one_file_in_different_places_by_tasks_in_turn_merge(ws):
    assert task(ws, "a", write("shared.txt", "ONE\ntwo\nthree\n"))[2].ok
    assert task(ws, "b", write("shared.txt", "ONE\ntwo\nTHREE\n"))[2].ok
    assert git(ws.toplevel, "show", "lanes/r1:shared.txt") == "ONE\ntwo\nTHREE"


# -- a crash at any step of a merge ---------------------------------------------------

class Crash(BaseException):
    """The runtime dies here (SIGKILL): nothing after this runs."""


STEPS = [("commit-tree", 1, "before"), ("commit-tree", 1, "after"), ("commit-tree", 2, "after"),
         ("update-ref", 1, "before"), ("update-ref", 1, "after"), ("update-ref", 2, "after")]


@pytest.mark.parametrize("command,nth,when", STEPS)
def test_a_crash_at_any_step_of_a_merge_resumes_to_one_merge(ws, monkeypatch, command, nth, when):
    a = ws.prepare("t", 1)
    (Path(a.cwd) / "t.txt").write_text("t\n")
    change = ws.collect(a, lambda p: True)
    real = Workspaces._git
    seen = []

    def dying(self, args, *rest, **kw):
        if command in args:
            seen.append(args)
        hit = command in args and len(seen) == nth
        if hit and when == "before":
            raise Crash
        result = real(self, args, *rest, **kw)
        if hit:
            raise Crash
        return result

    monkeypatch.setattr(Workspaces, "_git", dying)
    with pytest.raises(Crash):
        ws.merge(a, change, "t")
    monkeypatch.setattr(Workspaces, "_git", real)
    left = subprocess.run(["git", "-C", ws.toplevel, "rev-parse", "-q", "--verify", "lanes/r1.t"],
                          capture_output=True, text=True, check=False).stdout.strip()
    # Resume as the run loop does: a fresh process, merged work kept, the rest redone.
    resumed = Workspaces(ws.toplevel, ws.run_dir, RUN)
    resumed.begin()
    done = resumed.merged("t") or resumed.merge(a, change, "t")
    assert done.ok
    assert resumed.merge(a, change, "t") == done                  # and again: nothing merged twice
    assert merges_of(resumed) == ["Merge branch 'lanes/r1.t' into lanes/r1"]
    assert git(ws.toplevel, "show", "lanes/r1:t.txt") == "t"
    assert left in ("", git(ws.toplevel, "rev-parse", "lanes/r1.t"))  # a task commit made is reused


def test_after_a_crash_a_new_attempt_replaces_an_unmerged_task_branch(ws, monkeypatch):
    a = ws.prepare("t", 1)
    (Path(a.cwd) / "t.txt").write_text("first try\n")
    change = ws.collect(a, lambda p: True)
    real = Workspaces._update_ref

    def dying(self, ref, new, old, why):
        if ref == self._ref:
            raise Crash
        real(self, ref, new, old, why)

    monkeypatch.setattr(Workspaces, "_update_ref", dying)
    with pytest.raises(Crash):
        ws.merge(a, change, "t")
    monkeypatch.setattr(Workspaces, "_update_ref", real)
    assert ws.merged("t") is None
    _, _, merged = task(ws, "t", write("t.txt", "second try\n"), attempt=2)
    assert merged.ok and merges_of(ws) == ["Merge branch 'lanes/r1.t' into lanes/r1"]
    assert git(ws.toplevel, "show", "lanes/r1:t.txt") == "second try"
    assert (Path(ws.run_dir) / "salvage/t.1.patch").exists()


def test_a_lock_left_by_a_killed_git_does_not_block_the_run(ws):
    lock = Path(ws.toplevel) / ".git/refs/heads/lanes/r1.lock"
    lock.write_text("")
    assert task(ws, "t", write("t.txt"))[2].ok and not lock.exists()


# -- rollback ------------------------------------------------------------------------

def test_reset_moves_the_branch_back_and_unmerges(ws):
    start = ws.tip()
    task(ws, "a", write("a.txt"))
    task(ws, "b", write("b.txt"))
    ws.reset(start)
    assert ws.tip() == start and ws.merged("a") is None and ws.diff("a") == ""
    rerun = task(ws, "a", write("a.txt", "again\n"), attempt=2)[2]
    assert rerun.ok and rerun.before == start and ws.merged("a") == rerun


def test_reset_refuses_a_commit_off_the_branch(ws):
    task(ws, "a", write("a.txt"))
    git(ws.toplevel, "commit", "-q", "--allow-empty", "-m", "the user's own")
    with pytest.raises(WorkspaceError, match="only moves it back"):
        ws.reset(git(ws.toplevel, "rev-parse", "HEAD"))


def test_an_attempt_that_started_from_rolled_back_work_is_not_merged(ws):
    start = ws.tip()
    task(ws, "a", write("a.txt"))
    late = ws.prepare("late", 1)                      # it sees a.txt
    (Path(late.cwd) / "late.txt").write_text("late\n")
    change = ws.collect(late, lambda p: True)
    ws.reset(start)
    refused = ws.merge(late, change, "late")
    assert not refused.ok and "reset" in str(refused.message) and ws.tip() == start


def test_an_agent_that_moves_head_back_still_has_its_change_merged(ws):
    task(ws, "one", write("one.txt"))
    undo = ws.prepare("undo", 1)
    git(undo.cwd, "reset", "-q", "--hard", "HEAD^1")          # back to before one's merge
    change = ws.collect(undo, lambda p: True)
    assert change.paths == ("one.txt",)
    task(ws, "other", write("other.txt"))                     # the tip moves on meanwhile
    assert ws.merge(undo, change, "undo").ok
    assert sorted(git(ws.toplevel, "ls-tree", "--name-only", "lanes/r1").split("\n")) == \
        ["keep.txt", "other.txt", "shared.txt"]
