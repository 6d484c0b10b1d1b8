"""W403: `workspace: worktree` where the workdir is not inside a git repository.

A run in worktree mode refuses to start there (SPEC section 8); the check says so at
compile time, pointing at the `workspace` value. It looks for a `.git` entry (the
directory of a repository, or the file of a linked worktree or submodule) in the
workdir and each directory above it, and runs nothing: compile-time commands never
do. Whether the repository has a commit is left to the run, which asks git.
"""
from __future__ import annotations

import os

from lanes.compiler.model import Model
from lanes.dsl.diagnostics import WARNING, Diagnostic, Related
from lanes.dsl.span import Span


def in_git_repository(directory: str) -> bool:
    """Whether `directory` (absolute, existing or not) lies in a git working tree."""
    here = os.path.normpath(directory)
    while True:
        if os.path.lexists(os.path.join(here, ".git")):
            return True
        parent = os.path.dirname(here)
        if parent == here:
            return False
        here = parent


def check_workspaces(model: Model) -> list[Diagnostic]:
    """One W403 at the first `worktree` value written (the top level's, else the first
    agent's), the other places in its related locations."""
    places: list[tuple[str, Span | None]] = []
    if model.workspace == "worktree":
        places.append(("the workflow", model.workspace_span))
    places += [(f"agent '{a.id}'", a.workspace_span) for a in model.agents if a.workspace == "worktree"]
    if not places or in_git_repository(model.workdir):
        return []
    (who, span), *others = places
    return [Diagnostic(
        "W403", f"{who} has workspace: worktree, but the workdir '{model.workdir}' is not inside a git "
        "repository (no .git in it or above it); a run would refuse to start",
        span, tuple(Related(f"{w} also has workspace: worktree", s) for w, s in others),
        severity=WARNING)]
