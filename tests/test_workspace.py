"""Worktree mode's git machinery (runtime/workspace.py) on real repositories: what a
task's change is, where worktrees live, and that the user's repository is untouched.

The helpers here (isolated git config, a repository, one task end to end) serve the
other test_workspace_*.py files too.
"""
from __future__ import annotations

import fnmatch
import os
from pathlib import Path
import subprocess

import pytest

from lanes.runtime.workspace import Change, WorkspaceError, Workspaces, repo_problem

RUN = "r1"


def isolate(monkeypatch, tmp_path: Path) -> None:
    """The machine's and the user's git configuration must not leak into a test."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in list(os.environ):
        if name.startswith("GIT_") and name != "GIT_CONFIG_NOSYSTEM":
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


def git(cwd, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def make_repo(path: Path, files: dict[str, str], *, identity: bool = True) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    if identity:
        git(path, "config", "user.name", "Ada")
        git(path, "config", "user.email", "ada@example.org")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git(path, "add", "-A")
    git(path, "-c", "user.name=Ada", "-c", "user.email=ada@example.org", "commit", "-q", "-m", "init")
    return path


def workspaces(repo: Path, workdir: Path | None = None, run_id: str = RUN) -> Workspaces:
    ws = Workspaces(str(workdir or repo), str(repo / ".lanes" / "runs" / run_id), run_id)
    ws.begin()
    return ws


def domain(*globs: str):
    return lambda path: any(fnmatch.fnmatch(path, g) for g in globs)


def task(ws: Workspaces, node: str, edit, *, attempt: int = 1, allowed=lambda p: True):
    """One attempt end to end: prepare, edit (a function of the attempt's cwd), collect, merge."""
    a = ws.prepare(node, attempt)
    edit(Path(a.cwd))
    change = ws.collect(a, allowed)
    merged = ws.merge(a, change, f"{node}: the task") if not change.outside else None
    return a, change, merged


def write(name: str, text: str = "new\n"):
    def edit(cwd: Path) -> None:
        (cwd / name).parent.mkdir(parents=True, exist_ok=True)
        (cwd / name).write_text(text)
    return edit


def changed(ws: Workspaces, edit, allowed=lambda p: True) -> Change:
    a = ws.prepare("t", 1)
    edit(Path(a.cwd))
    return ws.collect(a, allowed)


# -- starting ------------------------------------------------------------------------

def test_repo_problem_names_what_is_missing(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    assert "not inside a git working tree" in repo_problem(str(plain))
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    assert "no commit yet" in repo_problem(str(empty))
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n", ".gitignore": "build/\n"})
    (repo / "build").mkdir()
    assert "ignored by git" in repo_problem(str(repo / "build"))
    assert "not a directory" in repo_problem(str(repo / "missing"))
    assert repo_problem(str(repo)) is None


def test_run_id_must_name_a_branch(tmp_path):
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    with pytest.raises(WorkspaceError, match="cannot name a git branch"):
        Workspaces(str(repo), str(repo / ".lanes/runs/x.y"), "x.y")


def test_begin_records_base_and_resume_keeps_the_branch(tmp_path):
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    head = git(repo, "rev-parse", "HEAD")
    ws = workspaces(repo)
    assert ws.tip() == head and git(repo, "rev-parse", "lanes/r1") == head
    task(ws, "one", write("one.txt"))
    tip = ws.tip()
    git(repo, "commit", "-q", "--allow-empty", "-m", "the user goes on")
    again = Workspaces(str(repo), str(repo / ".lanes/runs/r1"), RUN)
    assert again.begin() == head and again.tip() == tip


def test_a_branch_of_the_same_name_not_made_by_the_run_is_refused(tmp_path):
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    git(repo, "branch", "lanes/r1")
    with pytest.raises(WorkspaceError, match="not this run's"):
        workspaces(repo)


# -- the user's repository is never touched -------------------------------------------

def snapshot(repo: Path) -> dict[str, object]:
    git_dir = repo / ".git"
    files = {str(p.relative_to(repo)): p.read_bytes()
             for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts and ".lanes" not in p.parts}
    heads = sorted(p.name for p in (git_dir / "refs/heads").iterdir() if p.name != "lanes")
    return {"index": (git_dir / "index").read_bytes(), "HEAD": (git_dir / "HEAD").read_text(),
            "main": (git_dir / "refs/heads/main").read_text(), "files": files, "heads": heads}


def test_user_tree_index_and_head_are_byte_identical_after_many_tasks(tmp_path):
    repo = make_repo(tmp_path / "repo", {"src/a.py": "a = 1\n", "src/b.py": "b = 1\n", "README": "r\n"})
    (repo / "src/a.py").write_text("a = 2  # the user's edit, not committed\n")
    (repo / "notes.txt").write_text("the user's untracked file\n")
    (repo / "src/b.py").write_text("b = 2  # staged\n")
    git(repo, "add", "src/b.py")
    status = git(repo, "status", "--porcelain")
    before = snapshot(repo)
    ws = workspaces(repo)
    for i in range(6):
        _, change, merged = task(ws, f"t{i}", write(f"src/t{i}.py", f"t = {i}\n"))
        assert change.paths == (f"src/t{i}.py",) and merged.ok
    ws.remove(ws.prepare("gate", 1))
    assert snapshot(repo) == before
    assert git(repo, "status", "--porcelain") == status      # .lanes/ (in the repository) is not listed
    assert git(repo, "show", "lanes/r1:src/a.py") == "a = 1"   # uncommitted work is not part of the run
    assert sorted(git(repo, "ls-tree", "--name-only", "lanes/r1", "src/").split()) == \
        ["src/a.py", "src/b.py"] + [f"src/t{i}.py" for i in range(6)]


def test_worktrees_live_under_the_run_directory(tmp_path):
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    ws = workspaces(repo)
    a = ws.prepare("api", 3)
    assert a.root == str(repo / ".lanes/runs/r1/worktrees/api.3") and a.cwd == a.root
    assert git(a.root, "rev-parse", "HEAD") == a.base == ws.tip()
    assert subprocess.run(["git", "-C", a.root, "symbolic-ref", "-q", "HEAD"], check=False).returncode == 1  # detached
    assert (repo / ".lanes/.gitignore").read_text() == "*\n"


# -- what a change is -----------------------------------------------------------------

@pytest.fixture
def ws(tmp_path) -> Workspaces:
    repo = make_repo(tmp_path / "repo", {
        "src/api/a.py": "a\n", "src/api/old.py": "old\n", "src/api/run.sh": "echo\n",
        "src/ui/u.js": "u\n", "docs/d.md": "d\n", ".gitignore": "build/\n*.pyc\n"})
    return workspaces(repo)


def test_added_modified_deleted_and_mode_change(ws):
    def edit(cwd: Path) -> None:
        (cwd / "src/api/new.py").write_text("new\n")
        (cwd / "src/api/a.py").write_text("a2\n")
        (cwd / "src/api/old.py").unlink()
        (cwd / "src/api/run.sh").chmod(0o755)
    change = changed(ws, edit, domain("src/api/*"))
    assert change.paths == ("src/api/a.py", "src/api/new.py", "src/api/old.py", "src/api/run.sh")
    assert change.outside == ()


def test_rename_across_the_domain_edge_reports_both_sides(ws):
    def edit(cwd: Path) -> None:
        (cwd / "src/api/old.py").rename(cwd / "src/ui/old.py")
    change = changed(ws, edit, domain("src/api/*"))
    assert change.paths == ("src/api/old.py", "src/ui/old.py")
    assert change.outside == ("src/ui/old.py",)


def test_a_deletion_outside_the_domain_is_outside(ws):
    change = changed(ws, lambda cwd: (cwd / "docs/d.md").unlink(), domain("src/api/*"))
    assert change.paths == change.outside == ("docs/d.md",)


def test_a_symlink_is_a_path_and_is_not_followed(ws, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere/secret.txt").write_text("s\n")
    change = changed(ws, lambda cwd: (cwd / "src/api/link").symlink_to(tmp_path / "elsewhere"),
                     domain("src/api/*"))
    assert change.paths == ("src/api/link",) and change.outside == ()


def test_ignored_build_output_is_not_part_of_the_change(ws):
    def edit(cwd: Path) -> None:
        (cwd / "build").mkdir()
        (cwd / "build/out.o").write_text("binary\n")
        (cwd / "src/api/a.pyc").write_text("cache\n")
        (cwd / "src/api/a.py").write_text("a2\n")
    assert changed(ws, edit).paths == ("src/api/a.py",)


def test_a_task_that_commits_itself_counts_its_commits(ws):
    def edit(cwd: Path) -> None:
        (cwd / "src/api/a.py").write_text("committed\n")
        git(cwd, "commit", "-q", "-am", "agent: first")
        (cwd / "docs/d.md").write_text("committed too\n")
        git(cwd, "commit", "-q", "-am", "agent: second")
        (cwd / "src/api/new.py").write_text("left uncommitted\n")
    _, change, merged = task(ws, "api", edit, allowed=domain("src/api/*", "docs/*"))
    assert change.paths == ("docs/d.md", "src/api/a.py", "src/api/new.py")
    assert merged.ok
    log = git(ws.toplevel, "log", "--format=%s", "lanes/r1.api")
    assert log.split("\n")[:3] == ["api: the task", "agent: second", "agent: first"]
    assert git(ws.toplevel, "log", "--format=%s", "lanes/r1").split("\n")[0] == \
        "Merge branch 'lanes/r1.api' into lanes/r1"
    assert git(ws.toplevel, "show", "lanes/r1:src/api/new.py") == "left uncommitted"


def test_a_task_whose_commits_hold_everything_gets_no_extra_commit(ws):
    def edit(cwd: Path) -> None:
        (cwd / "src/api/a.py").write_text("committed\n")
        git(cwd, "commit", "-q", "-am", "agent: all of it")
    merged = task(ws, "api", edit)[2]
    assert merged.ok and git(ws.toplevel, "log", "-1", "--format=%s", "lanes/r1.api") == "agent: all of it"


def test_nothing_changed_merges_nothing(ws):
    tip = ws.tip()
    _, change, merged = task(ws, "noop", lambda cwd: None)
    assert change.paths == () and merged.ok and merged.commit == merged.before == tip == ws.tip()


def test_the_state_directory_is_never_a_changed_path(ws):
    def edit(cwd: Path) -> None:
        (cwd / ".lanes/runs").mkdir(parents=True)
        (cwd / ".lanes/runs/x").write_text("state-like\n")
        (cwd / "src/api/a.py").write_text("a2\n")
    assert changed(ws, edit).paths == ("src/api/a.py",)


def test_a_workdir_below_the_root_sees_paths_relative_to_it(tmp_path):
    repo = make_repo(tmp_path / "repo", {"app/src/a.py": "a\n", "lib/l.py": "l\n", "top.txt": "t\n"})
    ws = Workspaces(str(repo / "app"), str(repo / "app/.lanes/runs/r1"), RUN)
    ws.begin()
    a = ws.prepare("t", 1)
    assert a.cwd == os.path.join(a.root, "app")
    (Path(a.cwd) / "src/a.py").write_text("a2\n")
    (Path(a.cwd) / "../lib/l.py").write_text("l2\n")
    (Path(a.root) / "top.txt").unlink()
    change = ws.collect(a, lambda p: True)                    # allows everything it is asked about
    assert change.paths == ("src/a.py", "../lib/l.py", "../top.txt")
    assert change.outside == ("../lib/l.py", "../top.txt")
    assert (repo / "app/.lanes/.gitignore").exists() and git(repo, "status", "--porcelain") == ""


def test_outside_paths_are_never_merged(ws):
    a = ws.prepare("t", 1)
    (Path(a.cwd) / "docs/d.md").write_text("no\n")
    change = ws.collect(a, domain("src/api/*"))
    with pytest.raises(ValueError, match="outside its domain"):
        ws.merge(a, change, "t")


def test_what_is_merged_is_what_was_collected(ws):
    a = ws.prepare("t", 1)
    (Path(a.cwd) / "src/api/a.py").write_text("checked\n")
    change = ws.collect(a, domain("src/api/*"))
    (Path(a.cwd) / "docs/d.md").write_text("written after the check\n")   # a straggler process
    assert ws.merge(a, change, "t").ok
    assert git(ws.toplevel, "show", "lanes/r1:docs/d.md") == "d"
    assert git(ws.toplevel, "show", "lanes/r1:src/api/a.py") == "checked"


def test_commits_name_lanes_only_when_the_repository_names_nobody(tmp_path):
    anonymous = make_repo(tmp_path / "anon", {"a.txt": "a\n"}, identity=False)
    ws = workspaces(anonymous)
    task(ws, "t", write("b.txt"))
    assert git(anonymous, "log", "-1", "--format=%an <%ae>|%cn", "lanes/r1") == "lanes <lanes@localhost>|lanes"
    named = make_repo(tmp_path / "named", {"a.txt": "a\n"})
    ws = workspaces(named)
    task(ws, "t", write("b.txt"))
    assert git(named, "log", "-1", "--format=%an <%ae>", "lanes/r1") == "Ada <ada@example.org>"
