"""The plan file: the one representation that flows from the compiler onward.

The runtime, the diagrams, the review page, the briefs and pull-mode agents all
read a `Plan`; none of them sees the AST. `to_json` is byte-deterministic;
`from_json` reads back what `to_json` wrote and rejects anything else clearly
(plan_read.py checks a plan file and gives every problem its line and column).
"""
from __future__ import annotations

from functools import cached_property
import json
from typing import Any

from lanes.compiler.backoff import Backoff
from lanes.compiler.plan_fields import PLAN_VERSION
from lanes.dsl.frozen import dataclass

# A JSON object as json.loads gives it: Any, because nothing here knows its shape; plan_read.py
# checks the shape of a plan file before `build_plan` reads one.
JSONObject = dict[str, Any]


class PlanError(ValueError):
    """A plan file that is not one lanes wrote."""


@dataclass(frozen=True)
class PlanAgent:
    """An agent of the plan: its lanes, its domain, and how its coding agent runs."""
    id: str
    skills: tuple[str, ...]
    instances: int
    domain: str | None          # the named domain, None for an inline one
    writes: tuple[str, ...]
    reads: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    description: str | None = None
    # coding agents (SPEC section 9), each None when not written
    runner: str | None = None           # a preset, "shell", or "command" for a template
    runner_command: str | None = None   # the template of a "command" runner
    model: str | None = None
    max_turns: int | None = None
    max_budget_usd: float | None = None


@dataclass(frozen=True)
class PlanNode:
    """A task or a gate of the plan, with all it needs to run."""
    id: str
    kind: str                   # "task" | "gate"
    needs: tuple[str, ...]
    stage: int
    critical: bool
    digest: str
    estimate_s: float
    timeout_s: float | None     # None: no timeout
    retries: int
    backoff: Backoff
    env: tuple[tuple[str, str], ...] = ()
    description: str | None = None
    # tasks
    agent: str | None = None
    requires: tuple[str, ...] = ()   # the skills a routed task asked for (its agent was chosen)
    run: str | None = None
    writes: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    rollback: str | None = None
    workspace: str = "shared"        # "shared" | "worktree" (SPEC section 8)
    expect_changes: bool = False     # worktree mode: a change of nothing fails (E501)
    prompt: str | None = None        # instead of `run`: the instructions for a coding agent,
    runner: str | None = None        # whose runner (a preset, or "command" for a template)
    command: str | None = None       # runs this command line ($LANES_PROMPT holds the prompt)
    # gates
    approve: str | None = None
    on_fail: str | None = None

    @property
    def is_gate(self) -> bool:
        return self.kind == "gate"


@dataclass(frozen=True)
class Estimate:
    """The plan's estimated time, in sequence and in parallel."""
    sequential_s: float
    parallel_s: float
    efficiency: float


@dataclass(frozen=True)
class Plan:
    """What the compiler emits and everything after it reads (SPEC section 5)."""
    workflow: str
    source_digest: str
    nodes: tuple[PlanNode, ...]        # ordered by stage, then id
    stages: tuple[tuple[str, ...], ...]
    critical_path: tuple[str, ...]
    estimate: Estimate
    agents: tuple[PlanAgent, ...]      # in declaration order
    workdir: str                       # absolute
    description: str | None = None
    workspace: str = "shared"          # the workflow's; each task node has its effective one
    limits: tuple[tuple[str, int], ...] = ()    # runner -> how many of its tasks run at once
    max_budget_usd: float | None = None         # no agent task starts once the cost reaches it
    pools: tuple[tuple[str, tuple[str, ...]], ...] = ()   # for_each template -> the ids of its tasks

    @cached_property
    def node_by_id(self) -> dict[str, PlanNode]:
        return {n.id: n for n in self.nodes}

    @cached_property
    def agent_by_id(self) -> dict[str, PlanAgent]:
        return {a.id: a for a in self.agents}

    @cached_property
    def dependents(self) -> dict[str, tuple[str, ...]]:
        """node id -> ids of the nodes that need it, in plan order."""
        out: dict[str, list[str]] = {n.id: [] for n in self.nodes}
        for n in self.nodes:
            for up in n.needs:
                out[up].append(n.id)
        return {k: tuple(v) for k, v in out.items()}


