"""Worktree mode (SPEC section 8): a git worktree per task attempt, its change
collected against the commit it started from, and its work merged into the run's
integration branch, one merge at a time.

The user's working tree, index, HEAD and branches are never touched (`land` alone
moves the user's branch, and only when git finds that safe): the integration
branch is moved with plumbing (`merge-tree --write-tree`, `commit-tree`,
`update-ref` with the old value as compare-and-swap), so it needs no checkout.

Layout (run_dir = <state>/runs/RUN_ID):
    base                        the run's base commit (HEAD when the run began)
    worktrees/NODE.ATTEMPT      an attempt's worktree, detached at the commit it started from
    worktrees/spare-K           a finished worktree kept for reuse: the next attempt moves it
                                into place, cleans it and checks its commit out over it (git
                                then writes only what differs, not the whole tree)
    bases/NODE.ATTEMPT          the commit that attempt started from (it was handed out)
    salvage/NODE.ATTEMPT.patch  what an attempt that was not merged had changed (`git apply`)
    merge.lock, worktrees.lock  flock(2): one merge at a time, one claim of a spare at a time
Branches: lanes/RUN_ID integrates the run; lanes/RUN_ID.NODE holds a task's change (git
cannot have `lanes/RUN_ID/NODE` beside `lanes/RUN_ID`: a ref is a file, not a directory).
A state directory inside the repository gets a `.gitignore` of `*`, so the user's
`git status` does not list it, and it is never part of a task's change.

API:
    repo_problem(workdir) -> str | None     why a worktree run cannot start there
    Workspaces(workdir, run_dir, run_id)
        begin() -> base commit                  tip() -> integration commit
        prepare(node, attempt) -> Attempt       collect(attempt, allowed) -> Change
        merge(attempt, change, message) -> Merge    merged(node) -> Merge | None
        remove(attempt)   close()   clean()     reset(commit)
        diff(node=None) -> str                  land(into=None) -> commit
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
import fcntl
import os
import posixpath
import re
import shutil
import threading

from .git import WorkspaceError, environment, identity, run

__all__ = ["Attempt", "Change", "Merge", "WorkspaceError", "Workspaces", "repo_problem"]

_RUN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*\Z")
_SPARE = re.compile(r"spare-\d+\Z")
# What git keeps in a worktree's admin directory while an operation is under way: such a
# worktree is not reused (a forced checkout would not end the rebase or the bisection).
_UNDER_WAY = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "BISECT_LOG",
              "rebase-merge", "rebase-apply", "sequencer")
# Tasks merged into the integration branch wrote disjoint paths: a merge path by path is
# what the proof promises, and rename detection could carry one task's edit elsewhere.
_PATHWISE = ("-c", "merge.renames=false", "-c", "merge.directoryRenames=false")


def repo_problem(workdir: str) -> str | None:
    """Why a worktree run cannot start in `workdir` (None: it can)."""
    if not os.path.isdir(workdir):
        return f"the workdir {workdir} is not a directory"
    try:
        if run(workdir, ["rev-parse", "--show-toplevel"], ok=range(256))[0] != 0:
            return f"the workdir {workdir} is not inside a git working tree (worktree mode needs a repository)"
        if run(workdir, ["rev-parse", "--verify", "-q", "HEAD^{commit}"], ok=range(256))[0] != 0:
            return f"the git repository of {workdir} has no commit yet (worktree mode starts from HEAD)"
        if run(workdir, ["check-ignore", "-q", "."], ok=range(256))[0] == 0:
            return f"the workdir {workdir} is ignored by git (no change made in it could be collected)"
    except WorkspaceError as e:
        return str(e)
    return None


@dataclass(frozen=True)
class Attempt:
    """One attempt's worktree: its command runs in `cwd`."""
    node_id: str
    attempt: int
    root: str                  # the worktree's root (LANES_WORKTREE)
    cwd: str                   # the workdir's place inside it
    base: str                  # the integration commit it started from (LANES_BASE)


