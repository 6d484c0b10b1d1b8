"""A run's plan with the tasks and gates of another file added (`lanes add`, SPEC section 10).

The run's nodes are written back as a workflow (each with what the plan resolved for
it: its agent, its writes and reads, timeout, retries, backoff, env), the added file's
tasks and gates are put after them, and the whole goes through the one way of the
compiler (for_each, references, cycles, routing, workspaces, gates, the domain proof).
So an addition passes exactly the checks of section 4, against every node of the run.

A node that has succeeded never runs again in this run, so an overlap with it is no
conflict (E300/E301 between a succeeded node and another are dropped); every other
node (running, ready, pending, waiting, and what failed, was skipped, cancelled or
rolled back, which `lanes resume` reruns) counts.

A need on one of the run's `for_each` templates (the plan's `pools`) means every
task it made, as it does in the run's own file.

The added file's agents and domains: it may declare no agents (its tasks use the run's)
or agents exactly as the run has them (same skills, instances, writes and reads); an
agent the run does not have, or has otherwise, is refused (E201, E102). Its named
domains narrow its tasks as usual (E302 if not inside the agent's). Its `defaults`
apply to its own tasks and gates; `workdir`, `workspace`, `limits` and `max_budget_usd`
are the run's (giving another value is E102).
"""
from __future__ import annotations

from collections.abc import Collection, Iterable
import os

from lanes.compiler.pipeline import analyse, plan_model
from lanes.compiler.planfile import Plan, PlanAgent, PlanNode
from lanes.dsl import ast
from lanes.dsl.diagnostics import Diagnostic, Related, diag
from lanes.dsl.frozen import replace
from lanes.dsl.source import Source
from lanes.dsl.span import Span

_CONFLICTS = ("E300", "E301")


def extend_plan(plan: Plan, added: ast.Workflow, source: Source, succeeded: Collection[str],
                run_id: str) -> tuple[Plan | None, list[Diagnostic]]:
    """The run's plan with `added`'s nodes, or None and why not (errors); warnings ride along."""
    at = Span(f"run {run_id}", 1, 1, 1, 1)
    diags = _top_level(plan, added, source)
    diags += _agents(plan, added)
    pools = dict(plan.pools)
    named: list[ast.Name] = [n.id for n in added.tasks] + [g.id for g in added.gates]
    diags += [diag("E200", f"id '{n.value}' is a for_each template of the run (a need on it means its "
                   "tasks)", n.span) for n in named if n.value in pools]
    if not added.tasks and not added.gates:
        diags.append(diag("E103", f"{source.path} has no tasks and no gates to add", added.span))
    own = _needs_on_pools(_with_defaults(added), plan)
    whole = ast.Workflow(
        ast.Name(plan.workflow, at), None, ast.Text(plan.workdir, at), _run_defaults(plan, at),
        tuple(added.domains), tuple(_agent_ast(a, plan, at) for a in plan.agents),
        tuple(_task_ast(n, at) for n in plan.nodes if not n.is_gate) + own.tasks,
        tuple(_gate_ast(n, at) for n in plan.nodes if n.is_gate) + own.gates, at,
        workspace=ast.Name(plan.workspace, at),
        limits=tuple(ast.Limit(ast.Name(r, at), ast.Number(k, at)) for r, k in plan.limits),
        max_budget_usd=None if plan.max_budget_usd is None else ast.Number(plan.max_budget_usd, at))
    old = set(plan.node_by_id)
    model, found = analyse(whole, source, checked_before=old)     # the run's commands passed E104
    new_ids = {n.id for n in model.nodes} - old
    spans = {n.id: n.span for n in model.nodes if n.id in new_ids and n.span is not None}
    for d in found:
        if d.code in _CONFLICTS and any(n in succeeded for n in d.nodes):
            continue
        if d.span is not None and d.span.file == at.file and not d.is_error:
            continue                           # a warning about the run as it was
        diags.append(_pointed_at_addition(d, at, spans))
    if any(d.is_error for d in diags):
        return None, diags
    extended = plan_model(model)
    # the run's nodes stay as they were (their digests above all: resume must not take one
    # for changed); only `critical` may move. Their stages cannot: nothing of theirs was added.
    nodes = tuple(replace(plan.node_by_id[n.id], critical=n.critical) if n.id in old else n
                  for n in extended.nodes)
    return replace(extended, nodes=nodes, agents=plan.agents, source_digest=plan.source_digest,
                   description=plan.description, pools=plan.pools + extended.pools), diags


