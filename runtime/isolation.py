"""Worktree mode around each attempt (SPEC section 8): where it runs, what it may have
changed, and its merge. `Run` asks this module; lanes.runtime.workspace does the git.

A task in worktree mode runs in a fresh worktree of the integration branch as it
stands when the attempt starts (`enter`); when its command exits 0, its change is
checked path by path against its `writes` and merged (`verdict`): a path outside
is E500 (the worktree is kept, nothing merged), no change with `expect_changes`
is E501, a merge that git cannot make cleanly (which the proof rules out) is E502.
Gates of a run that has worktree tasks run in a worktree of the integration tip, so
they test the merged work; their own changes are dropped. The matcher of a task's
writes comes from the caller (the runtime reads plans, not pattern languages).
"""
from __future__ import annotations

from collections.abc import Callable
import os
from typing import TYPE_CHECKING, NamedTuple

from lanes.compiler.planfile import Plan, PlanNode
from lanes.runtime.git import WorkspaceError

if TYPE_CHECKING:                # the git machinery is imported by worktree runs only
    from lanes.runtime.workspace import Attempt

Allowed = Callable[[PlanNode], Callable[[str], bool]]
MAX_LISTED = 20


class Verdict(NamedTuple):
    ok: bool
    error: str | None = None          # "E500: ..." and the like
    changed: int | None = None        # paths the task changed
    before: str | None = None         # the integration commit it was merged onto


def worktree_run(plan: Plan) -> bool:
    return any(n.workspace == "worktree" for n in plan.nodes if not n.is_gate)


def problem(plan: Plan) -> str | None:
    """Why a run of this plan cannot start (None: it can)."""
    if not worktree_run(plan):
        return None
    from lanes.runtime.workspace import repo_problem
    why = repo_problem(plan.workdir)
    return f"workspace: worktree needs a git repository: {why}" if why else None


class Isolation:
    def __init__(self, plan: Plan, run_dir: str, run_id: str, allowed: Allowed) -> None:
        from lanes.runtime.workspace import Workspaces
        self.plan, self.allowed = plan, allowed
        self.ws = Workspaces(plan.workdir, run_dir, run_id)
        self.run_dir = run_dir
        self.live: dict[tuple[str, int], Attempt] = {}

    def isolated(self, node: PlanNode) -> bool:
        return node.is_gate or node.workspace == "worktree"

    def begin(self) -> str:
        return self.ws.begin()

    def enter(self, node: PlanNode, attempt: int) -> tuple[str, tuple[tuple[str, str], ...]] | None:
        """The working directory and the variables of an isolated attempt (None: shared)."""
        if not self.isolated(node):
            return None
        a = self.ws.prepare(node.id, attempt)
        self.live[(node.id, attempt)] = a
        return a.cwd, (("LANES_BASE", a.base), ("LANES_WORKTREE", a.root))

    def attempt_of(self, node_id: str, attempt: int) -> Attempt | None:
        """The attempt's worktree, from memory or (another process prepared it) from disk."""
        found = self.live.get((node_id, attempt))
        if found is not None:
            return found
        name = f"{node_id}.{attempt}"
        root = os.path.join(self.run_dir, "worktrees", name)
        try:
            with open(os.path.join(self.run_dir, "bases", name), encoding="utf-8") as f:
                base = f.read().strip()
        except OSError:
            return None
        from lanes.runtime.workspace import Attempt
        return Attempt(node_id, attempt, root, os.path.normpath(os.path.join(root, self.ws.prefix)), base)

    def verdict(self, node: PlanNode, attempt: int, ok: bool) -> Verdict:
        """After the command ended: a task's change enforced and merged; a gate's worktree
        dropped. A failed attempt keeps its worktree (the next attempt salvages it)."""
        if not self.isolated(node):
            return Verdict(ok)
        a = self.attempt_of(node.id, attempt)
        if a is None:
            return Verdict(ok)
        if node.is_gate:
            self._drop(a)
            return Verdict(ok)
        if not ok:
            return Verdict(False)
        try:
            change = self.ws.collect(a, self.allowed(node))
            if change.outside:
                listed = ", ".join(change.outside[:MAX_LISTED])
                more = len(change.outside) - MAX_LISTED
                domain = self._domain(node)
                return Verdict(False, f"E500: {node.id} changed {len(change.outside)} path(s) outside its domain "
                               f"({domain}): {listed}" + (f" and {more} more" if more > 0 else "")
                               + f"; its worktree is kept: {a.root}", len(change.paths))
            if node.expect_changes and not change.paths:
                return Verdict(False, f"E501: {node.id} has expect_changes but changed nothing", 0)
            message = node.id + (f": {node.description}" if node.description else "")
            merge = self.ws.merge(a, change, message)
        except WorkspaceError as exc:
            return Verdict(False, f"E502: {node.id}: {exc}")
        if not merge.ok:
            return Verdict(False, f"E502: {node.id} was not merged: {merge.message}", len(change.paths))
        self._drop(a)
        return Verdict(True, None, len(change.paths), merge.before)

    def _drop(self, a: Attempt) -> None:
        self.live.pop((a.node_id, a.attempt), None)
        try:
            self.ws.remove(a)
        except WorkspaceError:
            pass                      # a worktree left behind is removed by `lanes clean`

    def _domain(self, node: PlanNode) -> str:
        agent = self.plan.agent_by_id.get(node.agent or "")
        writes = ", ".join(node.writes) or "nothing"
        named = f"domain {agent.domain}: " if agent is not None and agent.domain else ""
        return f"{named}writes {writes}"

    def merged(self, node_id: str) -> bool:
        """Its change is in the integration branch (a crash came between merge and record)."""
        found = self.ws.merged(node_id)
        return found is not None

    def reset(self, commit: str) -> None:
        self.ws.reset(commit)

    def close(self) -> None:
        try:
            self.ws.close()
        except WorkspaceError:
            pass
