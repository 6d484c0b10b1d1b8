"""AST -> resolved model: ids, references, defaults, routing and cycles.

Codes: E200 duplicate id, E201 undefined reference, E202 cycle, E203 no agent
qualifies for a task's `requires`. The model is always built: a bad reference
is dropped and a cycle is cut, so later stages and the diagrams keep working.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
import os
from typing import Protocol, TypedDict, TypeVar

from lanes.compiler.backoff import DEFAULT_ESTIMATE_S, Backoff
from lanes.compiler.graph import Positions, cycles, positions, strongly_connected
from lanes.compiler.model import EMPTY_DOMAIN, Model, Pattern, RAgent, RDomain, RNode
from lanes.dsl import ast
from lanes.dsl.diagnostics import Diagnostic, Related, diag, did_you_mean
from lanes.dsl.frozen import replace
from lanes.dsl.source import Source
from lanes.dsl.span import Span

DEFAULT_BACKOFF = Backoff(1, 2, 60)


class _Declared(Protocol):
    """A declaration with an id (a named domain, an agent, a task, a gate)."""

    @property
    def id(self) -> ast.Name | None: ...


D = TypeVar("D", bound=_Declared)
V = TypeVar("V")
ASTNode = ast.Task | ast.Gate


class _Prompt(TypedDict):
    """A task's fields of SPEC section 9."""

    prompt: str | None
    prompt_span: Span | None
    runner: str | None
    command: str | None



class _CodingAgent(TypedDict):
    runner: str | None
    command_template: str | None
    model: str | None
    max_turns: int | None
    max_budget_usd: float | None
    spans: tuple[tuple[str, Span], ...]


def _coding_agent(a: ast.Agent) -> _CodingAgent:
    """An agent's fields of SPEC section 9, and where each was written."""
    spans: dict[str, Span] = {}
    runner = template = None
    if isinstance(a.runner, ast.Name):
        runner, spans["runner"] = a.runner.value, a.runner.span
    elif isinstance(a.runner, ast.Command):
        runner, spans["runner"] = "command", a.runner.span
        if a.runner.command is not None:
            template, spans["command"] = a.runner.command.value, a.runner.command.span
    for name in ("model", "max_turns", "max_budget_usd"):
        value = getattr(a, name)
        if value is not None:
            spans[name] = value.span
    return _CodingAgent(
        runner=runner, command_template=template, model=a.model.value if a.model else None,
        max_turns=int(a.max_turns.value) if a.max_turns else None,
        max_budget_usd=float(a.max_budget_usd.value) if a.max_budget_usd else None,
        spans=tuple(spans.items()))


_SHELL = _CodingAgent(runner=None, command_template=None, model=None, max_turns=None, max_budget_usd=None,
                      spans=())


