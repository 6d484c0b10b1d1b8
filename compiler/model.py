"""The resolved model: the AST with references followed and defaults folded in.

Built by resolve.py even when the workflow has errors (bad references dropped,
cycles cut), so that the graph and the report can still show a broken workflow.
Spans stay on every pattern so that domain diagnostics can point at them.
"""
from __future__ import annotations

from functools import cached_property

from lanes.compiler.backoff import Backoff
from lanes.compiler.graph import Positions, positions
from lanes.dsl.frozen import dataclass, field
from lanes.dsl.source import Source
from lanes.dsl.span import Span


@dataclass(frozen=True)
class Pattern:
    """A resource pattern as written, where it was written, and who declared it."""

    text: str
    span: Span | None
    owner: str          # "domain contracts", "agent scribe", "task api"


@dataclass(frozen=True)
class RDomain:
    """A domain as a task or an agent has it: its patterns, each where it was written."""

    name: str | None                  # a named domain, None for an inline one
    writes: tuple[Pattern, ...]
    reads: tuple[Pattern, ...]

    @property
    def write_texts(self) -> tuple[str, ...]:
        return tuple(p.text for p in self.writes)

    @property
    def read_texts(self) -> tuple[str, ...]:
        return tuple(p.text for p in self.reads)


EMPTY_DOMAIN = RDomain(None, (), ())


@dataclass(frozen=True)
class RAgent:
    """An agent with its domain resolved and its defaults folded in."""

    id: str
    skills: tuple[str, ...]
    instances: int
    domain: RDomain
    description: str | None
    env: tuple[tuple[str, str], ...]
    span: Span | None
    order: int                        # declaration order (ties in routing)
    workspace: str | None = None      # its own `workspace`, None: the workflow's
    workspace_span: Span | None = None
    # coding agents (SPEC section 9); None: not written
    runner: str | None = None         # a preset, "shell", or "command" for a template
    command_template: str | None = None
    model: str | None = None
    max_turns: int | None = None
    max_budget_usd: float | None = None
    spans: tuple[tuple[str, Span], ...] = ()    # where its fields of section 9 were written

    def span_of(self, field: str) -> Span | None:
        return dict(self.spans).get(field)


@dataclass(frozen=True)
class RNode:
    """A task or a gate with its needs found, its defaults folded in and its agent chosen."""

    id: str
    kind: str                         # "task" | "gate"
    needs: tuple[str, ...]            # only ids that exist, cycle-closing edges cut
    estimate_s: float
    timeout_s: float | None
    retries: int
    backoff: Backoff
    env: tuple[tuple[str, str], ...]
    description: str | None
    span: Span | None
    order: int                        # declaration order among all nodes
    # tasks
    agent: str | None = None          # None only when the reference could not be resolved
    requires: tuple[str, ...] = ()
    run: str | None = None
    domain: RDomain = EMPTY_DOMAIN    # effective: its own, else its agent's
    own_domain: bool = False
    rollback: str | None = None
    workspace: str = "shared"         # effective: its agent's, else the workflow's
    expect_changes: bool = False
    prompt: str | None = None         # instead of `run`: work for its agent's runner
    prompt_span: Span | None = None
    runner: str | None = None         # a prompt task's: its agent's preset, or "command"
    command: str | None = None        # a prompt task's exact command line (None after an error)
    # gates
    approve: str | None = None
    on_fail: str | None = None
    on_fail_span: Span | None = None  # where `on_fail` was written (None: the default, stop)

    @property
    def is_task(self) -> bool:
        return self.kind == "task"


@dataclass(frozen=True)
class Model:
    """The resolved workflow that the checks and the planner read."""

    workflow: str
    description: str | None
    workdir: str                      # absolute
    agents: tuple[RAgent, ...]
    nodes: tuple[RNode, ...]          # declaration order: tasks, then gates
    domains: tuple[RDomain, ...]      # the named ones
    workspace: str = "shared"         # the workflow's own (agents may choose theirs)
    workspace_span: Span | None = None
    limits: tuple[tuple[str, int], ...] = ()    # runner -> tasks at once, as written
    max_budget_usd: float | None = None
    pools: tuple[tuple[str, tuple[str, ...]], ...] = ()   # for_each template -> the ids of its tasks
    source: Source | None = field(default=None, compare=False, repr=False)   # the file it was read from
    # the graph of `graph`, when resolve.py has it already from its check for cycles
    needs_graph: Positions | None = field(default=None, compare=False, repr=False)

    @cached_property
    def graph(self) -> Positions:
        """The needs on the nodes' positions (their order in `nodes`), with Kahn's order;
        acyclic, as cycles were cut."""
        if self.needs_graph is not None:
            return self.needs_graph
        return positions({n.id: n.needs for n in self.nodes})

    @cached_property
    def source_digest(self) -> str:
        """The digest of the workflow file, which a plan records; made when asked (a check,
        which builds no plan, then neither hashes the file nor imports hashlib)."""
        return self.source.digest if self.source is not None else ""

    @cached_property
    def tasks(self) -> tuple[RNode, ...]:
        """The nodes that are tasks, in declaration order (the domain proof looks at them
        again and again)."""
        return tuple(n for n in self.nodes if n.is_task)

    @cached_property
    def node_by_id(self) -> dict[str, RNode]:
        return {n.id: n for n in self.nodes}

    @cached_property
    def agent_by_id(self) -> dict[str, RAgent]:
        return {a.id: a for a in self.agents}
