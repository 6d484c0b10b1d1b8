"""The pre-commit hooks of .pre-commit-hooks.yaml, run by pre-commit itself (`pre-commit
try-repo`) in a temporary git repository: pre-commit installs lanes from a clone of this
repository in an environment of its own (packages from PyPI) and runs the hooks on the
files their `files` pattern selects."""
from __future__ import annotations

import os
from pathlib import Path
import re
import subprocess
import sys
import textwrap

from helpers import lanes_cli
import pytest
import yaml

pytest.importorskip("pre_commit")

ROOT = Path(__file__).resolve().parent.parent
HOOKS = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))}

GOOD = """
workflow: good
agents: {a: {domain: {writes: ["out/**"]}}}
tasks: {t: {agent: a, run: make}}
"""
BAD_REFERENCE = """
workflow: bad
agents: {a: {domain: {writes: ["out/**"]}}}
tasks: {t: {agent: a, needs: [nosuch], run: make}}
"""
BAD_GRAMMAR = """
workflow bad
agent a { writes "out/**" }
task t by nobody { run "make" }
"""
NOT_A_WORKFLOW = "on: push\njobs: {build: {runs-on: ubuntu-latest, steps: [{run: make}]}}\n"


def test_hooks_are_declared():
    assert set(HOOKS) == {"lanes-check", "lanes-fmt"}
    assert HOOKS["lanes-check"]["entry"] == "lanes check"
    assert HOOKS["lanes-fmt"]["entry"] == "lanes fmt --check"
    assert all(h["language"] == "python" for h in HOOKS.values())


@pytest.mark.parametrize(("path", "selected"), [
    ("lanes.yaml", True), ("lanes.yml", True), ("flows/release.lanes", True), ("a/b/ci.lanes.yaml", True),
    ("x.lanes.yml", True), ("workflow.lanes", True),
    (".github/workflows/ci.yml", False), ("compose.yaml", False), ("lanes.yaml.bak", False),
    ("notlanes.yaml", False), ("docs/lanes.md", False), ("x.lanes/readme.txt", False),
])
def test_which_files_the_hooks_take(path, selected):
    for hook in HOOKS.values():
        assert bool(re.search(hook["files"], path)) is selected, (hook["id"], path)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}).stdout


@pytest.fixture(scope="module")
def lanes_clone(tmp_path_factory):
    """This repository as committed, at a fixed path and revision, so that pre-commit
    builds its environment for the hooks once for the whole module."""
    base = tmp_path_factory.mktemp("pre-commit")
    clone = base / "lanes"
    subprocess.run(["git", "clone", "-q", "--no-local", str(ROOT), str(clone)], check=True, capture_output=True)
    return clone, git(clone, "rev-parse", "HEAD").strip(), base / "home"


def make_repo(tmp_path: Path, files: dict[str, str]) -> Path:
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q")
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "files")
    return repo


def try_repo(clone, repo: Path, hook: str) -> subprocess.CompletedProcess[str]:
    source, rev, home = clone
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(source), hook, "--ref", rev,
                           "--all-files", "--color", "never"], cwd=repo, capture_output=True, text=True,
                          env=env, timeout=900)


def test_lanes_check_fails_on_broken_workflows_only(lanes_clone, tmp_path):
    repo = make_repo(tmp_path, {"lanes.yaml": GOOD, "flows/bad.lanes.yaml": BAD_REFERENCE,
                                "flows/bad.lanes": BAD_GRAMMAR, ".github/workflows/ci.yml": NOT_A_WORKFLOW})
    done = try_repo(lanes_clone, repo, "lanes-check")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "lanes check" in out and "Failed" in out
    assert re.search(r"flows/bad\.lanes\.yaml:3:\d+: error\[E201\]", out), out
    assert re.search(r"flows/bad\.lanes:3:\d+: error\[E201\]", out), out
    assert "ci.yml" not in out and re.search(r"(^|\s)lanes\.yaml: ok", out), out      # taken, and clean


def test_lanes_check_passes_on_good_workflows(lanes_clone, tmp_path):
    repo = make_repo(tmp_path, {"lanes.yaml": GOOD, ".github/workflows/ci.yml": NOT_A_WORKFLOW})
    done = try_repo(lanes_clone, repo, "lanes-check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"lanes check\.+Passed", done.stdout), done.stdout


@pytest.mark.skipif("--check" not in lanes_cli("fmt", "--help").stdout, reason="lanes fmt has no --check yet")
def test_lanes_fmt_fails_on_a_file_not_in_canonical_form(lanes_clone, tmp_path):
    messy = "workflow:   good\nagents: {a: {domain: {writes: [\"out/**\"]}}}\ntasks:\n  t: {agent: a,   run: make}\n"
    (tmp_path / "messy.yaml").write_text(messy, encoding="utf-8")
    canonical = lanes_cli("fmt", tmp_path / "messy.yaml").stdout
    assert canonical and canonical != messy
    repo = make_repo(tmp_path, {"messy.lanes.yaml": messy, "ci.yml": NOT_A_WORKFLOW})
    done = try_repo(lanes_clone, repo, "lanes-fmt")
    assert done.returncode == 1, done.stdout + done.stderr
    (tmp_path / "second").mkdir()
    clean = make_repo(tmp_path / "second", {"lanes.yaml": canonical, "ci.yml": NOT_A_WORKFLOW})
    done = try_repo(lanes_clone, clean, "lanes-fmt")
    assert done.returncode == 0, done.stdout + done.stderr
