"""The fields of a workflow, declared once: name, kind of value, description.

The builder takes its tables of allowed fields from here (an unknown one is E101 in
both forms), `lanes fmt` its canonical order, and `lanes schema workflow` the JSON
Schema of the YAML form (workflow_schema.py), descriptions included. Each group is in
the order `fmt` writes it. What a kind of value accepts is the builder's business;
workflow_schema.py says the same in JSON Schema, and the tests hold the two together.
"""
from __future__ import annotations

from .frozen import dataclass

ID_PATTERN = r"[A-Za-z_][A-Za-z0-9_-]*"
ITEM_PATTERN = r"[A-Za-z0-9_-]+"          # an item of a for_each: a fragment of the ids it makes
ENV_NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"
ON_FAIL = ("stop", "rollback", "continue")
WORKSPACES = ("shared", "worktree")
# the coding agents of SPEC section 9 (compiler/runners.py builds their command lines)
PRESETS = ("claude", "codex", "gemini", "aider")
RUNNERS = ("shell", *PRESETS)


@dataclass(frozen=True)
class Field:
    """One field. `kind` names the shape of its value (workflow_schema.py knows each):
    id, ids, text, patterns, duration, count, count1 (>= 1), factor, amount, flag,
    choice (one of `choices`), env, backoff, domain, runner, limits, for_each, needs (a task's), and the groups
    defaults, domains, agents, tasks, gates."""

    name: str
    kind: str
    description: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Group:
    """The fields of one kind of mapping, and the rules between them."""

    title: str
    fields: tuple[Field, ...]
    required: tuple[str, ...] = ()
    exactly_one: tuple[tuple[str, str], ...] = ()       # one of the two, never both
    apart: tuple[tuple[str, tuple[str, ...]], ...] = ()  # a field, and fields it excludes

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


_TIMEOUT = "how long an attempt may run before it is stopped (90, 90s, 5m, 1h30m, 250ms)"
_RETRIES = "how many times a failed attempt is retried"
_ENV = "environment variables for its commands (NAME: value)"
_ESTIMATE = "the expected duration, for the critical path and the estimates (default 60s)"

TOP = Group("the workflow", (
    Field("workflow", "id", "the workflow's id"),
    Field("description", "text", "what the workflow does"),
    Field("workdir", "text", "the directory of the work, relative to this file; path patterns and commands "
                             "are relative to it (default: the file's directory)"),
    Field("workspace", "choice", "where tasks run: shared (in the workdir itself) or worktree (each task in "
                                 "a git worktree of its own, its writes enforced, its work merged)", WORKSPACES),
    Field("limits", "limits", "RUNNER: N, at most N tasks of that coding agent runner at once, across all agents"),
    Field("max_budget_usd", "amount", "no agent task is launched once the recorded cost reaches this (USD)"),
    Field("defaults", "defaults", "values every task and gate has unless it gives its own"),
    Field("domains", "domains", "named domains: the resources an agent or task may write or only read"),
    Field("agents", "agents", "the worker lanes, each with skills and a domain"),
    Field("tasks", "tasks", "the units of work"),
    Field("gates", "gates", "checkpoints between phases: a check to pass or a question for a person"),
), required=("workflow",))

DEFAULTS = Group("defaults", (
    Field("timeout", "duration", _TIMEOUT),
    Field("retries", "count", _RETRIES),
    Field("backoff", "backoff", "the delay before a retry: initial * factor^(attempt-1), at most max"),
    Field("env", "env", _ENV),
))

BACKOFF = Group("backoff", (
    Field("initial", "duration", "the delay before the first retry"),
    Field("factor", "factor", "each further delay is this many times the one before (>= 1)"),
    Field("max", "duration", "the longest delay"),
))

DOMAIN = Group("a domain", (
    Field("writes", "patterns", "resource patterns it may write, exclusively (src/api/**, port:8000)"),
    Field("reads", "patterns", "resource patterns it may read, shared"),
))

AGENT = Group("an agent", (
    Field("domain", "domain", "a domain id, or an inline domain {writes, reads}"),
    Field("skills", "ids", "what it can do; a task's `requires` picks among the agents with those skills"),
    Field("instances", "count1", "how many of its tasks may run at once (default 1)"),
    Field("workspace", "choice", "its own workspace, instead of the workflow's", WORKSPACES),
    Field("runner", "runner", "what runs its tasks' prompts: shell (the default: `run` commands only), claude, "
                              "codex, gemini, aider, or {command: TEMPLATE}", RUNNERS),
    Field("model", "text", "the model its coding agent uses"),
    Field("max_turns", "count1", "the most turns of its coding agent per attempt"),
    Field("max_budget_usd", "amount", "the most its coding agent may spend per attempt (USD)"),
    Field("description", "text", "who it is"),
    Field("env", "env", _ENV),
))

RUNNER = Group("a runner", (
    Field("command", "text", "the shell command of a prompt task; lanes fills {prompt_file}, {brief_file}, "
                             "{writes}, {reads} and {model} (shell-quoted)"),
), required=("command",))

TASK = Group("a task", (
    Field("for_each", "for_each", "KEY: [items]: one task per item (several keys: per combination), id "
                                  "TASK-ITEM, {KEY} replaced in its commands, texts, patterns, needs and env"),
    Field("agent", "id", "the agent that runs it"),
    Field("requires", "ids", "skills: the task goes to the agent with all of them that has the least work"),
    Field("needs", "needs", "tasks and gates that must succeed before it starts (in a for_each template, "
                            "an id may hold {KEY}: restore-{port})"),
    Field("run", "text", "the shell command (bash -c, in the workdir)"),
    Field("prompt", "text", "instructions for its agent's coding agent, instead of `run`"),
    Field("domain", "domain", "a domain id or an inline domain; narrows its agent's domain"),
    Field("writes", "patterns", "its inline domain: resource patterns it may write (inside its agent's)"),
    Field("reads", "patterns", "its inline domain: resource patterns it may read"),
    Field("estimate", "duration", _ESTIMATE),
    Field("timeout", "duration", _TIMEOUT),
    Field("retries", "count", _RETRIES),
    Field("backoff", "backoff", "the delay before a retry"),
    Field("rollback", "text", "the shell command that undoes it, run when a rollback gate it precedes fails"),
    Field("expect_changes", "flag", "in worktree mode, a run that changes nothing fails"),
    Field("env", "env", _ENV),
    Field("description", "text", "what it does"),
), exactly_one=(("agent", "requires"), ("run", "prompt")), apart=(("domain", ("writes", "reads")),))

GATE = Group("a gate", (
    Field("needs", "ids", "the tasks and gates it checks (at least one)"),
    Field("run", "text", "the check: passes on exit 0"),
    Field("approve", "text", "a question for a person, instead of `run` (lanes approve / lanes reject)"),
    Field("on_fail", "choice", "what a failure does: stop (the default), rollback or continue", ON_FAIL),
    Field("estimate", "duration", _ESTIMATE),
    Field("timeout", "duration", "how long the check, or the wait for a person, may take"),
    Field("retries", "count", _RETRIES),
    Field("description", "text", "what it checks"),
), required=("needs",), exactly_one=(("run", "approve"),))
