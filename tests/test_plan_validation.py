"""A plan file is checked when it is read: the schema, the invariants, every problem a
diagnostic with its line and column, exit 2, never a traceback and never a run.

The hand-written schema check is held to jsonschema on the published schema, and
the quick verdicts (what a valid plan costs) to the thorough walks.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
import re

from helpers import compile_text, lanes_cli, write
from hypothesis import given, settings, strategies as st
import jsonschema
import pytest

from lanes.compiler.plan_check import shape_problems
from lanes.compiler.plan_invariants import invariant_problems
from lanes.compiler.plan_quick import invariants_hold, looks_valid
from lanes.compiler.plan_read import read_plan
from lanes.compiler.planfile import PlanError, build_plan, from_json, to_json

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "compiler" / "plan.schema.json").read_text())
D = "sha256:" + "d" * 64

# What `lanes plan` writes for two tasks and a gate (digests shortened to one value).
BASE = """{
  "lanes_plan": 1,
  "workflow": "w",
  "source_digest": "DIGEST",
  "nodes": [
    {"id": "build", "kind": "task", "agent": "dev", "needs": [], "run": "true", "writes": ["src/**"], "reads": [], "estimate_s": 60, "timeout_s": null, "retries": 0, "backoff": {"initial_s": 1, "factor": 2, "max_s": 60}, "stage": 0, "critical": true, "digest": "DIGEST", "env": {}},
    {"id": "test", "kind": "task", "agent": "dev", "needs": ["build"], "run": "true", "writes": ["src/**"], "reads": [], "estimate_s": 60, "timeout_s": null, "retries": 0, "backoff": {"initial_s": 1, "factor": 2, "max_s": 60}, "stage": 1, "critical": true, "digest": "DIGEST", "env": {}},
    {"id": "ship", "kind": "gate", "needs": ["test"], "run": "true", "on_fail": "stop", "estimate_s": 60, "timeout_s": null, "retries": 0, "backoff": {"initial_s": 1, "factor": 2, "max_s": 60}, "stage": 2, "critical": true, "digest": "DIGEST", "env": {}}
  ],
  "stages": [["build"], ["test"], ["ship"]],
  "critical_path": ["build", "test", "ship"],
  "estimate": {"sequential_s": 180, "parallel_s": 180, "efficiency": 0.0},
  "workdir": "WORKDIR",
  "agents": [
    {"id": "dev", "skills": [], "instances": 1, "domain": null, "writes": ["src/**"], "reads": [], "env": {}}
  ]
}
""".replace("DIGEST", D)

DIAGNOSTIC = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): error\[(?P<code>E\d+)\]: (?P<message>.*)$")


def edited(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def at(text: str, before: str, value: str = "") -> tuple[int, int]:
    """Line and column of `value` where it follows `before` (of `before` itself without it)."""
    offset = text.index(before + value) + (len(before) if value else 0)
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def found(text: str, ids: bool = True) -> list[tuple[str, int, int]]:
    plan, diags = read_plan(text, "plan.json", ids=ids)
    assert (plan is None) == bool(diags)
    return [(d.code, d.span.line, d.span.column) for d in diags]


def refused(tmp_path, text: str) -> list[dict[str, str]]:
    """`lanes run` of the plan: exit 2, only diagnostics on stderr, no run anywhere."""
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(text.replace("WORKDIR", str(tmp_path)), encoding="utf-8")
    state = tmp_path / "state"
    r = lanes_cli("run", plan_file, "--state", state, "--no-progress")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout == "" and not state.exists() and not (tmp_path / ".lanes").exists()
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    lines = r.stderr.splitlines()
    assert re.fullmatch(r"\d+ errors?, 0 warnings", lines[-1]), r.stderr
    return [m.groupdict() for m in map(DIAGNOSTIC.match, lines) if m]


# --- through the command line ------------------------------------------------------------

def test_the_plan_itself_runs(tmp_path):
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(BASE.replace("WORKDIR", str(tmp_path)), encoding="utf-8")
    r = lanes_cli("run", plan_file, "--state", tmp_path / "state", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("run ")


def test_no_instances(tmp_path):
    text = edited('"instances": 1', '"instances": 0')
    [d] = refused(tmp_path, text)
    assert (d["code"], int(d["line"]), int(d["col"])) == ("E102", 15, 46)
    assert d["file"] == str(tmp_path / "plan.json")
    assert "'instances' of agent 'dev' must be a whole number >= 1, not 0" in d["message"]


def test_a_cycle_is_listed_in_order(tmp_path):
    text = edited('"needs": []', '"needs": ["ship"]')
    [d] = refused(tmp_path, text)
    assert (d["code"], int(d["line"]), int(d["col"])) == ("E202", 6, 12)    # the id of 'build'
    assert "build -> ship -> test -> build" in d["message"]


def test_a_null_id(tmp_path):
    text = edited('{"id": "test"', '{"id": null')
    [d] = refused(tmp_path, text)
    assert (d["code"], int(d["line"]), int(d["col"])) == ("E102", 7, 12)
    assert "must be an id" in d["message"] and "null" in d["message"]


def test_a_number_of_5000_digits(tmp_path):
    text = edited('"retries": 0', '"retries": ' + "9" * 5000)
    [d] = refused(tmp_path, text)
    assert (d["code"], int(d["line"]), int(d["col"])) == ("E102", *at(text, '"retries": ', "9"))
    assert "5,000 digits" in d["message"]


def test_json_syntax_error(tmp_path):
    text = edited('"stage": 1,', '"stage": 1')
    [d] = refused(tmp_path, text)
    assert (d["code"], int(d["line"]), int(d["col"])) == ("E100", *at(text, '"stage": 1 ', '"critical"'))
    assert "JSON syntax error" in d["message"]


def test_several_problems_are_all_reported_in_order(tmp_path):
    text = edited('"needs": ["build"]', '"needs": ["biuld"]', edited('"id": "ship", "kind": "gate"', '"id": "build", "kind": "gate"'))
    got = [(d["code"], int(d["line"]), int(d["col"])) for d in refused(tmp_path, text)]
    assert got[:2] == [("E201", *at(text, '"needs": [', '"biuld"')), ("E200", 8, 12)]


@pytest.mark.parametrize("command", [("graph", "-f", "mermaid"), ("report", "-o", "r.html"), ("brief", "-o", "b"),
                                     ("open", "--state", "st")])
def test_every_command_that_reads_plans_refuses_it(tmp_path, command):
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(edited('"instances": 1', '"instances": 0'), encoding="utf-8")
    r = lanes_cli(command[0], plan_file, *command[1:], cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(f"{plan_file}:15:46: error[E102]: "), r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]


def test_not_utf8_and_not_an_object(tmp_path):
    plan_file = tmp_path / "plan.json"
    plan_file.write_bytes(b'{\n  "workflow": "caf\xe9"\n}\n')
    r = lanes_cli("run", plan_file, "--state", tmp_path / "state")
    assert r.returncode == 2 and r.stderr.startswith(f"{plan_file}:2:19: error[E100]: "), r.stderr
    plan_file.write_text("[1, 2]\n")
    r = lanes_cli("graph", plan_file)
    assert r.returncode == 2 and r.stderr.startswith(f"{plan_file}:1:1: error[E102]: a plan is a JSON object")


# --- every kind of problem, in process ----------------------------------------------------

CASES = {
    "unknown field": (('"instances": 1', '"instancs": 1'),
                      [("E103", "\n    ", '{"id": "dev"'), ("E101", '"skills": [], ', '"instancs"')]),
    "missing field": (('"critical": true, "digest"', '"digest"'), [("E103", '\n    ', '{"id": "build"')]),
    "wrong type": (('"critical": true', '"critical": "yes"'), [("E102", '"critical": ', '"yes"')]),
    "negative estimate": (('"estimate_s": 60', '"estimate_s": -1'), [("E102", '"estimate_s": ', "-1")]),
    "infinite estimate": (('"estimate_s": 60', '"estimate_s": 1e400'), [("E102", '"estimate_s": ', "1e400")]),
    "NaN is not JSON": (('"estimate_s": 60', '"estimate_s": NaN'), [("E100", '"estimate_s": ', "NaN")]),
    "zero timeout": (('"timeout_s": null', '"timeout_s": 0'), [("E102", '"timeout_s": ', "0")]),
    "factor below 1": (('"factor": 2', '"factor": 0.5'), [("E102", '"factor": ', "0.5")]),
    "efficiency above 1": (('"efficiency": 0.0', '"efficiency": 2'), [("E102", '"efficiency": ', "2")]),
    "bad kind": (('"kind": "gate"', '"kind": "job"'), [("E102", '"kind": ', '"job"')]),
    "bad on_fail": (('"on_fail": "stop"', '"on_fail": "halt"'), [("E102", '"on_fail": ', '"halt"')]),
    "bad digest": (('"stage": 0, "critical": true, "digest": "sha256:d', '"stage": 0, "critical": true, "digest": "md5:d'),
                   [("E102", '"digest": ', '"md5:')]),
    "empty pattern": (('"writes": ["src/**"], "reads": [], "estimate_s"', '"writes": [""], "reads": [], "estimate_s"'),
                      [("E102", '"writes": [', '""')]),
    "path as an id": (('"id": "dev"', '"id": "../dev"'), [("E102", '"id": ', '"../dev"')]),
    "bad env name": (('"env": {}}\n  ]', '"env": {"A B": "x"}}\n  ]'), [("E102", '"env": {', '"A B"')]),
    "a gate with writes": (('"on_fail": "stop"', '"on_fail": "stop", "writes": []'), [("E101", '"stop", ', '"writes"')]),
    "a task with on_fail": (('"reads": [], "estimate_s": 60, "timeout_s": null, "retries": 0, "backoff": {"initial_s": 1, "factor": 2, "max_s": 60}, "stage": 1',
                             '"reads": [], "on_fail": "stop", "estimate_s": 60, "timeout_s": null, "retries": 0, "backoff": {"initial_s": 1, "factor": 2, "max_s": 60}, "stage": 1'),
                            [("E101", '"reads": [], ', '"on_fail"')]),
    "a gate with run and approve": (('"run": "true", "on_fail"', '"run": "true", "approve": "ok?", "on_fail"'),
                                    [("E103", "\n    ", '{"id": "ship"')]),
    "another version": (('"lanes_plan": 1', '"lanes_plan": 2'), [("E102", '"lanes_plan": ', "2")]),
    "duplicate node": (('{"id": "test"', '{"id": "build"'), None),        # then also its references
    "unknown need": (('"needs": ["build"]', '"needs": ["biuld"]'), [("E201", '"needs": [', '"biuld"')]),
    "unknown agent": (('"agent": "dev", "needs": ["build"]', '"agent": "ops", "needs": ["build"]'),
                      [("E201", '"agent": ', '"ops", "needs": ["build"]')]),
    "unknown stage member": (('["test"], ["ship"]]', '["tset"], ["ship"]]'), None),
    "unknown critical node": (('"critical_path": ["build"', '"critical_path": ["biuld"'),
                              [("E201", '"critical_path": [', '"biuld"')]),
    "out of stage order": (('"stage": 1,', '"stage": 5,'), None),
    "a need in a later stage": (('"stages": [["build"], ["test"]', '"stages": [["build", "test"]'), None),
}


@pytest.mark.parametrize("name", CASES)
def test_each_problem_has_its_code_and_place(name):
    (old, new), expected = CASES[name]
    text = edited(old, new)
    got = found(text)
    assert got, name
    if expected is None:
        assert {code for code, _, _ in got} <= {"E102", "E200", "E201"}
        return
    assert got == [(code, *at(text, before, value)) for code, before, value in expected]


def test_duplicate_ids_point_back_at_the_first():
    plan, [d, *_] = read_plan(edited('{"id": "test"', '{"id": "build"'), "plan.json")
    assert (d.code, d.span.line, d.span.column) == ("E200", 7, 12)
    assert [(r.span.line, r.span.column) for r in d.related] == [(6, 12)]


def test_deep_nesting_is_refused_at_its_depth():
    text = edited('"env": {}}\n  ]', '"env": ' + "[" * 5000 + "]" * 5000 + "}\n  ]")
    [(code, line, _)] = found(text)
    assert (code, line) == ("E100", 8)


def test_drawing_lets_ids_that_are_not_ids_through_and_nothing_else():
    text = BASE.replace('"dev"', '"a b"')
    assert found(text) == [("E102", 6, 46), ("E102", 7, 45), ("E102", 15, 12)]
    assert found(text, ids=False) == []
    assert found(edited('"instances": 1', '"instances": 0', text), ids=False) == [("E102", 15, 46)]


def test_from_json_raises_the_first_problem():
    with pytest.raises(PlanError, match=r"'instances' of agent 'dev' .* \(line 15, column 46\)"):
        from_json(edited('"instances": 1', '"instances": 0'))


# --- what lanes writes, lanes reads: through the quick verdicts ---------------------------

def _quick_and_valid(text: str) -> None:
    d = json.loads(text)
    assert looks_valid(d, ids=True)
    plan = build_plan(d)
    assert invariants_hold(plan)
    jsonschema.validate(d, SCHEMA)
    assert read_plan(text, "plan.json") == (plan, [])


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.*")), ids=lambda p: p.name)
def test_every_example_plan_reads_back_the_quick_way(example):
    _quick_and_valid(lanes_cli("plan", example).stdout)


def test_a_generated_plan_reads_back_the_quick_way(tmp_path):
    import sys
    sys.path.insert(0, str(ROOT / "bench"))
    from gen_workflow import generate
    workflow, _ = generate(300)
    comp = compile_text(tmp_path, "w.yaml", workflow)
    assert not comp.has_errors
    _quick_and_valid(to_json(comp.plan))


def test_base_reads_back_the_quick_way():
    _quick_and_valid(BASE)


# --- the hand-written schema against jsonschema; the quick verdicts against the walks -------

def _doc() -> dict:
    """BASE with every optional field somewhere (node 1 is a prompt task)."""
    d = json.loads(BASE)
    d["description"] = "d"
    d["workspace"] = "worktree"
    d["limits"] = {"claude": 2, "codex": 1}
    d["max_budget_usd"] = 7.5
    d["nodes"][0].update(requires=["py"], rollback="undo", description="x", env={"A": "1"},
                         workspace="worktree", expect_changes=True)
    d["nodes"][2].pop("run")
    d["nodes"][2].update(approve="ok?", timeout_s=30.5)
    d["nodes"][1].pop("run")
    d["nodes"][1].update(prompt="Do it.", runner="claude", command='claude -p < "$LANES_PROMPT"')
    d["agents"][0].update(skills=["py"], domain="src", description="y", instances=2, runner="claude",
                          model="m-1", max_turns=3, max_budget_usd=2)
    d["agents"].append({"id": "ops", "skills": [], "instances": 1, "domain": None, "writes": [], "reads": [],
                        "env": {}, "runner": {"command": "x {prompt_file}"}})
    return d


def test_the_document_with_every_field_is_valid():
    d = _doc()
    assert shape_problems(d) == [] and VALIDATOR.is_valid(d) and looks_valid(d, ids=True)
    plan = build_plan(d)
    assert invariants_hold(plan) and build_plan(json.loads(to_json(plan))) == plan    # written back


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*path, i))


# Strings with a trailing newline are left out: jsonschema matches "pattern" with Python's
# re.search, where "$" also matches before a final newline; JSON Schema's ECMA-262 "$" does not.
VALUES = [None, True, False, 0, 1, -1, 2, 1.0, 2.5, -0.5, 10**18 - 1, 10**18, 10**400, 1e308, float("inf"),
          "", "x", "a-b", "_1", "1x", "a b", "task", "gate", "stop", "rollback", "build", D, "sha256:xyz",
          "shared", "worktree", "claude", "command", "shell", {"command": "x"}, {"claude": 1}, {"codex": 0},
          [], ["x"], [""], ["build"], [[]], [["build"]], {}, {"A": "b"}, {"1": "b"}, {"A": 1},
          {"initial_s": 1, "factor": 2, "max_s": 3}]
# fields with a value each could take, to add where they may or may not belong
FIELDS = {"id": "x", "kind": "task", "agent": "dev", "run": "true", "approve": "ok?", "on_fail": "stop",
          "writes": [], "reads": [], "rollback": "undo", "requires": [], "description": "d", "extra": 1,
          "workspace": "shared", "expect_changes": True, "prompt": "p", "runner": "claude", "command": "c",
          "model": "m", "max_turns": 1, "max_budget_usd": 0.5, "limits": {"gemini": 1}}


SOME_VALUES = [None, True, 0, -1, 1.5, float("inf"), "", "x", "a b", [], {}]


def _edited(path, op: str, value=None):
    """A fresh _doc() with one edit at `path`: "set" to value, "delete", "add" the field
    named value (with its FIELDS value) to the object there; "get" returns what is there."""
    d = _doc()
    target = d
    for k in path:
        target = target[k]
    if op == "get":
        return target
    if op == "add":
        target[value] = copy.deepcopy(FIELDS[value])
        return d
    parent = d
    for k in path[:-1]:
        parent = parent[k]
    if op == "set":
        parent[path[-1]] = copy.deepcopy(value)
    else:
        del parent[path[-1]]
    return d


def _single_edits():
    """Every value of SOME_VALUES at every place, every field deleted, every object given
    each field name."""
    for path in _paths(_doc()):
        if path:
            yield from ((path, "set", v) for v in SOME_VALUES)
        if path and isinstance(path[-1], str):
            yield path, "delete", None
        if isinstance(_edited(path, "get"), dict):
            yield from ((path, "add", f) for f in FIELDS)


def test_every_single_edit_gets_the_verdict_of_jsonschema():
    disagree = []
    for path, op, value in _single_edits():
        try:
            _verdicts(_edited(path, op, value))
        except AssertionError as exc:
            disagree.append((path, op, value, str(exc)[:200]))
    assert disagree == []


@st.composite
def mutated(draw):
    """A few edits at once."""
    d = _doc()
    for _ in range(draw(st.integers(2, 4))):
        paths = [p for p in _paths(d) if p]
        path = draw(st.sampled_from(paths))
        parent = d
        for k in path[:-1]:
            parent = parent[k]
        op = draw(st.sampled_from(["set", "delete", "add"]))
        if op == "set":
            parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(VALUES)))
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent[path[-1]], dict):
            field = draw(st.sampled_from(sorted(FIELDS)))
            parent[path[-1]][field] = copy.deepcopy(draw(st.sampled_from([FIELDS[field], *VALUES])))
        elif isinstance(parent[path[-1]], list):
            parent[path[-1]].append(copy.deepcopy(draw(st.sampled_from(VALUES))))
    return d


VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _verdicts(d) -> None:
    walk = shape_problems(d)
    assert VALIDATOR.is_valid(d) == (walk == []), walk
    if looks_valid(d, ids=True):
        assert walk == []
    text = json.dumps(d)                         # and the whole way never raises
    plan, diags = read_plan(text, "plan.json")
    assert (plan is None) == bool(diags)
    if walk == []:
        plan = build_plan(d)
        assert invariants_hold(plan) == (invariant_problems(plan) == [])


@settings(max_examples=200, deadline=None)
@given(mutated())
def test_several_edits_get_the_verdict_of_jsonschema(d):
    _verdicts(d)


@pytest.mark.parametrize("path,value", [
    (("lanes_plan",), 1.0), (("lanes_plan",), True), (("nodes", 0, "retries"), 2.0), (("nodes", 0, "stage"), 0.0),
    (("agents", 0, "instances"), 1.5), (("nodes", 2, "timeout_s"), 0), (("nodes", 0, "agent"), None),
    (("nodes", 1, "needs"), ["build", "build"]), (("agents", 0, "domain"), None), (("stages",), [["build"], []]),
    (("nodes", 0, "estimate_s"), 10**400), (("nodes", 0, "estimate_s"), 1.7976931348623157e308),
    (("estimate", "efficiency"), 1), (("nodes", 0, "env"), {"_A1": "x"}), (("nodes", 0, "writes"), ["a", ""]),
])
def test_edge_values(path, value):
    _verdicts(_edited(path, "set", value))


@st.composite
def rewired(draw):
    """A valid plan with its graph edited: needs, stages, stage lists, ids, agents."""
    d = json.loads(BASE)
    ids = ["build", "test", "ship", "other"]
    for _ in range(draw(st.integers(1, 3))):
        node = draw(st.sampled_from(d["nodes"]))
        what = draw(st.sampled_from(["needs", "stage", "id", "agent", "stages", "critical_path"]))
        if what == "needs":
            node["needs"] = draw(st.lists(st.sampled_from(ids), max_size=3))
        elif what == "stage":
            node["stage"] = draw(st.integers(0, 3))
        elif what == "id":
            node["id"] = draw(st.sampled_from(ids))
        elif what == "agent" and node["kind"] == "task":
            node["agent"] = draw(st.sampled_from(["dev", "ops"]))
        elif what == "stages":
            d["stages"] = draw(st.lists(st.lists(st.sampled_from(ids), min_size=1, max_size=3), max_size=4))
        else:
            d["critical_path"] = draw(st.lists(st.sampled_from(ids), max_size=3))
    return d


@settings(max_examples=300, deadline=None)
@given(rewired())
def test_the_quick_invariants_agree_with_the_walk(d):
    assert shape_problems(d) == []
    plan = build_plan(d)
    problems = invariant_problems(plan)
    assert invariants_hold(plan) == (problems == [])
    found(json.dumps(d))                         # positions found for every problem, nothing raised


def test_hostile_strings_in_a_plan_stay_text(tmp_path):
    p = write(tmp_path, "w.yaml", 'workflow: w\nagents: {a: {}}\ntasks: {t: {agent: a, run: "touch pwned"}}\n')
    plan = json.loads(lanes_cli("plan", p).stdout)
    plan["nodes"][0]["needs"] = ["t"]                        # a cycle: refused before anything runs
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    r = lanes_cli("run", tmp_path / "plan.json", "--state", tmp_path / "state", cwd=tmp_path)
    assert r.returncode == 2 and "E202" in r.stderr
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "state").exists()
