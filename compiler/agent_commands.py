"""The command line of each `prompt` task (SPEC section 9), and what stands in its way.

A prompt task runs its agent's runner: the preset's documented command line, or the
agent's `{command: TEMPLATE}`, built by runners.py. It goes into the plan's "command"
before any run exists, so it names the runtime's files through the variables the
runtime sets (`$LANES_PROMPT`, `$LANES_BRIEF`) and resumes a session only when the
runtime sets `$LANES_SESSION`. Nothing here runs anything.

Diagnostics: E103 a prompt for a shell agent (which runs `run` commands only); E102
whatever runners.py cannot turn into a command line, at the workflow field it names
(`RunnerError.field`): the agent's runner, template, model, max_turns or
max_budget_usd, or the task's pattern.
"""
from __future__ import annotations

from lanes.compiler.model import RAgent, RDomain
from lanes.compiler.runners import BRIEF_FILE, PROMPT_FILE, SESSION, AgentInvocation, RunnerError, build_command
from lanes.dsl.diagnostics import Diagnostic, diag
from lanes.dsl.span import Span

AGENT_FIELDS = ("runner", "command", "model", "max_turns", "max_budget_usd")


def _runner(agent: RAgent) -> str | dict[str, object]:
    if agent.runner == "command":
        return {"command": agent.command_template or ""}
    return agent.runner or "shell"


def _invocation(agent: RAgent, domain: RDomain | None) -> AgentInvocation:
    return AgentInvocation(
        PROMPT_FILE, BRIEF_FILE, writes=domain.write_texts if domain else (),
        reads=domain.read_texts if domain else (), model=agent.model, max_turns=agent.max_turns,
        max_budget_usd=agent.max_budget_usd, resume_session=SESSION)


def _agent_span(agent: RAgent, field: str) -> Span | None:
    """Where an agent's field was written, else its template, else its runner (a
    template that uses {model} when the agent has none is at fault where it says so)."""
    for f in (field, "command", "runner"):
        span = agent.span_of(f)
        if span is not None:
            return span
    return agent.span


def agent_problems(agent: RAgent) -> list[Diagnostic]:
    """What no task of a coding agent could run with (a limit its tool cannot keep, a bad
    template), found once per agent, with or without tasks."""
    if agent.runner in (None, "shell") or (agent.runner == "command" and agent.command_template is None):
        return []                              # nothing to build (a mapping without command: E103)
    built = build_command(_runner(agent), _invocation(agent, None))
    if isinstance(built, str) or built.field not in AGENT_FIELDS:
        return []
    return [diag("E102", f"agent '{agent.id}': {built.message}", _agent_span(agent, built.field))]


def _pattern_span(error: RunnerError, domain: RDomain, fallback: Span | None) -> Span | None:
    """The pattern an error about `writes`/`reads` quotes, else the first of that field."""
    patterns = domain.writes if error.field == "writes" else domain.reads
    for p in patterns:
        if f"'{p.text}'" in error.message:
            return p.span
    return patterns[0].span if patterns else fallback


def task_command(task: str, prompt_span: Span | None, agent: RAgent,
                 domain: RDomain) -> tuple[str | None, str | None, list[Diagnostic]]:
    """(runner, command, diagnostics) of a prompt task given to `agent`."""
    if agent.runner in (None, "shell"):
        default = "" if agent.runner else ", the default"
        return None, None, [diag(
            "E103", f"task '{task}' has a 'prompt', but agent '{agent.id}' has runner shell{default}, "
            "which runs 'run' commands only: give the agent a runner (claude, codex, gemini, aider or "
            "{command: TEMPLATE}) or the task a 'run'", prompt_span, nodes=(task,))]
    runner = agent.runner
    built = build_command(_runner(agent), _invocation(agent, domain))
    if isinstance(built, str):
        return runner, built, []
    if built.field in AGENT_FIELDS:            # agent_problems reports it, once
        return runner, None, []
    if built.field in ("writes", "reads"):
        return runner, None, [diag("E102", f"task '{task}': {built.message}",
                                   _pattern_span(built, domain, prompt_span), nodes=(task,))]
    return runner, None, [diag("E102", f"task '{task}': {built.message}", prompt_span, nodes=(task,))]
