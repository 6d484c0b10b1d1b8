"""Worktree mode end to end through the CLI (SPEC section 8), on real git repositories:
the user's tree untouched, each attempt in a worktree of the integration tip, writes
enforced path by path (E500, E501), merges in order, gates on the merged tree,
rollback resets the branch, resume, pull mode, `diff`, `land`, `clean`."""
from __future__ import annotations

import json
from pathlib import Path
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from runtime_helpers import run, statuses


@pytest.fixture(autouse=True)
def _state_in_the_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`.lanes/` inside the repository, as the default puts it when lanes runs there."""
    monkeypatch.setenv("LANES_STATE", str(tmp_path / "repo" / ".lanes"))


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def repo(tmp_path: Path, files: dict[str, str] | None = None) -> Path:
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    git(r, "config", "user.name", "Test User")
    git(r, "config", "user.email", "test@example.com")
    for name, text in (files or {"a/f": "x\n", "b/g": "y\n", ".gitignore": "build/\n"}).items():
        (r / name).parent.mkdir(parents=True, exist_ok=True)
        (r / name).write_text(text)
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "init")
    return r


def flow(r: Path, body: str) -> Path:
    p = r / "w.yaml"
    p.write_text("workflow: wt\nworkspace: worktree\n" + textwrap.dedent(body).lstrip("\n"))
    return p


AGENTS = """
    agents:
      aa: {domain: {writes: ["a/**"]}}
      bb: {domain: {writes: ["b/**"]}}
