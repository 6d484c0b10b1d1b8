"""What worktree mode adds per task: prepare + collect + merge + remove of a task that
changes one file, on a generated repository of 10,000 files, against floors run by a
plain shell script in the same run:

  naive   the straightforward git commands: `worktree add` (a checkout of every file),
          add -A, write-tree, diff-tree, two commit-tree, two update-ref, `worktree remove`
  same    the very commands lanes runs, reuse of the finished worktree included
          (`worktree move`, a forced checkout that writes only what differs, `clean -ffdx`)

`lanes / naive` is the cost of worktree mode against doing it by hand; `lanes / same`
is what Python and the library add to git. lanes and `same` make their first worktree
before the clock starts (a run pays that once per task running at the same time; it
is reported apart). Rounds alternate the three (the machine may be shared); the best
round of each is reported.

    python bench/bench_worktree.py [--files 10000] [--tasks 10] [--naive-tasks 3] [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
import shutil
import subprocess
import tempfile
import time

from lanes.runtime.workspace import Workspaces

# One task by hand, as a shell function of (branch, task number, file to change).
NAIVE = r"""
task() {
    tip=$(git rev-parse "refs/heads/$1")
    wt="$RUN/worktrees/t$2.1"
    git worktree add -q --detach "$wt" "$tip"
    printf 'changed\n' >> "$wt/$3"
    git -C "$wt" add -A
    tree=$(git -C "$wt" write-tree)
    git -C "$wt" diff-tree -r -z --name-only --no-renames "$tip" "$tree" >/dev/null
    commit=$(git commit-tree "$tree" -p "$tip" -m "t$2")
    merge=$(git commit-tree "$tree" -p "$tip" -p "$commit" -m "merge t$2")
    git update-ref "refs/heads/$1.t$2" "$commit" "$ZERO"
    git update-ref "refs/heads/$1" "$merge" "$tip"
    git worktree remove --force --force "$wt"
}
"""

# The commands lanes runs for one task (a spare worktree reused after the first).
SAME = r"""
task() {
    tip=$(git rev-parse --verify -q "refs/heads/$1^{commit}")
    wt="$RUN/worktrees/t$2.1"
    if [ -d "$RUN/worktrees/spare-0" ]; then
        git worktree move "$RUN/worktrees/spare-0" "$wt"
        git -C "$wt" checkout -q --detach --force "$tip"
        git -C "$wt" clean -q -ffdx
    else
        git worktree add -q --detach "$wt" "$tip"
    fi
    printf '%s\n' "$tip" > "$RUN/bases/t$2.1"
    printf 'changed\n' >> "$wt/$3"
    git -C "$wt" add -A -- ':(top,exclude,literal).lanes'
    tree=$(git -C "$wt" write-tree)
    git -C "$wt" rev-parse HEAD 'HEAD^{tree}' >/dev/null
    git -C "$wt" diff-tree -r -z --name-only --no-renames "$tip" "$tree" >/dev/null
    git for-each-ref --format='%(refname) %(objectname) %(tree) %(parent)' "refs/heads/$1" "refs/heads/$1.t$2" >/dev/null
    commit=$(git commit-tree "$tree" -p "$tip" -m "t$2")
    merge=$(git commit-tree "$tree" -p "$tip" -p "$commit" -m "merge t$2")
    git update-ref -m lanes "refs/heads/$1.t$2" "$commit" "$ZERO"
    git update-ref -m lanes "refs/heads/$1" "$merge" "$tip"
    git worktree move "$wt" "$RUN/worktrees/spare-0"
    rm -f "$RUN/bases/t$2.1"
}
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def target(i: int, files: int) -> str:
    n = (i * 7919) % files
    return f"d{n % 100:02d}/e{n // 100 % 10}/f{n}.txt"


def make_repo(repo: Path, files: int) -> None:
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "bench")
    git(repo, "config", "user.email", "bench@localhost")
    for n in range(files):
        path = repo / f"d{n % 100:02d}/e{n // 100 % 10}/f{n}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file {n}\n" * 4)
    (repo / ".gitignore").write_text("/.lanes/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a repository of many files")


