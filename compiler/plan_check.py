"""Checks on a plan read from a file, which may have been edited by hand or written by
anything: its JSON Schema.

This is the schema part: `plan.schema.json` written out by hand, because the
jsonschema library takes longer to import than lanes takes to read a 1,000-node
plan; tests/test_plan_validation.py holds the two to the same verdicts. The
invariants (plan_invariants.py) are checked on the `Plan` built from a document of
the right shape.

A problem names a path into the document (`("nodes", 3, "stage")`); plan_read.py
turns it into a diagnostic with the line and column of that path in the text.
"""
from __future__ import annotations

from collections.abc import Callable
import json
import re

from lanes.compiler import plan_fields as F
from lanes.compiler.json_places import Path
from lanes.dsl.diagnostics import did_you_mean
from lanes.dsl.frozen import dataclass

ID = re.compile(F.ID_PATTERN + r"\Z")
_DIGEST = re.compile(F.DIGEST_PATTERN + r"\Z")
_ENV_NAME = re.compile(F.ENV_NAME_PATTERN + r"\Z")
MAX_NUMBER = F.MAX_NUMBER
MAX_COUNT = F.MAX_COUNT
_BACKOFF = frozenset(F.BACKOFF_FIELDS)
_ESTIMATE = frozenset(F.ESTIMATE_FIELDS)


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    path: Path
    key: bool = False                            # about the key at `path`, not its value
    related: tuple[tuple[str, Path], ...] = ()