def _pointed_at_addition(d: Diagnostic, at: Span, spans: dict[str, Span]) -> Diagnostic:
    """A diagnostic the proof placed at a node of the run is placed at the added node it
    names, so that file:line:col points into the added file; a note about a node of the
    run says so instead of giving a place (the run has no file to point into)."""
    related = tuple(Related(f"{r.message} (in run {at.file[4:]})", None) if r.span is not None and
                    r.span.file == at.file else r for r in d.related)
    if d.span is not None and d.span.file == at.file:
        span = next((spans[n] for n in d.nodes if n in spans), None)
        if span is not None:
            return replace(d, span=span, related=related)
    return replace(d, related=related) if related != d.related else d


def _top_level(plan: Plan, added: ast.Workflow, source: Source) -> list[Diagnostic]:
    out = []
    if added.workdir is not None:
        workdir = os.path.normpath(os.path.join(source.directory, added.workdir.value))
        if workdir != plan.workdir:
            out.append(diag("E102", f"workdir '{workdir}' is not the run's ({plan.workdir})", added.workdir.span))
    if added.workspace is not None and added.workspace.value != plan.workspace:
        out.append(diag("E102", f"workspace '{added.workspace.value}' is not the run's ({plan.workspace})",
                        added.workspace.span))
    if added.limits and tuple((x.runner.value, int(x.count.value)) for x in added.limits) != plan.limits:
        out.append(diag("E102", "limits are the run's: leave them out of an addition", added.limits[0].runner.span))
    if added.max_budget_usd is not None and float(added.max_budget_usd.value) != plan.max_budget_usd:
        out.append(diag("E102", "max_budget_usd is the run's: leave it out of an addition",
                        added.max_budget_usd.span))
    return out


def _agents(plan: Plan, added: ast.Workflow) -> list[Diagnostic]:
    """Each agent the file declares must be one of the run's, as the run has it."""
    named = {d.id.value: d for d in added.domains if d.id is not None}
    out = []
    for a in added.agents:
        have = plan.agent_by_id.get(a.id.value)
        if have is None:
            out.append(diag("E201", f"agent '{a.id.value}' is not an agent of the run (its agents: "
                            + ", ".join(x.id for x in plan.agents) + "); an addition uses the run's agents",
                            a.id.span))
            continue
        dom = named.get(a.domain.value) if isinstance(a.domain, ast.Name) else a.domain
        writes = tuple(t.value for t in dom.writes) if dom is not None else ()
        reads = tuple(t.value for t in dom.reads) if dom is not None else ()
        differs = [what for what, mine, theirs in (
            ("skills", sorted(s.value for s in a.skills), sorted(have.skills)),
            ("instances", int(a.instances.value) if a.instances else 1, have.instances),
            ("writes", sorted(writes), sorted(have.writes)), ("reads", sorted(reads), sorted(have.reads)))
            if mine != theirs]
        if differs:
            out.append(diag("E102", f"agent '{a.id.value}' differs from the run's in its " + ", ".join(differs)
                            + ": declare it as the run has it, or leave the agents out", a.id.span))
    return out


def _with_defaults(wf: ast.Workflow) -> ast.Workflow:
    """The file's tasks and gates with its `defaults` folded in (the whole has the run's)."""
    d = wf.defaults
    if d is None:
        return wf

    def backoff(b: ast.Backoff | None) -> ast.Backoff | None:
        base = d.backoff
        if base is None:
            return b
        if b is None:
            return base
        return ast.Backoff(b.initial or base.initial, b.factor or base.factor, b.max or base.max, b.span)

    def env(own: tuple[ast.EnvVar, ...]) -> tuple[ast.EnvVar, ...]:
        names = {e.name.value for e in own}
        return tuple(e for e in d.env if e.name.value not in names) + own

    tasks = tuple(replace(t, timeout=t.timeout or d.timeout, retries=t.retries or d.retries,
                          backoff=backoff(t.backoff), env=env(t.env)) for t in wf.tasks)
    gates = tuple(replace(g, timeout=g.timeout or d.timeout, retries=g.retries or d.retries) for g in wf.gates)
    return replace(wf, tasks=tasks, gates=gates)