def _num(x: float) -> float:
    """Whole numbers print as integers so plans read like the spec."""
    return int(x) if float(x).is_integer() else x


def _node_json(n: PlanNode) -> dict[str, object]:
    d: dict[str, object] = {"id": n.id, "kind": n.kind}
    if n.kind == "task":
        d["agent"] = n.agent
    d["needs"] = list(n.needs)
    if n.run is not None:
        d["run"] = n.run
    if n.prompt is not None:
        d["prompt"] = n.prompt
    if n.runner is not None:           # both absent only in the plan of a workflow with errors
        d["runner"] = n.runner
    if n.command is not None:
        d["command"] = n.command
    if n.approve is not None:
        d["approve"] = n.approve
    if n.kind == "task":
        d["writes"] = list(n.writes)
        d["reads"] = list(n.reads)
        d["workspace"] = n.workspace
        if n.expect_changes:
            d["expect_changes"] = True
    else:
        d["on_fail"] = n.on_fail
    d["estimate_s"] = _num(n.estimate_s)
    d["timeout_s"] = None if n.timeout_s is None else _num(n.timeout_s)
    d["retries"] = n.retries
    d["backoff"] = {"initial_s": _num(n.backoff.initial_s), "factor": _num(n.backoff.factor),
                    "max_s": _num(n.backoff.max_s)}
    d["stage"] = n.stage
    d["critical"] = n.critical
    d["digest"] = n.digest
    if n.requires:
        d["requires"] = list(n.requires)
    if n.rollback is not None:
        d["rollback"] = n.rollback
    d["env"] = dict(n.env)
    if n.description is not None:
        d["description"] = n.description
    return d


def _agent_json(a: PlanAgent) -> dict[str, object]:
    d: dict[str, object] = {"id": a.id, "skills": list(a.skills), "instances": a.instances, "domain": a.domain,
         "writes": list(a.writes), "reads": list(a.reads), "env": dict(a.env)}
    if a.runner is not None:
        d["runner"] = {"command": a.runner_command} if a.runner == "command" else a.runner
    if a.model is not None:
        d["model"] = a.model
    if a.max_turns is not None:
        d["max_turns"] = a.max_turns
    if a.max_budget_usd is not None:
        d["max_budget_usd"] = _num(a.max_budget_usd)
    if a.description is not None:
        d["description"] = a.description
    return d


def plan_to_dict(plan: Plan) -> dict[str, object]:
    d: dict[str, object] = {
        "lanes_plan": PLAN_VERSION,
        "workflow": plan.workflow,
        "source_digest": plan.source_digest,
        "nodes": [_node_json(n) for n in plan.nodes],
        "stages": [list(s) for s in plan.stages],
        "critical_path": list(plan.critical_path),
        "estimate": {"sequential_s": _num(plan.estimate.sequential_s),
                     "parallel_s": _num(plan.estimate.parallel_s),
                     "efficiency": plan.estimate.efficiency},
    }
    if plan.description is not None:
        d["description"] = plan.description
    d["workdir"] = plan.workdir
    d["workspace"] = plan.workspace
    if plan.limits:
        d["limits"] = dict(plan.limits)
    if plan.max_budget_usd is not None:
        d["max_budget_usd"] = _num(plan.max_budget_usd)
    if plan.pools:
        d["pools"] = {k: list(v) for k, v in plan.pools}
    d["agents"] = [_agent_json(a) for a in plan.agents]
    return d