"""


def state_of(rid: str) -> dict:
    return json.loads(run("status", rid, "--format", "json").stdout)


def test_the_users_tree_index_and_branch_are_untouched_by_a_run_of_many_tasks(tmp_path):
    r = repo(tmp_path)
    tasks = "\n".join(f"      t{i}: {{agent: {'aa' if i % 2 else 'bb'}, run: \"echo {i} > {'a' if i % 2 else 'b'}/n{i}\"}}"
                      for i in range(12))
    wf = flow(r, AGENTS + "    tasks:\n" + tasks + "\n")
    (r / "a" / "f").write_text("the user's unsaved work\n")          # dirty, tracked
    (r / "notes.txt").write_text("untracked\n")
    (r / "b" / "g").write_text("staged\n")
    git(r, "add", "b/g")
    head, status, branch = git(r, "rev-parse", "HEAD"), git(r, "status", "--porcelain"), git(r, "branch", "--show-current")
    res = run("run", wf, "--no-progress", "--run-id", "many", cwd=r)
    assert res.returncode == 0, res.stdout + res.stderr
    assert git(r, "rev-parse", "HEAD") == head and git(r, "branch", "--show-current") == branch
    assert git(r, "status", "--porcelain") == status                  # .lanes/ does not show either
    assert (r / "a" / "f").read_text() == "the user's unsaved work\n"
    assert git(r, "diff", "--cached", "--name-only").split() == ["b/g"]
    merged = git(r, "ls-tree", "-r", "--name-only", "lanes/many").split()
    assert {f"a/n{i}" for i in range(1, 12, 2)} | {f"b/n{i}" for i in range(0, 12, 2)} <= set(merged)
    assert all(t["changed_paths"] == 1 for t in state_of("many")["tasks"].values())


def test_each_attempt_starts_from_the_integration_tip_with_its_variables(tmp_path):
    r = repo(tmp_path)
    wf = flow(r, AGENTS + """
    tasks:
      first:  {agent: aa, run: "echo 1 >> a/f"}
      second: {agent: bb, needs: [first], run: 'cp a/f b/seen; echo "$LANES_BASE $LANES_WORKTREE $PWD" > b/vars'}
    gates:
      check: {needs: [second], run: "grep -q 1 b/seen && test ! -e $LANES_WORKTREE/../../../../a/f.orig"}
    """)
    res = run("run", wf, "--no-progress", "--run-id", "tip", cwd=r)
    assert res.returncode == 0, res.stdout + res.stderr
    assert git(r, "show", "lanes/tip:b/seen") == "x\n1\n"               # it saw its need's work
    base, worktree, pwd = git(r, "show", "lanes/tip:b/vars").split()
    assert pwd == worktree and worktree.startswith(str(r / ".lanes" / "runs" / "tip" / "worktrees"))
    assert git(r, "cat-file", "-t", base).strip() == "commit" and base != git(r, "rev-parse", "main").strip()


@pytest.mark.parametrize("command, outside", [
    ("echo stray > b/owned-by-b.txt", ["b/owned-by-b.txt"]),
    ("git mv a/f b/f", ["b/f"]),                                      # a rename across the edge
    ("git rm -q b/g", ["b/g"]),                                       # a deletion outside
    ("chmod +x b/g", ["b/g"]),                                        # a mode change outside
    ("ln -s ../a/f b/link", ["b/link"]),                             # a symlink is a path
    ("echo x > b/x && git add b/x && git commit -q -m mine", ["b/x"]),   # its own commit
])
def test_a_change_outside_the_domain_is_e500_and_nothing_is_merged(tmp_path, command, outside):
    r = repo(tmp_path)
    wf = flow(r, AGENTS + f"""
    tasks:
      t: {{agent: aa, run: "echo ok >> a/f; {command}"}}
    """)
    tip = git(r, "rev-parse", "main")
    res = run("run", wf, "--no-progress", "--run-id", "e5", cwd=r)
    assert res.returncode == 1
    err = state_of("e5")["tasks"]["t"]["error"]
    assert err.startswith("E500:") and all(p in err for p in outside) and "writes a/**" in err, err
    assert git(r, "rev-parse", "lanes/e5") == tip                      # nothing merged
    assert (r / ".lanes" / "runs" / "e5" / "worktrees" / "t.1").is_dir()   # kept for inspection


def test_ignored_build_outputs_are_not_a_change_and_own_commits_are_kept(tmp_path):
    r = repo(tmp_path)
    wf = flow(r, AGENTS + """
    tasks:
      t: {agent: aa, run: "mkdir -p build && echo o > build/out && echo y > a/new && git add a/new && git commit -q -m 'agent commit'"}
    """)
    res = run("run", wf, "--no-progress", "--run-id", "ign", cwd=r)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "agent commit" in git(r, "log", "--format=%s", "lanes/ign")
    assert git(r, "ls-tree", "-r", "--name-only", "lanes/ign").split().count("build/out") == 0


def test_expect_changes_and_no_change_is_e501(tmp_path):
    r = repo(tmp_path)
    wf = flow(r, AGENTS + """
    tasks:
      idle: {agent: aa, run: "true", expect_changes: true}
    """)
    assert run("run", wf, "--no-progress", "--run-id", "e51", cwd=r).returncode == 1
    assert state_of("e51")["tasks"]["idle"]["error"].startswith("E501:")


def test_a_failed_rollback_gate_resets_the_integration_branch_and_resume_reruns(tmp_path):
    r = repo(tmp_path)
    wf = flow(r, AGENTS + f"""
    tasks:
      ta: {{agent: aa, run: "echo 1 >> a/f"}}
      tb: {{agent: bb, run: "echo 2 >> b/g"}}
    gates:
      check: {{needs: [ta, tb], run: "test -e {tmp_path}/fixed", on_fail: rollback}}
    """)
    base = git(r, "rev-parse", "main")
    assert run("run", wf, "--no-progress", "--run-id", "rb", cwd=r).returncode == 1
    assert git(r, "rev-parse", "lanes/rb") == base                       # the merges undone
    assert statuses(r, "rb") == {"ta": "rolled-back", "tb": "rolled-back", "check": "failed"}
    (tmp_path / "fixed").touch()
    res = run("resume", "rb", "--no-progress", cwd=r)
    assert res.returncode == 0, res.stdout + res.stderr
    assert git(r, "show", "lanes/rb:a/f") == "x\n1\n" and git(r, "show", "lanes/rb:b/g") == "y\n2\n"


def test_diff_land_and_clean(tmp_path):
    r = repo(tmp_path)
    wf = flow(r, AGENTS + """
    tasks:
      ta: {agent: aa, run: "echo 1 >> a/f"}
      tb: {agent: bb, run: "echo 2 >> b/g"}
    """)
    assert run("run", wf, "--no-progress", "--run-id", "l1", cwd=r).returncode == 0
    whole = run("diff", "l1", cwd=r).stdout
    assert "+1" in whole and "+2" in whole
    only = run("diff", "tb", cwd=r).stdout                                  # a task of the latest run
    assert "+2" in only and "a/f" not in only
    (r / "a" / "f").write_text("dirty\n")
    refused = run("land", "l1", cwd=r)
    assert refused.returncode == 1 and "not landed" in refused.stderr
    assert (r / "a" / "f").read_text() == "dirty\n" and git(r, "log", "--oneline").count("\n") == 1
    git(r, "checkout", "-q", "--", "a/f")
    assert run("land", "l1", cwd=r).returncode == 0
    assert (r / "a" / "f").read_text() == "x\n1\n" and (r / "b" / "g").read_text() == "y\n2\n"
    assert run("clean", "l1", cwd=r).returncode == 0
    assert "lanes/l1." not in git(r, "branch", "--list", "lanes/*") and "lanes/l1" in git(r, "branch")


def test_a_worktree_run_outside_a_repository_refuses_to_start(tmp_path):
    d = tmp_path / "plain"
    d.mkdir()
    wf = flow(d, AGENTS + """
    tasks:
      t: {agent: aa, run: "true"}
    """)
    res = run("run", wf, "--no-progress", cwd=d)
    assert res.returncode == 2 and "git" in res.stderr and "Traceback" not in res.stderr
    assert not (d / ".lanes").exists() or not list((d / ".lanes").glob("runs/*"))
    assert run("open", wf, cwd=d).returncode == 2


def test_a_resume_that_cannot_set_up_its_worktrees_says_why_without_a_traceback(tmp_path):
    r = repo(tmp_path)
    wf = flow(r, AGENTS + f"""
    tasks:
      ta: {{agent: aa, run: "test -e {tmp_path}/fixed && echo 1 >> a/f"}}
    """)
    assert run("run", wf, "--no-progress", "--run-id", "rz", cwd=r).returncode == 1
    (tmp_path / "fixed").touch()
    base = r / ".lanes" / "runs" / "rz" / "base"
    kept = base.read_text()
    base.unlink()                              # the branch is there but no longer shown to be the run's
    res = run("resume", "rz", "--no-progress", cwd=r)
    assert res.returncode == 1 and "not this run's" in res.stderr and "Traceback" not in res.stderr, res.stderr
    base.write_text(kept)
    (r / ".git").rename(tmp_path / "git-away")  # no repository any more
    res = run("resume", "rz", "--no-progress", cwd=r)
    assert res.returncode == 2 and "git repository" in res.stderr and "Traceback" not in res.stderr, res.stderr
    (tmp_path / "git-away").rename(r / ".git")
    res = run("resume", "rz", "--no-progress", cwd=r)
    assert res.returncode == 0, res.stdout + res.stderr


def test_pull_mode_hands_out_the_worktree_and_complete_enforces_and_merges(tmp_path):
    r = repo(tmp_path)
    wf = flow(r, AGENTS + """
    tasks:
      ta: {agent: aa, run: "true"}
      tb: {agent: bb, run: "true"}
    """)
    assert run("open", wf, "--run-id", "p1", cwd=r).returncode == 0
    got = {}
    for agent in ("aa", "bb"):
        c = json.loads(run("claim", "p1", "--agent", agent, cwd=r).stdout)
        got[c["node"]["id"]] = c
        assert c["cwd"].startswith(str(r / ".lanes" / "runs" / "p1" / "worktrees")) and c["base"]
    Path(got["ta"]["cwd"], "a", "f").write_text("pulled\n")
    Path(got["tb"]["cwd"], "a", "stray").write_text("not mine\n")
    ok = json.loads(run("complete", "p1", "ta", "--token", got["ta"]["token"], cwd=r).stdout)
    assert ok["status"] == "succeeded"
    bad = json.loads(run("complete", "p1", "tb", "--token", got["tb"]["token"], cwd=r).stdout)
    assert bad["status"] == "failed"
    assert state_of("p1")["tasks"]["tb"]["error"].startswith("E500:")
    assert git(r, "show", "lanes/p1:a/f") == "pulled\n"


@pytest.mark.slow
def test_sigkill_at_random_moments_in_worktree_mode_resumes_to_a_consistent_branch(tmp_path):
    rnd = random.Random(13)
    for round_ in range(20):
        work = tmp_path / f"k{round_}"
        work.mkdir()
        r = repo(work)
        tasks = "\n".join(
            f"      t{i}: {{agent: {'aa' if i % 2 else 'bb'}, run: \"echo {i} >> {'a' if i % 2 else 'b'}/n{i}; "
            f"echo t{i} >> {work}/ran; sleep 0.0{i % 4}\"" + (f", needs: [t{i - 2}]" if i >= 2 else "") + "}"
            for i in range(8))
        wf = flow(r, AGENTS + "    tasks:\n" + tasks + "\n")
        rid = f"k{round_}"
        proc = subprocess.Popen([sys.executable, "-m", "lanes", "run", str(wf), "--no-progress", "--run-id", rid],
                                cwd=r, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.2, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        st = run("status", rid, "--format", "json", cwd=r)
        if st.returncode == 0:
            res = run("resume", rid, "--no-progress", cwd=r)
        else:
            res = run("run", wf, "--no-progress", "--run-id", rid, cwd=r)
        assert res.returncode == 0, (round_, res.stdout, res.stderr)
        files = git(r, "ls-tree", "-r", "--name-only", f"lanes/{rid}").split()
        for i in range(8):                                   # every task's work merged exactly once
            name = f"{'a' if i % 2 else 'b'}/n{i}"
            assert name in files and git(r, "show", f"lanes/{rid}:{name}") == f"{i}\n", (round_, name)
        assert git(r, "status", "--porcelain") == "?? w.yaml\n"


def test_a_failed_attempts_change_is_salvaged_before_the_retry(tmp_path):
    r = repo(tmp_path)
    wf = flow(r, AGENTS + """
    tasks:
      t: {agent: aa, retries: 1, backoff: {initial: 0.01s},
          run: 'echo "try $LANES_ATTEMPT" >> a/f; [ $LANES_ATTEMPT -ge 2 ]'}
    """)
    assert run("run", wf, "--no-progress", "--run-id", "sv", cwd=r).returncode == 0
    patch = r / ".lanes" / "runs" / "sv" / "salvage" / "t.1.patch"
    assert "+try 1" in patch.read_text()                       # the first attempt's work, saved
    assert git(r, "show", "lanes/sv:a/f") == "x\ntry 2\n"       # the retry started afresh


def test_the_verdict_of_a_shared_task_looks_for_no_worktree(tmp_path, monkeypatch):
    import lanes.api as api
    from lanes.enforce import allowed_by
    from lanes.runtime.isolation import Isolation
    r = repo(tmp_path)
    wf = flow(r, """
    agents:
      aa: {domain: {writes: ["a/**"]}}
      bb: {domain: {writes: ["b/**"]}, workspace: shared}
    tasks:
      ta: {agent: aa, run: "true"}
      tb: {agent: bb, run: "true"}
    """)
    comp = api.compile(str(wf))
    assert comp.plan is not None and not comp.has_errors, comp.diagnostics
    plan = comp.plan
    assert plan.node_by_id["tb"].workspace == "shared"
    iso = Isolation(plan, str(tmp_path / "run"), "v1", allowed_by)

    def attempt_of(node_id, attempt):
        raise AssertionError(f"looked for the worktree of {node_id}")

    monkeypatch.setattr(iso, "attempt_of", attempt_of)
    for ok in (True, False):
        v = iso.verdict(plan.node_by_id["tb"], 1, ok)
        assert (v.ok, v.error, v.changed, v.before) == (ok, None, None, None)