@dataclass(frozen=True)
class Change:
    """What an attempt changed against its base: what `git add -A` stages (so not what
    .gitignore ignores) together with the commits the agent made itself."""
    paths: tuple[str, ...]     # every changed path, relative to the workdir ('../x' outside it)
    outside: tuple[str, ...]   # those `allowed` refused; a path outside the workdir always is
    head: str                  # the worktree's HEAD: the base, or the agent's last commit
    tree: str                  # what was collected: the tree merge commits, exactly
    head_tree: str             # HEAD's tree (equal to `tree` when nothing was left uncommitted)


@dataclass(frozen=True)
class Merge:
    """The outcome of merging a task's change (not ok: E502, and nothing was changed)."""
    ok: bool
    commit: str | None         # the integration commit that holds the task's work
    before: str | None         # the integration commit it was merged onto (= commit: nothing merged)
    message: str | None        # why it was not merged


class Workspaces:
    """The worktrees and branches of one run (see the module's docstring)."""

    def __init__(self, workdir: str, run_dir: str, run_id: str) -> None:
        if not _RUN_ID.match(run_id):
            raise WorkspaceError(f"run id {run_id!r} cannot name a git branch (use letters, digits, '_', '-')")
        self.run_id = run_id
        self.run_dir = os.path.realpath(run_dir)
        self.branch = f"lanes/{run_id}"
        self._ref = f"refs/heads/{self.branch}"
        self._env = environment()
        where = run(workdir, ["rev-parse", "--path-format=absolute", "--show-toplevel",
                              "--git-common-dir", "--show-prefix"], env=self._env)[1]
        self.toplevel, self._common, self.prefix = os.fsdecode(where).split("\n")[:3]
        self._flags = identity(self.toplevel)
        self._state = os.path.dirname(os.path.dirname(self.run_dir))
        inside = os.path.relpath(os.path.realpath(self._state), os.path.realpath(self.toplevel))
        if inside == ".":
            raise WorkspaceError("the state directory cannot be the repository's root")
        self._state_in_repo = not (inside == ".." or inside.startswith("../"))
        self._exclude = ("--", f":(top,exclude,literal){inside}") if self._state_in_repo else ()
        self._worktrees = os.path.join(self.run_dir, "worktrees")

    # -- the run ----------------------------------------------------------------------

    def begin(self) -> str:
        """Record the base commit (HEAD) and create the integration branch there; when
        the branch exists (a resume), keep it. Returns the base."""
        if self._state_in_repo and not os.path.exists(os.path.join(self._state, ".gitignore")):
            _write(os.path.join(self._state, ".gitignore"), "*\n")
        recorded = _read(os.path.join(self.run_dir, "base"))
        with self._locked("merge.lock"):
            if self._resolve(self._ref) is not None:
                if recorded is None:
                    raise WorkspaceError(f"branch {self.branch} exists but is not this run's "
                                         f"(no {os.path.join(self.run_dir, 'base')})")
                return recorded
            base = recorded or self._out(["rev-parse", "--verify", "HEAD^{commit}"])
            _write(os.path.join(self.run_dir, "base"), base)
            self._update_ref(self._ref, base, _zero(base), f"lanes: run {self.run_id} begins")
            return base

    def tip(self) -> str:
        """The integration branch's commit."""
        tip = self._resolve(self._ref)
        if tip is None:
            raise WorkspaceError(f"branch {self.branch} does not exist (the run has not begun)")
        return tip

    # -- attempts ---------------------------------------------------------------------

    def prepare(self, node_id: str, attempt: int) -> Attempt:
        """A fresh worktree, detached at the integration tip as it is now (tasks and
        gates alike). Older worktrees of the node are first salvaged and removed."""
        own = re.compile(re.escape(node_id) + r"\.\d+\Z")
        for name in sorted(self._entries()):
            if own.match(name):
                self._retire(name)
        base = self.tip()
        name = f"{node_id}.{attempt}"
        root = os.path.join(self._worktrees, name)
        self._checkout(root, base)
        cwd = os.path.normpath(os.path.join(root, self.prefix))
        os.makedirs(cwd, exist_ok=True)          # a workdir git does not track yet
        _write(os.path.join(self.run_dir, "bases", name), base)
        return Attempt(node_id, attempt, root, cwd, base)

    def collect(self, a: Attempt, allowed: Callable[[str], bool]) -> Change:
        """What the attempt changed since a.base, path by path, relative to the workdir."""
        self._git(["add", "-A", *self._exclude], cwd=a.root)
        tree = self._out(["write-tree"], cwd=a.root)
        head, head_tree = self._out(["rev-parse", "HEAD", "HEAD^{tree}"], cwd=a.root).split("\n")
        paths = tuple(self._relative(p) for p in self._changed(a.base, tree, cwd=a.root))
        outside = tuple(p for p in paths if p.startswith("../") or not allowed(p))
        return Change(paths, outside, head, tree, head_tree)

    def merge(self, a: Attempt, change: Change, message: str) -> Merge:
        """Commit the change on lanes/RUN_ID.NODE (the agent's commits kept) and merge
        that into the integration branch. A merge repeated (after a crash) finds the
        first one and merges nothing twice; a conflict changes nothing."""
        if change.outside:
            raise ValueError(f"{a.node_id}: a change with paths outside its domain is not merged")
        if change.head == a.base and change.tree == change.head_tree:
            tip = self.tip()
            return Merge(True, tip, tip, None)
        task_ref = f"{self._ref}.{a.node_id}"
        with self._locked("merge.lock"):
            tip, existing = self._tip_and(task_ref)
            task = self._task_commit(a, change, existing, message)
            if existing is not None and existing[0] == task and self._is_ancestor(task, tip):
                return self._merge_of(task, tip)
            if tip != a.base and not self._is_ancestor(a.base, tip):
                return Merge(False, None, None, f"{self.branch} was reset to before {a.base[:12]}, "
                                                "where this attempt started")
            tree = change.tree
            if tip != a.base:
                clean, tree, conflicts = self._merge_tree(tip, task, _PATHWISE)
                if not clean:
                    return Merge(False, None, None, f"merging {a.node_id} into {self.branch} conflicts"
                                 + (": " + ", ".join(conflicts[:20]) if conflicts else ""))
                # Verified: the result is the tip outside the task's paths, the task's tree on them.
                ours = {posixpath.normpath(posixpath.join(self.prefix, p)) for p in change.paths}
                stray = sorted(set(self._changed(tip, tree)) - ours)
                lost = sorted(set(self._changed(change.tree, tree)) & ours)
                if stray or lost:
                    return Merge(False, None, None, f"merging {a.node_id} would "
                                 + ("also change " + ", ".join(stray[:20]) if stray else
                                    "not carry " + ", ".join(lost[:20])))
            commit = self._out(["commit-tree", tree, "-p", tip, "-p", task, "-m",
                                f"Merge branch '{self.branch}.{a.node_id}' into {self.branch}"])
            # The task's branch first: a crash between the two leaves it unmerged, which
            # the next merge of the same change reuses and the next attempt replaces.
            self._update_ref(task_ref, task, existing[0] if existing else _zero(task),
                             f"lanes: {a.node_id} attempt {a.attempt}")
            self._update_ref(self._ref, commit, tip, f"lanes: merge {a.node_id}")
            return Merge(True, commit, tip, None)

    def merged(self, node_id: str) -> Merge | None:
        """The merge that brought the node's change into the integration branch, if it is
        there (resume: a task merged just before a crash is not run again)."""
        tip, existing = self._tip_and(f"{self._ref}.{node_id}")
        if existing is None or not self._is_ancestor(existing[0], tip):
            return None
        return self._merge_of(existing[0], tip)

    def remove(self, a: Attempt) -> None:
        """Done with an attempt's worktree (its work merged, or a gate's check run)."""
        root = os.path.join(self._worktrees, f"{a.node_id}.{a.attempt}")
        if os.path.isdir(root):
            self._park(root)
        _unlink(os.path.join(self.run_dir, "bases", f"{a.node_id}.{a.attempt}"))

    # -- the run as a whole -----------------------------------------------------------

    def reset(self, commit: str) -> None:
        """Rollback: move the integration branch back to `commit` (one of its ancestors)."""
        with self._locked("merge.lock"):
            target = self._out(["rev-parse", "--verify", "-q", commit + "^{commit}"])
            tip = self.tip()
            if target != tip:
                if not self._is_ancestor(target, tip):
                    raise WorkspaceError(f"{commit} is not on {self.branch}: a rollback only moves it back")
                self._update_ref(self._ref, target, tip, "lanes: rollback")

    def diff(self, node_id: str | None = None) -> str:
        """`git diff` of the run (base..tip), or of the merge of one task ('' if none)."""
        if node_id is None:
            base = _read(os.path.join(self.run_dir, "base"))
            if base is None:
                raise WorkspaceError(f"run {self.run_id} has no workspace (no {self.run_dir}/base)")
            old, new = base, self.tip()
        else:
            found = self.merged(node_id)
            if found is None or found.commit == found.before:
                return ""
            old, new = str(found.before), str(found.commit)
        return self._git(["diff", "--no-color", "--no-ext-diff", old, new])[1].decode(errors="replace")

    def land(self, into: str | None = None) -> str:
        """Bring the integration branch into the user's branch (default: the current one):
        a fast-forward when possible, else a merge commit. Refused, changing nothing, when
        that would conflict or overwrite uncommitted work. Returns the branch's new commit."""
        with self._locked("merge.lock"):
            tip = self.tip()
            branch = into if into is not None else self._current_branch()
            if branch == self.branch:
                raise WorkspaceError(f"cannot land {self.branch} into itself")
            self._out(["check-ref-format", "--branch", branch])
            ref = "refs/heads/" + branch
            current = self._resolve(ref)
            if current is None:
                self._update_ref(ref, tip, _zero(tip), f"lanes: land {self.branch}")
                return tip
            if self._is_ancestor(tip, current):
                return current
            target = tip
            if not self._is_ancestor(current, tip):
                clean, tree, conflicts = self._merge_tree(current, tip, ())
                if not clean:
                    raise WorkspaceError(f"not landed (nothing changed): {self.branch} conflicts with "
                                         f"{branch}" + (": " + ", ".join(conflicts[:20]) if conflicts else ""))
                target = self._out(["commit-tree", tree, "-p", current, "-p", tip, "-m",
                                    f"Merge branch '{self.branch}' into {branch}"])
            checked_out = self._checked_out(ref)
            if checked_out is None:
                self._update_ref(ref, target, current, f"lanes: land {self.branch}")
                return target
            try:   # git refuses, before it writes anything, to overwrite local changes
                self._git(["merge", "--ff-only", "-q", target], cwd=checked_out)
            except WorkspaceError as e:
                raise WorkspaceError(f"not landed (nothing changed): {e}") from None
            return target

    def close(self) -> None:
        """The run is over: remove the spare worktrees kept for reuse."""
        with self._locked("worktrees.lock"):
            for name in self._entries():
                if _SPARE.match(name):
                    self._discard(os.path.join(self._worktrees, name))

    def clean(self) -> None:
        """Remove every worktree and task branch the run left (not the integration branch)."""
        listed = self._out(["worktree", "list", "--porcelain"]).split("\n")
        ours = [line[len("worktree "):] for line in listed
                if line.startswith("worktree " + self._worktrees + os.sep)]   # its folder deleted, too
        with self._locked("worktrees.lock"):
            for path in {*ours, *(os.path.join(self._worktrees, name) for name in self._entries())}:
                self._discard(path)
        shutil.rmtree(os.path.join(self.run_dir, "bases"), ignore_errors=True)
        refs = self._out(["for-each-ref", "--format=%(refname) %(objectname)", f"{self._ref}.*"])
        if refs:
            self._git(["update-ref", "--stdin"],
                      stdin="".join(f"delete {line}\n" for line in refs.split("\n")).encode())

    # -- worktrees --------------------------------------------------------------------

    def _checkout(self, root: str, commit: str) -> None:
        if os.path.lexists(root):                # left by _retire: its change could not be saved
            raise WorkspaceError(f"{root} is in the way (an older worktree whose change could not be saved)")
        if self._claim_spare(root):
            try:
                self._git(["checkout", "-q", "--detach", "--force", commit], cwd=root)
                self._git(["clean", "-q", "-ffdx"], cwd=root)
                return
            except WorkspaceError:
                self._discard(root)
        self._git(["worktree", "add", "-q", "--detach", root, commit])

    def _claim_spare(self, root: str) -> bool:
        with self._locked("worktrees.lock"):
            for name in sorted(self._entries()):
                if _SPARE.match(name):
                    spare = os.path.join(self._worktrees, name)
                    if self._git(["worktree", "move", spare, root], ok=range(256))[0] == 0:
                        return True
                    self._discard(spare)
        return False

    def _park(self, root: str) -> None:
        """Keep a worktree as a spare, unless git is in the middle of something there."""
        if self._under_way(root):
            self._discard(root)
            return
        with self._locked("worktrees.lock"):
            taken = set(self._entries())
            k = next(k for k in range(len(taken) + 1) if f"spare-{k}" not in taken)
            spare = os.path.join(self._worktrees, f"spare-{k}")
            if self._git(["worktree", "move", root, spare], ok=range(256))[0] != 0:
                self._discard(root)

    def _retire(self, name: str) -> None:
        """Salvage what an older attempt changed, then let its worktree go. A worktree
        whose change could not be saved stays where it is (`lanes clean` removes it)."""
        root = os.path.join(self._worktrees, name)
        base_file = os.path.join(self.run_dir, "bases", name)
        base = _read(base_file)
        if base is not None and os.path.isdir(root):
            try:
                self._git(["add", "-A", *self._exclude], cwd=root)
                patch = self._git(["diff-index", "--cached", "-p", "--binary", base], cwd=root)[1]
            except WorkspaceError:
                return
            if patch:
                _write(os.path.join(self.run_dir, "salvage", name + ".patch"), patch)
        if os.path.isdir(root):
            self._park(root)
        else:
            self._discard(root)
        _unlink(base_file)

    def _discard(self, path: str) -> None:
        if self._git(["worktree", "remove", "--force", "--force", path], ok=range(256))[0] == 0:
            return
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            _unlink(path)
        self._git(["worktree", "prune"])

    def _under_way(self, root: str) -> bool:
        try:
            with open(os.path.join(root, ".git")) as f:
                admin = f.read().removeprefix("gitdir:").strip()
        except OSError:
            return True
        return any(os.path.exists(os.path.join(admin, what)) for what in _UNDER_WAY)

    def _entries(self) -> list[str]:
        try:
            return os.listdir(self._worktrees)
        except FileNotFoundError:
            return []

    # -- git --------------------------------------------------------------------------

    def _git(self, args: Sequence[str], cwd: str | None = None, ok: Sequence[int] = (0,),
             stdin: bytes | None = None) -> tuple[int, bytes]:
        return run(cwd or self.toplevel, [*self._flags, *args], ok=ok, stdin=stdin, env=self._env)

    def _out(self, args: Sequence[str], cwd: str | None = None) -> str:
        return os.fsdecode(self._git(args, cwd)[1]).rstrip("\n")

    def _resolve(self, ref: str) -> str | None:
        code, found = self._git(["rev-parse", "--verify", "-q", ref + "^{commit}"], ok=(0, 1))
        return found.decode().strip() if code == 0 else None

    def _is_ancestor(self, older: str, newer: str) -> bool:
        return self._git(["merge-base", "--is-ancestor", older, newer], ok=(0, 1))[0] == 0

    def _changed(self, old: str, new: str, cwd: str | None = None) -> list[str]:
        """Paths (from the repository's root) that differ between two trees; a rename is
        its two sides, a symlink a path."""
        raw = self._git(["diff-tree", "-r", "-z", "--name-only", "--no-renames", old, new], cwd)[1]
        return [os.fsdecode(p) for p in raw.split(b"\0") if p]

    def _relative(self, path: str) -> str:
        if path.startswith(self.prefix):
            return path[len(self.prefix):]
        return posixpath.relpath(path, self.prefix)

    def _tip_and(self, task_ref: str) -> tuple[str, tuple[str, str, str] | None]:
        """The integration tip, and the task branch's (commit, tree, parents) if it exists."""
        lines = self._out(["for-each-ref", "--format=%(refname) %(objectname) %(tree) %(parent)",
                           self._ref, task_ref]).split("\n")
        found = {line.split(" ", 1)[0]: line.split(" ", 3)[1:] for line in lines if line}
        if self._ref not in found:
            raise WorkspaceError(f"branch {self.branch} does not exist (the run has not begun)")
        task = found.get(task_ref)
        return found[self._ref][0], None if task is None else (task[0], task[1], task[2])

    def _task_commit(self, a: Attempt, change: Change, existing: tuple[str, str, str] | None,
                     message: str) -> str:
        parent = change.head
        if parent != a.base and not self._is_ancestor(a.base, parent):
            parent = a.base                      # the agent moved HEAD off its line: its tree is the change
        elif change.tree == change.head_tree:
            return change.head
        if existing is not None and existing[1:] == (change.tree, parent):
            return existing[0]                   # this very change, committed before a crash
        return self._out(["commit-tree", change.tree, "-p", parent, "-m", message])

    def _merge_tree(self, ours: str, theirs: str, config: Sequence[str]) -> tuple[bool, str, list[str]]:
        code, raw = self._git([*config, "merge-tree", "--write-tree", "--name-only", "-z",
                               "--no-messages", ours, theirs], ok=(0, 1))
        tree, *conflicted = raw.split(b"\0")
        return code == 0, tree.decode(), sorted({os.fsdecode(p) for p in conflicted if p})

    def _merge_of(self, task: str, tip: str) -> Merge:
        """The merge commit on the integration branch's first-parent line whose second
        parent is `task`."""
        base = _read(os.path.join(self.run_dir, "base"))
        walk = self._out(["rev-list", "--first-parent", "--parents", tip,
                          *(["^" + base] if base else [])])
        for line in walk.split("\n"):
            commit, *parents = line.split(" ")
            if len(parents) == 2 and parents[1] == task:
                return Merge(True, commit, parents[0], None)
        return Merge(True, tip, tip, None)

    def _update_ref(self, ref: str, new: str, old: str, why: str) -> None:
        """update-ref with `old` as compare-and-swap. Called under merge.lock, so a lock
        file git left on one of the run's refs belongs to a git that was killed: removed."""
        args = ["update-ref", "-m", why, ref, new, old]
        if self._git(args, ok=range(256))[0] == 0:
            return
        stale = os.path.join(self._common, ref + ".lock")
        if ref.startswith(self._ref) and os.path.exists(stale):
            _unlink(stale)
        self._git(args)

    def _current_branch(self) -> str:
        code, ref = self._git(["symbolic-ref", "-q", "HEAD"], ok=(0, 1))
        if code != 0:
            raise WorkspaceError("HEAD is detached: name the branch to land into (--into BRANCH)")
        return ref.decode().strip().removeprefix("refs/heads/")

    def _checked_out(self, ref: str) -> str | None:
        """The worktree in which branch `ref` is checked out, if one is."""
        path = None
        for line in self._out(["worktree", "list", "--porcelain"]).split("\n"):
            if line.startswith("worktree "):
                path = line[len("worktree "):]
            elif line == f"branch {ref}":
                return path
        return None

    @contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        """An exclusive flock on run_dir/NAME: across threads (one open file each) and processes."""
        os.makedirs(self.run_dir, exist_ok=True)
        fd = os.open(os.path.join(self.run_dir, name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _zero(like: str) -> str:
    return "0" * len(like)


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip() or None
    except FileNotFoundError:
        return None


def _write(path: str, data: str | bytes) -> None:
    """Atomically (a reader sees the old file or the new one, whole)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