def _env(*groups: Iterable[ast.EnvVar | tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Later groups override earlier ones; the result is sorted for determinism."""
    out: dict[str, str] = {}
    for g in groups:
        for e in g:
            if isinstance(e, tuple):            # already resolved (an agent's env)
                out[e[0]] = e[1]
            else:
                out[e.name.value] = e.value.value
    return tuple(sorted(out.items()))


def _domain(d: ast.Domain, owner: str) -> RDomain:
    return RDomain(d.id.value if d.id else None,
                   tuple([Pattern(t.value, t.span, owner) for t in d.writes]),
                   tuple([Pattern(t.value, t.span, owner) for t in d.reads]))


class _Resolver:
    def __init__(self, wf: ast.Workflow, source: Source | None) -> None:
        self.wf = wf
        self.source = source
        self.diags: list[Diagnostic] = []

    def unique(self, items: Iterable[D], kind: Callable[[D], str]) -> dict[str, D]:
        """id -> first definition; later ones are E200 pointing back at the first."""
        seen: dict[str, D] = {}
        first_names: dict[str, ast.Name] = {}
        for item in items:
            ident = item.id
            if ident is None:                   # an inline domain: never among declarations
                continue
            first = first_names.get(ident.value)
            if first is None:
                seen[ident.value] = item
                first_names[ident.value] = ident
            else:
                self.diags.append(diag(
                    "E200", f"duplicate id '{ident.value}': {kind(item)} is already defined",
                    ident.span, related=[Related(f"'{ident.value}' is first defined here", first.span)]))
        return seen

    def lookup(self, name: ast.Name, table: Mapping[str, V], what: str) -> V | None:
        found = table.get(name.value)
        if found is None:
            self.diags.append(diag("E201", f"undefined {what} '{name.value}'"
                                   + did_you_mean(name.value, table), name.span))
        return found

    def run(self) -> Model:
        wf = self.wf
        domains = self.unique(wf.domains, lambda _: "a domain")
        named = {k: _domain(d, f"domain {k}") for k, d in domains.items()}
        agents_ast = self.unique(wf.agents, lambda _: "an agent")
        nodes_ast: dict[str, ASTNode] = self.unique([*wf.tasks, *wf.gates],
                                lambda n: f"a {'task' if isinstance(n, ast.Task) else 'gate'} "
                                          "(tasks and gates share one namespace)")

        agents: dict[str, RAgent] = {}
        for order, a in enumerate(agents_ast.values()):
            if isinstance(a.domain, ast.Name):
                dom = self.lookup(a.domain, named, "domain") or EMPTY_DOMAIN
            elif isinstance(a.domain, ast.Domain):
                dom = _domain(a.domain, f"agent {a.id.value}")
            else:
                dom = EMPTY_DOMAIN
            # most agents are the shell's: their fields of section 9 are all the defaults
            coding = _coding_agent(a) if a.runner or a.model or a.max_turns or a.max_budget_usd else _SHELL
            agents[a.id.value] = RAgent(
                a.id.value, tuple([s.value for s in a.skills]),
                int(a.instances.value) if a.instances else 1, dom,
                a.description.value if a.description else None, _env(a.env) if a.env else (), a.id.span, order,
                workspace=a.workspace.value if a.workspace else None,
                workspace_span=a.workspace.span if a.workspace else None, **coding)
            if a.runner is not None:                # a coding agent (SPEC section 9); the shell has nothing to build
                from lanes.compiler.agent_commands import agent_problems
                self.diags += agent_problems(agents[a.id.value])

        workspace = wf.workspace.value if wf.workspace else "shared"
        d = wf.defaults
        base_timeout = d.timeout.seconds if d and d.timeout else None
        base_retries = int(d.retries.value) if d and d.retries else 0   # whole numbers (the builder checks)
        base_backoff = self.backoff(d.backoff if d else None, DEFAULT_BACKOFF)
        base_env = d.env if d else ()

        gate_env = _env(base_env)
        envs: dict[str | None, tuple[tuple[str, str], ...]] = {}      # agent -> env of its tasks without one
        found_needs: dict[str, tuple[str, ...]] = {}
        for ident, n in nodes_ast.items():
            found = [x.value for x in n.needs if x.value in nodes_ast]
            if len(found) < len(n.needs):           # an undefined one: each reported, in order
                found = [x.value for x in n.needs if self.lookup(x, nodes_ast, "task or gate")]
            found_needs[ident] = tuple(found)
        needs, graph = self.cut_cycles(found_needs, nodes_ast)

        work = {a: 0.0 for a in agents}
        estimates = {i: (n.estimate.seconds if n.estimate else DEFAULT_ESTIMATE_S)
                     for i, n in nodes_ast.items()}
        chosen: dict[str, str | None] = {}
        for ident, n in nodes_ast.items():
            if isinstance(n, ast.Task) and n.agent is not None:
                given: str | None = n.agent.value
                if given not in agents:
                    self.lookup(n.agent, agents, "agent")       # E201
                    given = None
                chosen[ident] = given
                if given:
                    work[given] += estimates[ident]
        for ident, n in nodes_ast.items():          # routing: least work so far, then declaration
            if isinstance(n, ast.Task) and n.agent is None and n.requires is not None:
                routed = chosen[ident] = self.route(n, agents, work)
                if routed:
                    work[routed] += estimates[ident]

        nodes = []
        # RNode's fields given by position (a task's all, in the order of model.py):
        # keywords, matched by name among its 28 parameters, cost twice the call (10k nodes)
        for order, (ident, n) in enumerate(nodes_ast.items()):
            timeout_s = n.timeout.seconds if n.timeout else base_timeout
            retries = int(n.retries.value) if n.retries else base_retries
            description = n.description.value if n.description else None
            if isinstance(n, ast.Gate):
                nodes.append(RNode(ident, "gate", needs[ident], estimates[ident], timeout_s, retries,
                                   base_backoff, gate_env, description, n.id.span, order,
                                   run=n.run.value if n.run else None,
                                   approve=n.approve.value if n.approve else None,
                                   on_fail=n.on_fail.value if n.on_fail else "stop",
                                   on_fail_span=n.on_fail.span if n.on_fail else None))
                continue
            agent = agents.get(chosen.get(ident) or "")
            own = n.domain is not None
            if n.domain is None:
                dom = agent.domain if agent else EMPTY_DOMAIN
            elif isinstance(n.domain, ast.Name):
                dom = self.lookup(n.domain, named, "domain") or EMPTY_DOMAIN
            else:
                dom = _domain(n.domain, f"task {ident}")
            if n.env:
                env = _env(base_env, agent.env, n.env) if agent else _env(base_env, n.env)
            else:
                key = agent.id if agent else None
                if key not in envs:
                    envs[key] = _env(base_env, agent.env) if agent else gate_env
                env = envs[key]
            node = RNode(
                ident, "task", needs[ident], estimates[ident], timeout_s, retries,
                base_backoff if n.backoff is None else self.backoff(n.backoff, base_backoff), env, description,
                n.id.span, order,
                agent.id if agent else None,                                   # agent
                tuple([s.value for s in n.requires]) if n.requires else (),   # requires
                n.run.value if n.run else None, dom, own,                      # run, domain, own_domain
                n.rollback.value if n.rollback else None,                      # rollback
                (agent.workspace if agent else None) or workspace,             # workspace
                bool(n.expect_changes and n.expect_changes.value))             # expect_changes
            nodes.append(node if n.prompt is None else replace(node, **self.prompt(ident, n, agent, dom)))

        directory = self.source.directory if self.source else os.getcwd()
        workdir = os.path.normpath(os.path.join(directory, wf.workdir.value if wf.workdir else "."))
        return Model(
            workflow=wf.id.value if wf.id else "", description=wf.description.value if wf.description else None,
            workdir=workdir, source=self.source, needs_graph=graph,
            agents=tuple(agents.values()), nodes=tuple(nodes), domains=tuple(named.values()),
            workspace=workspace, workspace_span=wf.workspace.span if wf.workspace else None,
            limits=tuple((x.runner.value, int(x.count.value)) for x in wf.limits),
            max_budget_usd=float(wf.max_budget_usd.value) if wf.max_budget_usd else None)

    def prompt(self, ident: str, n: ast.Task, agent: RAgent | None, dom: RDomain) -> _Prompt:
        assert n.prompt is not None
        runner = command = None
        if agent is not None:
            from lanes.compiler.agent_commands import task_command
            runner, command, diags = task_command(ident, n.prompt.span, agent, dom)
            self.diags += diags
        return _Prompt(prompt=n.prompt.value, prompt_span=n.prompt.span, runner=runner, command=command)

    @staticmethod
    def backoff(b: ast.Backoff | None, base: Backoff) -> Backoff:
        if b is None:
            return base
        return Backoff(b.initial.seconds if b.initial else base.initial_s,
                       b.factor.value if b.factor else base.factor,
                       b.max.seconds if b.max else base.max_s)

    def route(self, task: ast.Task, agents: dict[str, RAgent], work: dict[str, float]) -> str | None:
        wanted = [s.value for s in task.requires or ()]
        able = [a for a in agents.values() if all(s in a.skills for s in wanted)]
        if not able:
            span = task.requires[0].span if task.requires else task.id.span
            missing = sorted({s for s in wanted if not any(s in a.skills for a in agents.values())})
            why = (f"no agent has the skill{'s' if len(missing) > 1 else ''} "
                   + ", ".join(f"'{s}'" for s in missing)) if missing else "no single agent has them all"
            self.diags.append(diag("E203", f"no agent has all the skills that task '{task.id.value}' "
                                   f"requires ({', '.join(wanted)}): {why}", span, nodes=(task.id.value,)))
            return None
        return min(able, key=lambda a: (work[a.id], a.order)).id

    def cut_cycles(self, needs: dict[str, tuple[str, ...]],
                   nodes_ast: dict[str, ASTNode]) -> tuple[dict[str, tuple[str, ...]], Positions | None]:
        """E202 for every cycle (listed in order), and the edges that close it removed; with
        the graph on positions when there was no cycle (the model's then, see Model.graph)."""
        graph = positions(needs)
        if len(graph.order) == len(needs):             # no cycle: no components to find
            return needs, graph
        order = {k: i for i, k in enumerate(needs)}
        found = cycles(needs, order)
        out = dict(needs)
        for cycle in found:
            first = nodes_ast[cycle[0]]
            text = " -> ".join([*cycle, cycle[0]])
            self.diags.append(diag(
                "E202", f"dependency cycle: {text} (each needs the next)", first.id.span,
                related=[Related(f"'{a}' needs '{b}'", _need_span(nodes_ast[a], b))
                         for a, b in zip(cycle, [*cycle[1:], cycle[0]])],
                nodes=tuple(cycle)))
        for scc in strongly_connected(needs, order):
            if len(scc) > 1 or scc[0] in needs[scc[0]]:
                # inside a strongly connected part keep only edges to earlier declared nodes
                inside = set(scc)
                for n in scc:
                    out[n] = tuple(u for u in needs[n] if u not in inside or order[u] < order[n])
        return out, None


def _need_span(node: ASTNode, target: str) -> Span:
    for x in node.needs:
        if x.value == target:
            return x.span
    return node.id.span


def resolve(wf: ast.Workflow, source: Source | None) -> tuple[Model, list[Diagnostic]]:
    r = _Resolver(wf, source)
    model = r.run()
    return model, r.diags
