"""The domain proof through the whole compiler: E300-E303, W400, W401."""
from __future__ import annotations

from helpers import codes, compile_text

from lanes.compiler.patterns import matches

SPEC_E300 = """
workflow: release
agents:
  backend: {domain: {writes: ["src/api/**"]}}
  tester:  {domain: {writes: ["src/**/test_*.py"]}}
tasks:
  api:   {agent: backend, run: "make api"}
  tests: {agent: tester, run: "pytest"}
"""


def test_write_write_overlap_names_both_and_a_witness(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", SPEC_E300)
    [d] = [d for d in comp.diagnostics if d.code == "E300"]
    assert (d.span.line, d.span.column) == (7, 3)            # the later task
    assert "'api' and 'tests'" in d.message
    assert matches("src/api/**", d.witness) and matches("src/**/test_*.py", d.witness)
    assert d.witness in d.message
    assert [(r.span.line, r.span.column) for r in d.related[:2]] == [(3, 31), (4, 31)]
    assert "src/api/**" in d.related[0].message and "agent backend" in d.related[0].message
    assert "neither needs the other" in d.related[2].message
    assert set(d.nodes) == {"api", "tests"}


def test_write_write_overlap_in_grammar_form(tmp_path):
    comp = compile_text(tmp_path, "w.lanes", """
        workflow release
        agent backend { writes "src/api/**" }
        agent tester { writes "src/**/test_*.py" }
        task api by backend { run "make api" }
        task tests by tester { run "pytest" }
        """)
    assert [c for c in codes(comp) if c[0] == "E300"] == [("E300", 5, 6)]


def test_ordered_tasks_do_not_conflict_but_warn_w401(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", SPEC_E300.replace('run: "pytest"}', 'run: "pytest", needs: [api]}'))
    assert [d.code for d in comp.diagnostics] == ["W401"]
    assert not comp.has_errors
    assert matches("src/api/**", comp.diagnostics[0].witness)


def test_ordering_through_a_gate_counts(tmp_path):
    gate = 'gates:\n  g: {needs: [api], run: "true"}\n'
    beside = compile_text(tmp_path, "a.yaml", SPEC_E300 + gate)
    assert [d.code for d in beside.diagnostics] == ["E300"]
    after = compile_text(tmp_path, "b.yaml",
                         SPEC_E300.replace('run: "pytest"}', 'run: "pytest", needs: [g]}') + gate)
    assert [d.code for d in after.diagnostics] == ["W401"]


def test_same_single_lane_never_conflicts_but_instances_do(tmp_path):
    text = """
        workflow: w
        agents:
          a: {domain: {writes: ["src/**"]}, instances: %d}
        tasks:
          one: {agent: a, run: "true"}
          two: {agent: a, run: "true"}
        """
    assert not compile_text(tmp_path, "a.yaml", text % 1).has_errors
    comp = compile_text(tmp_path, "b.yaml", text % 2)
    [d] = comp.diagnostics
    assert d.code == "E300" and "instances" in d.related[2].message


def test_write_read_overlap(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", """
        workflow: w
        agents:
          writer: {domain: {writes: ["contracts/*.yaml"]}}
          reader: {domain: {writes: ["src/**"], reads: ["contracts/**"]}}
        tasks:
          write: {agent: writer, run: "true"}
          read: {agent: reader, run: "true"}
        """)
    [d] = comp.diagnostics
    assert d.code == "E301"
    assert matches("contracts/*.yaml", d.witness) and matches("contracts/**", d.witness)


def test_different_schemes_never_overlap(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", """
        workflow: w
        agents:
          a: {domain: {writes: ["port:8000"]}}
          b: {domain: {writes: ["db:8000", "8000"]}}
        tasks:
          x: {agent: a, run: "true"}
          y: {agent: b, run: "true"}
        """)
    assert comp.diagnostics == ()


def test_task_domain_outside_agent_domain(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", """
        workflow: w
        agents:
          a: {domain: {writes: ["src/api/**"]}}
        tasks:
          t: {agent: a, run: "true", domain: {writes: ["src/**"]}}
        """)
    [d] = comp.diagnostics
    assert d.code == "E302"
    assert (d.span.line, d.span.column) == (5, 48)
    assert matches("src/**", d.witness) and not matches("src/api/**", d.witness)


def test_task_domain_inside_agent_domain_by_union(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", """
        workflow: w
        agents:
          a: {domain: {writes: ["a/[!x]*", "a/x*"]}}
        tasks:
          t: {agent: a, run: "true", domain: {writes: ["a/*"]}}
        """)
    assert comp.diagnostics == ()


def test_escaping_patterns(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", """
        workflow: w
        domains:
          d: {writes: ["/etc/passwd", "src/../../x", "ok/**"]}
        agents:
          a: {domain: d}
        tasks:
          t: {agent: a, run: "true"}
        """)
    assert codes(comp) == [("E303", 3, 16), ("E303", 3, 31)]


def test_unused_agent_and_domain(tmp_path):
    comp = compile_text(tmp_path, "w.lanes", """
        workflow w
        domain spare { writes "x/**" }
        agent idle { writes "y/**" }
        agent busy { writes "z/**" }
        task t by busy { run "true" }
        """)
    assert codes(comp) == [("W400", 2, 23), ("W400", 3, 7)]
    assert not comp.has_errors


def test_routing_goes_to_least_loaded_agent(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", """
        workflow: w
        agents:
          a: {skills: [py], domain: {writes: ["a/**"]}}
          b: {skills: [py], domain: {writes: ["b/**"]}}
        tasks:
          big:  {agent: a, run: "true", estimate: 10m}
          one:  {requires: [py], run: "true", estimate: 1m}
          two:  {requires: [py], run: "true", estimate: 1m, needs: [one]}
        """)
    assert not comp.has_errors
    agents = {n.id: n.agent for n in comp.plan.nodes}
    assert agents == {"big": "a", "one": "b", "two": "b"}
    assert comp.plan.node_by_id["one"].requires == ("py",)


def test_tasks_whose_agent_is_undefined_still_get_their_conflict(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", """
        workflow: w
        agents: {a: {}}
        tasks:
          t: {agent: b, run: "true", domain: {writes: ["x/**"]}}
          u: {agent: b, run: "true", domain: {writes: ["x/**"]}}
        """)
    assert codes(comp) == [("W400", 2, 10), ("E201", 4, 14), ("E300", 5, 3), ("E201", 5, 14)]
    assert "neither has an agent" in comp.diagnostics[2].related[2].message
