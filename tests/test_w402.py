"""W402: an `on_fail: rollback` gate with nothing to undo, in both forms, and held to the
runtime's own choice of what a failed rollback gate undoes."""
from __future__ import annotations

import json

from helpers import codes, compile_text, lanes_cli, write
from hypothesis import given, settings, strategies as st

from lanes.runtime.run import rollback_targets

NOTHING_TO_UNDO_YAML = """
workflow: w
agents: {a: {}}
tasks:
  t: {agent: a, run: "true"}
gates:
  g: {needs: [t], run: "true", on_fail: rollback}
"""

NOTHING_TO_UNDO_LANES = """
workflow w
agent a { skills x }
task t by a { run "true" }
gate g needs t { run "true"; on_fail rollback }
"""


def test_yaml_form_points_at_the_on_fail_value(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", NOTHING_TO_UNDO_YAML)
    assert codes(comp) == [("W402", 6, 41)]
    d = comp.diagnostics[0]
    assert d.severity == "warning" and "gate 'g'" in d.message and "nothing to undo" in d.message
    assert [(r.span.line, r.span.column) for r in d.related] == [(6, 3)]      # the gate itself
    assert not comp.has_errors


def test_grammar_form_points_at_the_on_fail_value(tmp_path):
    comp = compile_text(tmp_path, "w.lanes", NOTHING_TO_UNDO_LANES)
    assert codes(comp) == [("W402", 4, 38)]
    assert [(r.span.line, r.span.column) for r in comp.diagnostics[0].related] == [(4, 6)]


def test_cli_reports_it_as_a_warning_and_exits_0(tmp_path):
    p = write(tmp_path, "w.yaml", NOTHING_TO_UNDO_YAML)
    r = lanes_cli("check", p, "--format", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert (out["errors"], out["warnings"]) == (0, 1)
    assert [(d["code"], d["severity"], d["line"], d["column"]) for d in out["diagnostics"]] == \
        [("W402", "warning", 6, 41)]


def test_the_walk_stops_at_the_previous_gate(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", """
        workflow: w
        agents: {a: {}}
        tasks:
          t1: {agent: a, run: "true", rollback: "git checkout -- ."}
          t2: {agent: a, needs: [g1], run: "true"}
        gates:
          g1: {needs: [t1], run: "true", on_fail: rollback}
          g2: {needs: [t2], run: "true", on_fail: rollback}
        """)
    assert codes(comp) == [("W402", 8, 43)]            # g2: t1 lies behind g1
    assert "gate 'g2'" in comp.diagnostics[0].message


def test_no_warning_when_a_guarded_task_can_be_undone(tmp_path):
    # the task with a rollback is two tasks upstream of the gate; the other gates do not roll back
    comp = compile_text(tmp_path, "w.yaml", """
        workflow: w
        agents: {a: {}}
        tasks:
          t1: {agent: a, run: "true", rollback: "git checkout -- ."}
          t2: {agent: a, needs: [t1], run: "true"}
          t3: {agent: a, run: "true"}
        gates:
          g: {needs: [t2, t3], run: "true", on_fail: rollback}
          s: {needs: [t3], run: "true", on_fail: stop}
          c: {needs: [t3], run: "true"}
        """)
    assert codes(comp) == []
    comp = compile_text(tmp_path, "w.lanes", """
        workflow w
        agent a { skills x }
        task t1 by a { run "true"; rollback "undo" }
        task t2 by a needs t1 { run "true" }
        gate g needs t2 { run "true"; on_fail rollback }
        """)
    assert codes(comp) == []


@st.composite
def workflows(draw):
    """A random DAG of tasks and gates (each node needs some earlier ones, a gate at least
    one), the first node a task, some tasks with a rollback, every gate rolling back."""
    size = draw(st.integers(1, 9))
    lines = ["workflow: w", "agents: {a: {instances: 9}}", "tasks:"]
    gates = []
    for i in range(size):
        is_gate = i > 0 and draw(st.booleans())
        needs = draw(st.lists(st.integers(0, i - 1), min_size=is_gate, max_size=3, unique=True)) if i else []
        needs_text = ", ".join(f"n{j}" for j in needs)
        if is_gate:
            gates.append(f"  n{i}: {{needs: [{needs_text}], run: 'true', on_fail: rollback}}")
        else:
            undo = ", rollback: undo" if draw(st.booleans()) else ""
            lines.append(f"  n{i}: {{agent: a, needs: [{needs_text}], run: 'true'{undo}}}")
    return "\n".join(lines + ["gates:", *gates] if gates else lines) + "\n"


@settings(max_examples=60, deadline=None)
@given(workflows())
def test_warned_exactly_when_the_runtime_would_undo_nothing(tmp_path_factory, text):
    comp = compile_text(tmp_path_factory.mktemp("w"), "w.yaml", text)
    assert not comp.has_errors, comp.diagnostics
    plan = comp.plan
    succeeded = {n.id: "succeeded" for n in plan.nodes}
    completed = {n.id: float(i) for i, n in enumerate(plan.nodes)}
    nothing = {n.id for n in plan.nodes if n.is_gate and n.on_fail == "rollback"
               and not rollback_targets(plan, succeeded, completed, n)}
    assert {d.nodes[0] for d in comp.diagnostics if d.code == "W402"} == nothing