def shell_round(repo: Path, script: str, name: str, tasks: int, files: int, warm: bool) -> float:
    """Seconds per task of `script`'s task function, timed inside bash; with `warm`, task 0
    runs before the clock starts (it makes the worktree the timed tasks reuse)."""
    run = repo / ".lanes" / "runs" / name
    (run / "worktrees").mkdir(parents=True)
    (run / "bases").mkdir()
    git(repo, "branch", f"lanes/{name}", "main")
    first = f"task lanes/{name} 0 {target(0, files)}\n" if warm else ""
    timed = "\n".join(f"task lanes/{name} {i} {target(i, files)}" for i in range(1, tasks + 1))
    body = (f"set -e\ncd {repo}\nRUN={run}\nZERO={'0' * 40}\n{script}\n{first}"
            f"start=$(date +%s%N)\n{timed}\necho $(( $(date +%s%N) - start ))\n")
    done = subprocess.run(["bash", "-c", body], check=True, capture_output=True, text=True)
    if (run / "worktrees/spare-0").exists():
        git(repo, "worktree", "remove", "--force", "--force", str(run / "worktrees/spare-0"))
    return int(done.stdout.split()[-1]) / 1e9 / tasks


def lanes_task(ws: Workspaces, i: int, files: int) -> None:
    a = ws.prepare(f"t{i}", 1)
    with open(os.path.join(a.cwd, target(i, files)), "a") as f:
        f.write("changed\n")
    change = ws.collect(a, lambda path: True)
    assert len(change.paths) == 1 and ws.merge(a, change, f"t{i}").ok
    ws.remove(a)


def lanes_round(repo: Path, name: str, tasks: int, files: int) -> tuple[float, float]:
    """(seconds per task, seconds of the first task: the one that makes the worktree)."""
    ws = Workspaces(str(repo), str(repo / ".lanes" / "runs" / name), name)
    ws.begin()
    start = time.perf_counter()
    lanes_task(ws, 0, files)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(1, tasks + 1):
        lanes_task(ws, i, files)
    elapsed = time.perf_counter() - start
    ws.close()
    return elapsed / tasks, first


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=10_000)
    p.add_argument("--tasks", type=int, default=10, help="timed tasks per round of lanes and `same`")
    p.add_argument("--naive-tasks", type=int, default=3, help="timed tasks per round of `naive` "
                   "(each one makes and removes a whole worktree)")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-worktree-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        os.environ.update(HOME=str(home), XDG_CONFIG_HOME=str(home), GIT_CONFIG_NOSYSTEM="1")
        repo = Path(tmp) / "repo"
        make_repo(repo, args.files)
        naive = same = lanes = first = float("inf")
        for r in range(args.rounds):
            naive = min(naive, shell_round(repo, NAIVE, f"naive{r}", args.naive_tasks, args.files, False))
            same = min(same, shell_round(repo, SAME, f"same{r}", args.tasks, args.files, True))
            per_task, made = lanes_round(repo, f"lanes{r}", args.tasks, args.files)
            lanes, first = min(lanes, per_task), min(first, made)
        shutil.rmtree(repo / ".lanes", ignore_errors=True)
    print(f"{args.files} files; best of {args.rounds} rounds; per task (prepare + collect + merge"
          f" + remove, one file changed):")
    print(f"  floor: naive git commands, by shell   {naive * 1000:8.1f} ms")
    print(f"  floor: lanes' git commands, by shell  {same * 1000:8.1f} ms")
    print(f"  lanes                                 {lanes * 1000:8.1f} ms"
          f"   (its first task, which makes the worktree: {first * 1000:.0f} ms)")
    print(f"  lanes / naive floor                   {lanes / naive:8.2f}x")
    print(f"  lanes / its own commands by shell     {lanes / same:8.2f}x")


if __name__ == "__main__":
    main()
