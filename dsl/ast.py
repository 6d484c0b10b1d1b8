"""The AST shared by both forms: frozen dataclasses, tuples, a span on every node.

Spans are excluded from equality so that `fmt` round trips compare meaning, not
positions. A field the author did not write is None (or an empty tuple); defaults
are folded in later by the compiler, so the AST says exactly what the file says.
"""
from __future__ import annotations

from .frozen import dataclass, field
from .span import Span


@dataclass(frozen=True)
class Name:
    """An identifier or a reference to one (agent, domain, task, gate, skill, on_fail)."""

    value: str
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True)
class Text:
    """A string: a command, a description, a resource pattern, an env value."""

    value: str
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True)
class Number:
    """A number (a count, a factor, an amount)."""

    value: int | float
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True)
class Flag:
    """A yes-or-no value (`true` or `false`)."""

    value: bool
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True)
class Duration:
    """A duration, in seconds (`90`, `5m`, `1h30m`)."""

    seconds: float
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True)
class EnvVar:
    """One variable of an `env` mapping."""

    name: Name
    value: Text


@dataclass(frozen=True)
class Domain:
    """A named domain (`domains:`) or an inline one (id None)."""

    id: Name | None
    writes: tuple[Text, ...]
    reads: tuple[Text, ...]
    span: Span = field(compare=False, repr=False)


DomainRef = Name | Domain


@dataclass(frozen=True)
class Command:
    """A runner given as a command template: `runner: {command: "..."}`."""

    command: Text | None              # None: the mapping has no `command` (reported)
    span: Span = field(compare=False, repr=False)


RunnerRef = Name | Command            # a preset (`claude`, `shell`, ...) or a template


@dataclass(frozen=True)
class Limit:
    """`limits: {claude: 2}`: at most that many tasks of that runner at once."""

    runner: Name
    count: Number


@dataclass(frozen=True)
class Backoff:
    """`backoff`: the delays between retries, as written."""

    initial: Duration | None
    factor: Number | None
    max: Duration | None
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True)
class Defaults:
    """`defaults`: what every node gets unless it says otherwise."""

    timeout: Duration | None
    retries: Number | None
    backoff: Backoff | None
    env: tuple[EnvVar, ...]
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True)
class Agent:
    """An agent (a worker lane): its domain, skills and instances."""

    id: Name
    domain: DomainRef | None
    skills: tuple[Name, ...]
    instances: Number | None
    description: Text | None
    env: tuple[EnvVar, ...]
    span: Span = field(compare=False, repr=False)
    workspace: Name | None = None      # shared | worktree (SPEC section 8)
    runner: RunnerRef | None = None    # SPEC section 9
    model: Text | None = None
    max_turns: Number | None = None
    max_budget_usd: Number | None = None


@dataclass(frozen=True)
class Axis:
    """One key of a `for_each` and its items: `port: [8000, 8001]`."""

    key: Name
    items: tuple[Text, ...]


@dataclass(frozen=True)
class ForEach:
    """`for_each` of a task template (SPEC section 10): one task per item, or per
    combination of items when several keys are given (their product, keys in order).
    The AST keeps the template; dsl/expand.py makes the tasks."""

    axes: tuple[Axis, ...]
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True)
class Task:
    """A task: what it runs, which agent runs it, what it needs."""

    id: Name
    agent: Name | None
    requires: tuple[Name, ...] | None
    needs: tuple[Name, ...]
    run: Text | None
    domain: DomainRef | None
    estimate: Duration | None
    timeout: Duration | None
    retries: Number | None
    backoff: Backoff | None
    rollback: Text | None
    env: tuple[EnvVar, ...]
    description: Text | None
    span: Span = field(compare=False, repr=False)
    expect_changes: Flag | None = None
    prompt: Text | None = None
    for_each: ForEach | None = None


@dataclass(frozen=True)
class Gate:
    """A gate: a checkpoint after its needs (a command or an approval)."""

    id: Name
    needs: tuple[Name, ...]
    run: Text | None
    approve: Text | None
    on_fail: Name | None
    estimate: Duration | None
    timeout: Duration | None
    retries: Number | None
    description: Text | None
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True)
class Workflow:
    """A whole workflow file, as written."""

    id: Name | None
    description: Text | None
    workdir: Text | None
    defaults: Defaults | None
    domains: tuple[Domain, ...]
    agents: tuple[Agent, ...]
    tasks: tuple[Task, ...]
    gates: tuple[Gate, ...]
    span: Span = field(compare=False, repr=False)
    workspace: Name | None = None
    limits: tuple[Limit, ...] = ()
    max_budget_usd: Number | None = None
