"""The public API: load a workflow, check it, compile it to a plan.

Both forms go text -> raw tree (with spans) -> AST -> resolved model -> checks ->
plan. Problems come back as diagnostics, never as exceptions.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from lanes.dsl.ast import Workflow
from lanes.dsl.diagnostics import Diagnostic, sort_diagnostics
from lanes.dsl.frozen import dataclass, field
from lanes.dsl.loader import parse_tree
from lanes.dsl.source import Source, read_source
from lanes.gcpause import paused

if TYPE_CHECKING:                                # the compiler is imported only when it runs
    from lanes.compiler.model import Model
    from lanes.compiler.planfile import Plan
    from lanes.dsl.raw import Map

PathArg = str | os.PathLike[str]


@dataclass(frozen=True)
class Loaded:
    """A parsed workflow file. `workflow` is None when it could not be read or parsed;
    `unreadable` holds the reason when the file could not be read at all (exit 2)."""

    path: str
    source: Source | None
    workflow: Workflow | None
    diagnostics: tuple[Diagnostic, ...]
    unreadable: str | None = None
    # The raw tree the workflow was built from, kept as long as the workflow: freed with
    # this, not as soon as the workflow is built, and never by a `lanes check` that ends
    # with os._exit (cmd_check.py; 15 ms at 10k tasks, 100 MB more at 100k).
    tree: Map | None = field(default=None, compare=False, repr=False)

    @property
    def has_errors(self) -> bool:
        return self.unreadable is not None or any(d.is_error for d in self.diagnostics)


@dataclass(frozen=True)
class Compilation:
    """A checked workflow: its model and diagnostics, and its plan when one was asked for."""

    loaded: Loaded
    model: Model | None
    plan: Plan | None                    # drawn even with errors
    diagnostics: tuple[Diagnostic, ...] = field(default=())

    @property
    def has_errors(self) -> bool:
        return self.loaded.unreadable is not None or any(d.is_error for d in self.diagnostics)

    @property
    def sources(self) -> dict[str, str]:
        s = self.loaded.source
        return {s.path: s.text} if s is not None else {}

    @property
    def agent_of(self) -> dict[tuple[str, str], str | None]:
        """(file, task id) -> agent: what the printer of diagnostics groups conflicts by
        (as lanes.inputs.agents_of, without importing the plan file's module)."""
        m, path = self.model, self.loaded.path
        return {} if m is None else {(path, n.id): n.agent for n in m.nodes if n.is_task}


def load(path: PathArg) -> Loaded:
    with paused():
        return _load(path)


def _load(path: PathArg) -> Loaded:
    path = os.fspath(path)
    source, problem = read_source(path)
    if source is None:                            # missing, a directory, no permission
        return Loaded(path, None, None, (), unreadable=problem)
    workflow, diags, tree = parse_tree(source)
    return Loaded(path, source, workflow, tuple(sort_diagnostics(diags)), tree=tree)


def check(path: PathArg) -> Compilation:
    """Every check; the plan is not built."""
    return _compile(load(path), with_plan=False)


def compile(path: PathArg) -> Compilation:  # noqa: A001 - the verb users expect
    """Every check and the plan. The plan is built whenever the model exists, even
    with errors, so that diagrams can show the problems; `lanes plan` refuses it then."""
    return _compile(load(path), with_plan=True)


def _compile(loaded: Loaded, *, with_plan: bool) -> Compilation:
    with paused():
        return _analyse(loaded, with_plan)


def _analyse(loaded: Loaded, with_plan: bool) -> Compilation:
    from lanes.compiler.pipeline import analyse, plan_model

    if loaded.workflow is None:
        return Compilation(loaded, None, None, loaded.diagnostics)
    model, diags = analyse(loaded.workflow, loaded.source)
    all_diags = tuple(sort_diagnostics([*loaded.diagnostics, *diags]))
    plan = plan_model(model) if with_plan and model is not None else None
    return Compilation(loaded, model, plan, all_diags)


def source_digest(text: bytes) -> str:
    import hashlib  # here: a check hashes nothing (OpenSSL takes 3 ms to load)
    return "sha256:" + hashlib.sha256(text).hexdigest()