def shown(value: object) -> str:
    """A value as JSON, cut short: messages quote what they refuse."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _render(path: Path) -> str:
    """("backoff", "factor") -> backoff.factor; ("needs", 2) -> needs[2]."""
    out = ""
    for k in path:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else k)
    return out


Check = Callable[[object, Path], None]


class _Shape:
    """The schema, walked field by field: each check reports into `problems`. A valid plan
    never comes here (plan_quick.py says so first); this walk says what is wrong where."""

    def __init__(self, root: object, ids: bool) -> None:
        self.root = root
        self.ids = ids
        self.good_ids: set[str] = set()          # strings already seen to be ids
        self.problems: list[Problem] = []
        self.node_checks: dict[str, Check] = {
            "id": self.ident, "kind": self.kind, "agent": self.ident, "requires": self.idents,
            "needs": self.idents, "run": self.string, "approve": self.string, "on_fail": self.on_fail,
            "writes": self.patterns, "reads": self.patterns, "estimate_s": self.seconds,
            "timeout_s": self.timeout, "retries": self.count, "backoff": self.backoff,
            "stage": self.count, "critical": self.boolean, "digest": self.digest,
            "rollback": self.string, "env": self.env, "description": self.string,
            "workspace": self.workspace, "expect_changes": self.boolean, "prompt": self.string,
            "runner": self.node_runner, "command": self.string}
        self.agent_checks: dict[str, Check] = {
            "id": self.ident, "skills": self.idents, "instances": self.instances,
            "domain": self.domain, "writes": self.patterns, "reads": self.patterns, "env": self.env,
            "description": self.string, "runner": self.agent_runner, "model": self.string,
            "max_turns": self.instances, "max_budget_usd": self.dollars}

    # --- reporting ---------------------------------------------------------------------

    def owner(self, path: Path) -> str:
        """Who a path belongs to: "node 'api'", "agent 'a'", "nodes[3]", "the plan"."""
        if len(path) < 2 or path[0] not in ("nodes", "agents") or not isinstance(path[1], int):
            return "the plan"
        items = self.root.get(path[0]) if isinstance(self.root, dict) else None
        item = items[path[1]] if isinstance(items, list) and path[1] < len(items) else None
        ident = item.get("id") if isinstance(item, dict) else None
        if isinstance(ident, str):
            return f"{'node' if path[0] == 'nodes' else 'agent'} '{ident if len(ident) <= 40 else ident[:37] + '...'}'"
        return _render(path[:2])

    def name(self, path: Path) -> str:
        """"'backoff.factor' of node 'api'", "nodes[3]", "'stages[0]' of the plan"."""
        inside = path[2:] if self.owner(path) != "the plan" else path
        return f"'{_render(inside)}' of {self.owner(path)}" if inside else self.owner(path)

    def report(self, code: str, message: str, path: Path, key: bool = False) -> None:
        self.problems.append(Problem(code, message, path, key))

    def bad(self, value: object, path: Path, wanted: str) -> None:
        self.report("E102", f"{self.name(path)} must be {wanted}, not {shown(value)}", path)

    def fields(self, d: dict[str, object], path: Path, known: frozenset[str],
               required: tuple[str, ...]) -> None:
        if not d.keys() <= known:
            for k in d:
                if k not in known:
                    self.report("E101", f"unknown field '{k}' in {self.name(path)}"
                                + did_you_mean(k, known), (*path, k), key=True)
        for k in required:
            if k not in d:
                self.report("E103", f"{self.name(path)} has no field '{k}'", path)

    # --- values ------------------------------------------------------------------------

    def string(self, v: object, path: Path) -> None:
        if type(v) is not str:
            self.bad(v, path, "a string")

    def ident(self, v: object, path: Path) -> None:
        if type(v) is not str:
            self.bad(v, path, "an id (a string)")
        elif self.ids and v not in self.good_ids:
            if ID.match(v):
                self.good_ids.add(v)
            else:
                self.report("E102", f"{shown(v)} is not a valid id ({self.name(path)}: letters, "
                            "digits, '_' and '-', starting with a letter or '_')", path)

    def idents(self, v: object, path: Path) -> None:
        if type(v) is not list:
            self.bad(v, path, "a list of ids")
            return
        good = self.good_ids
        for i, x in enumerate(v):
            if type(x) is not str or x not in good:
                self.ident(x, (*path, i))

    def patterns(self, v: object, path: Path) -> None:
        if type(v) is not list:
            self.bad(v, path, "a list of path patterns")
            return
        for i, x in enumerate(v):
            if type(x) is not str or not x:
                self.bad(x, (*path, i), "a non-empty string")

    def boolean(self, v: object, path: Path) -> None:
        if type(v) is not bool:
            self.bad(v, path, "true or false")

    def digest(self, v: object, path: Path) -> None:
        if type(v) is not str or not _DIGEST.match(v):
            self.bad(v, path, "a digest (\"sha256:\" and 64 hex digits)")

    def number(self, v: object, path: Path, low: float = 0, wanted: str = "a number of seconds >= 0",
               above: bool = False, high: float = MAX_NUMBER) -> None:
        if (type(v) is int or type(v) is float) and ((v > low) if above else (v >= low)) and v <= high:
            return
        self.bad(v, path, wanted)

    def whole(self, v: object, path: Path, low: int) -> None:
        if (type(v) is int or (type(v) is float and v.is_integer())) and low <= v <= MAX_COUNT:
            return
        self.bad(v, path, f"a whole number >= {low}")

    def seconds(self, v: object, path: Path) -> None:
        self.number(v, path)

    def timeout(self, v: object, path: Path) -> None:
        if v is not None:
            self.number(v, path, 0, "a number of seconds > 0, or null", above=True)

    def count(self, v: object, path: Path) -> None:
        self.whole(v, path, 0)

    def instances(self, v: object, path: Path) -> None:
        self.whole(v, path, 1)

    def domain(self, v: object, path: Path) -> None:
        if v is not None:
            self.ident(v, path)

    def kind(self, v: object, path: Path) -> None:
        if v not in F.KINDS:
            self.bad(v, path, "\"task\" or \"gate\"")

    def on_fail(self, v: object, path: Path) -> None:
        if v not in F.ON_FAIL:
            self.bad(v, path, "one of \"stop\", \"rollback\", \"continue\"")

    def workspace(self, v: object, path: Path) -> None:
        if v not in F.WORKSPACES:
            self.bad(v, path, "\"shared\" or \"worktree\"")

    def dollars(self, v: object, path: Path) -> None:
        self.number(v, path, 0, "a number > 0", above=True)

    def node_runner(self, v: object, path: Path) -> None:
        if v not in F.NODE_RUNNERS:
            self.bad(v, path, "one of " + ", ".join(f'"{r}"' for r in F.NODE_RUNNERS))

    def agent_runner(self, v: object, path: Path) -> None:
        if type(v) is dict:
            self.fields(v, path, frozenset(("command",)), ("command",))
            if "command" in v:
                self.string(v["command"], (*path, "command"))
        elif v not in F.AGENT_RUNNERS:
            self.bad(v, path, "one of " + ", ".join(f'"{r}"' for r in F.AGENT_RUNNERS)
                     + ', or {"command": TEMPLATE}')

    def limits(self, v: object, path: Path) -> None:
        if type(v) is not dict:
            self.bad(v, path, "an object of RUNNER: N")
            return
        for k, x in v.items():
            if k not in F.PRESETS:
                self.report("E102", f"{shown(k)} is not a coding agent runner ({self.name(path)}: "
                            + ", ".join(F.PRESETS) + ")", (*path, k), key=True)
            self.whole(x, (*path, k), 1)

    def pools(self, v: object, path: Path) -> None:
        """for_each template -> the ids of its tasks (SPEC section 10)."""
        if type(v) is not dict:
            self.bad(v, path, "an object of TEMPLATE: [task ids]")
            return
        for k, x in v.items():
            self.ident(k, (*path, k))
            if x == []:
                self.bad(x, (*path, k), "a non-empty list of task ids")
            else:
                self.idents(x, (*path, k))

    def env(self, v: object, path: Path) -> None:
        if type(v) is not dict:
            self.bad(v, path, "an object of NAME: \"value\"")
            return
        for k, x in v.items():
            if not _ENV_NAME.match(k):
                self.report("E102", f"{shown(k)} is not an environment variable name "
                            f"({self.name(path)})", (*path, k), key=True)
            if type(x) is not str:
                self.bad(x, (*path, k), "a string")

    def backoff(self, v: object, path: Path) -> None:
        if type(v) is not dict:
            self.bad(v, path, "an object")
            return
        self.fields(v, path, _BACKOFF, F.BACKOFF_FIELDS)
        if "initial_s" in v:
            self.number(v["initial_s"], (*path, "initial_s"))
        if "factor" in v:
            self.number(v["factor"], (*path, "factor"), 1, "a number >= 1")
        if "max_s" in v:
            self.number(v["max_s"], (*path, "max_s"))

    # --- the document ------------------------------------------------------------------

    def plan(self) -> None:
        d = self.root
        if type(d) is not dict:
            self.report("E102", f"a plan is a JSON object, not {shown(d)}", ())
            return
        if "lanes_plan" not in d:
            self.report("E103", "not a lanes plan: it has no field \"lanes_plan\"", ())
            return
        version = d["lanes_plan"]
        if type(version) is bool or version != F.PLAN_VERSION:
            self.report("E102", f"\"lanes_plan\" must be {F.PLAN_VERSION} (the version this lanes "
                        f"reads), not {shown(version)}", ("lanes_plan",))
            return
        self.fields(d, (), F.TOP_FIELDS, F.TOP_REQUIRED)
        checks: dict[str, Check] = {
            "workflow": self.ident, "description": self.string, "source_digest": self.digest,
            "workdir": self.string, "workspace": self.workspace, "limits": self.limits,
            "max_budget_usd": self.dollars, "pools": self.pools, "nodes": self.nodes, "stages": self.stages,
            "critical_path": self.idents, "estimate": self.estimate, "agents": self.agents}
        for k, v in d.items():
            check = checks.get(k)
            if check is not None:
                check(v, (k,))

    def estimate(self, v: object, path: Path) -> None:
        if type(v) is not dict:
            self.bad(v, path, "an object")
            return
        self.fields(v, path, _ESTIMATE, F.ESTIMATE_FIELDS)
        for k in ("sequential_s", "parallel_s"):
            if k in v:
                self.number(v[k], (*path, k))
        if "efficiency" in v:
            self.number(v["efficiency"], (*path, "efficiency"), 0, "a number from 0 to 1", high=1)

    def stages(self, v: object, path: Path) -> None:
        if type(v) is not list:
            self.bad(v, path, "a list of lists of node ids")
            return
        for i, s in enumerate(v):
            if s == []:
                self.bad(s, (*path, i), "a non-empty list of node ids")
            else:
                self.idents(s, (*path, i))

    def agents(self, v: object, path: Path) -> None:
        if type(v) is not list:
            self.bad(v, path, "a list of agents")
            return
        checks = self.agent_checks
        for i, a in enumerate(v):
            at = (*path, i)
            if type(a) is not dict:
                self.bad(a, at, "an object (an agent)")
                continue
            self.fields(a, at, F.AGENT_FIELDS, F.AGENT_REQUIRED)
            for k, x in a.items():
                check = checks.get(k)
                if check is not None:
                    check(x, (*at, k))

    def nodes(self, v: object, path: Path) -> None:
        if type(v) is not list:
            self.bad(v, path, "a list of nodes")
            return
        checks = self.node_checks
        for i, n in enumerate(v):
            at = (*path, i)
            if type(n) is not dict:
                self.bad(n, at, "an object (a node)")
                continue
            self.fields(n, at, F.NODE_FIELDS, F.NODE_REQUIRED)
            for k, x in n.items():
                check = checks.get(k)
                if check is not None:
                    check(x, (*at, k))
            kind = n.get("kind")
            if kind == "task":
                self.task_fields(n, at)
            elif kind == "gate":
                self.gate_fields(n, at)

    def task_fields(self, d: dict[str, object], at: Path) -> None:
        for k in F.TASK_REQUIRED:
            if k not in d:
                self.report("E103", f"{self.name(at)} is a task and has no field '{k}'", at)
        if ("run" in d) == ("prompt" in d):
            self.report("E103", f"{self.name(at)} is a task and must have exactly one of 'run' "
                        "and 'prompt'", at)
        given = [k for k in F.PROMPT_FIELDS if k in d]
        if given and len(given) < len(F.PROMPT_FIELDS):
            missing = [k for k in F.PROMPT_FIELDS if k not in d]
            self.report("E103", f"{self.name(at)} has '{given[0]}' but no '{missing[0]}' (a prompt task "
                        "has all of 'prompt', 'runner' and 'command')", at)
        for k in sorted(F.GATE_ONLY.intersection(d)):
            self.report("E101", f"'{k}' is a field of gates, and {self.name(at)} is a task",
                        (*at, k), key=True)

    def gate_fields(self, d: dict[str, object], at: Path) -> None:
        if "on_fail" not in d:
            self.report("E103", f"{self.name(at)} is a gate and has no field 'on_fail'", at)
        if ("run" in d) == ("approve" in d):
            self.report("E103", f"{self.name(at)} is a gate and must have exactly one of 'run' "
                        "and 'approve'", at)
        for k in sorted(F.TASK_ONLY.intersection(d)):
            self.report("E101", f"'{k}' is a field of tasks, and {self.name(at)} is a gate",
                        (*at, k), key=True)


def shape_problems(d: object, *, ids: bool = True) -> list[Problem]:
    """What the schema says is wrong where in a plan document (the result of json.loads),
    for one that plan_quick.py's `looks_valid` doubts. With `ids` false, ids need not
    look like ids: drawing a plan is safe with any string, running it is not (ids become
    file names)."""
    shape = _Shape(d, ids)
    shape.plan()
    return shape.problems