def to_json(plan: Plan) -> str:
    """The layout of SPEC section 5: one top-level key per line, one node (and one
    agent) per line, so plans diff well; it also keeps json's fast C encoder."""
    def one(value: object) -> str:
        return json.dumps(value, ensure_ascii=False)

    lines = []
    for key, value in plan_to_dict(plan).items():
        if isinstance(value, list) and key in ("nodes", "agents") and value:
            inner = ",\n".join(f"    {one(v)}" for v in value)
            lines.append(f'  {one(key)}: [\n{inner}\n  ]')
        else:
            lines.append(f"  {one(key)}: {one(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _env(d: dict[str, object] | None) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in (d or {}).items())


def plan_from_dict(d: JSONObject) -> Plan:
    """The plan of a document that lanes wrote (a run's stored plan, a test's); PlanError
    when it is not one. A plan file from anywhere goes through plan_read.py instead."""
    if not isinstance(d, dict) or d.get("lanes_plan") != PLAN_VERSION:
        raise PlanError(f"not a lanes plan (expected \"lanes_plan\": {PLAN_VERSION})")
    try:
        plan = build_plan(d)
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(f"malformed plan: {exc!r}") from None
    known = plan.node_by_id
    for template, members in plan.pools:
        if not set(members) <= set(known):
            raise PlanError(f"malformed plan: pool '{template}' names unknown nodes")
    for n in plan.nodes:
        for up in n.needs:
            if up not in known:
                raise PlanError(f"malformed plan: node '{n.id}' needs unknown node '{up}'")
    return plan


def _runner(r: str | JSONObject | None) -> dict[str, str | None]:
    """An agent's "runner": a name, or {"command": TEMPLATE}."""
    if isinstance(r, dict):
        return {"runner": "command", "runner_command": r["command"]}
    return {"runner": r, "runner_command": None}


def build_plan(d: JSONObject) -> Plan:
    """The plan of a document with the fields and types of the schema (nothing is checked)."""
    nodes = tuple(
        PlanNode(
            id=n["id"], kind=n["kind"], needs=tuple(n["needs"]), stage=int(n["stage"]),
            critical=n["critical"], digest=n["digest"], estimate_s=n["estimate_s"],
            timeout_s=n["timeout_s"], retries=int(n["retries"]),
            backoff=Backoff(**n["backoff"]), env=_env(n.get("env")),
            description=n.get("description"), agent=n.get("agent"),
            requires=tuple(n.get("requires", ())), run=n.get("run"),
            writes=tuple(n.get("writes", ())), reads=tuple(n.get("reads", ())),
            rollback=n.get("rollback"), approve=n.get("approve"), on_fail=n.get("on_fail"),
            workspace=n.get("workspace", "shared"), expect_changes=n.get("expect_changes", False),
            prompt=n.get("prompt"), runner=n.get("runner"), command=n.get("command"),
        )
        for n in d["nodes"]
    )
    agents = tuple(
        PlanAgent(id=a["id"], skills=tuple(a["skills"]), instances=int(a["instances"]),
                  domain=a.get("domain"), writes=tuple(a["writes"]), reads=tuple(a["reads"]),
                  env=_env(a.get("env")), description=a.get("description"), **_runner(a.get("runner")),
                  model=a.get("model"), max_turns=a.get("max_turns"), max_budget_usd=a.get("max_budget_usd"))
        for a in d["agents"]
    )
    e = d["estimate"]
    return Plan(
        workflow=d["workflow"], source_digest=d["source_digest"], nodes=nodes,
        stages=tuple(tuple(s) for s in d["stages"]), critical_path=tuple(d["critical_path"]),
        estimate=Estimate(e["sequential_s"], e["parallel_s"], e["efficiency"]),
        agents=agents, workdir=d["workdir"], description=d.get("description"),
        workspace=d.get("workspace", "shared"),
        limits=tuple((str(k), int(v)) for k, v in d.get("limits", {}).items()),
        max_budget_usd=d.get("max_budget_usd"),
        pools=tuple((str(k), tuple(v)) for k, v in d.get("pools", {}).items()),
    )


def from_json(text: str) -> Plan:
    """The plan in a JSON text; PlanError with the first problem when it is not one."""
    from lanes.compiler.plan_read import read_plan  # the checks import this module

    plan, diags = read_plan(text, "plan")
    if plan is None:
        d = diags[0]
        where = f" (line {d.span.line}, column {d.span.column})" if d.span else ""
        raise PlanError(f"malformed plan: {d.message}{where}")
    return plan