def _needs_on_pools(wf: ast.Workflow, plan: Plan) -> ast.Workflow:
    """A need on one of the run's for_each templates means every task it made, as in the run."""
    pools = dict(plan.pools)
    if not pools:
        return wf

    def needs(names: tuple[ast.Name, ...]) -> tuple[ast.Name, ...]:
        return tuple(ast.Name(m, n.span) for n in names for m in pools.get(n.value, (n.value,)))

    return replace(wf, tasks=tuple(replace(t, needs=needs(t.needs)) for t in wf.tasks),
                   gates=tuple(replace(g, needs=needs(g.needs)) for g in wf.gates))


def _run_defaults(plan: Plan, at: Span) -> ast.Defaults | None:
    """Gates take their backoff and env from the defaults: those of the run's gates."""
    gate = next((n for n in plan.nodes if n.is_gate), None)
    if gate is None:
        return None
    return ast.Defaults(None, None, _backoff(gate, at), _env(gate.env, at), at)


def _backoff(n: PlanNode, at: Span) -> ast.Backoff:
    b = n.backoff
    return ast.Backoff(ast.Duration(b.initial_s, at), ast.Number(b.factor, at), ast.Duration(b.max_s, at), at)


def _env(env: Iterable[tuple[str, str]], at: Span) -> tuple[ast.EnvVar, ...]:
    return tuple(ast.EnvVar(ast.Name(k, at), ast.Text(v, at)) for k, v in env)


def _agent_ast(a: PlanAgent, plan: Plan, at: Span) -> ast.Agent:
    spaces = {n.workspace for n in plan.nodes if n.agent == a.id and not n.is_gate}
    workspace = next(iter(spaces)) if len(spaces) == 1 and plan.workspace not in spaces else None
    runner: ast.RunnerRef | None = None
    if a.runner == "command":
        runner = ast.Command(ast.Text(a.runner_command or "", at), at)
    elif a.runner is not None:
        runner = ast.Name(a.runner, at)
    return ast.Agent(
        ast.Name(a.id, at), ast.Domain(None, tuple(ast.Text(w, at) for w in a.writes),
                                       tuple(ast.Text(r, at) for r in a.reads), at),
        tuple(ast.Name(s, at) for s in a.skills), ast.Number(a.instances, at),
        None if a.description is None else ast.Text(a.description, at), _env(a.env, at), at,
        workspace=None if workspace is None else ast.Name(workspace, at), runner=runner,
        model=None if a.model is None else ast.Text(a.model, at),
        max_turns=None if a.max_turns is None else ast.Number(a.max_turns, at),
        max_budget_usd=None if a.max_budget_usd is None else ast.Number(a.max_budget_usd, at))


def _text(value: str | None, at: Span) -> ast.Text | None:
    return None if value is None else ast.Text(value, at)


def _task_ast(n: PlanNode, at: Span) -> ast.Task:
    return ast.Task(
        ast.Name(n.id, at), ast.Name(n.agent or "", at), tuple(ast.Name(s, at) for s in n.requires) or None,
        tuple(ast.Name(u, at) for u in n.needs), _text(n.run, at),
        ast.Domain(None, tuple(ast.Text(w, at) for w in n.writes), tuple(ast.Text(r, at) for r in n.reads), at),
        ast.Duration(n.estimate_s, at), None if n.timeout_s is None else ast.Duration(n.timeout_s, at),
        ast.Number(n.retries, at), _backoff(n, at), _text(n.rollback, at), _env(n.env, at),
        _text(n.description, at), at, expect_changes=ast.Flag(True, at) if n.expect_changes else None,
        prompt=_text(n.prompt, at))


def _gate_ast(n: PlanNode, at: Span) -> ast.Gate:
    return ast.Gate(
        ast.Name(n.id, at), tuple(ast.Name(u, at) for u in n.needs), _text(n.run, at), _text(n.approve, at),
        None if n.on_fail is None else ast.Name(n.on_fail, at), ast.Duration(n.estimate_s, at),
        None if n.timeout_s is None else ast.Duration(n.timeout_s, at), ast.Number(n.retries, at),
        _text(n.description, at), at)
