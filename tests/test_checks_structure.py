"""E101-E103 and E200-E203 in both forms, each with its line and column."""
from __future__ import annotations

from helpers import codes, compile_text
import pytest

CASES = {
    "E101 unknown field with suggestion": (
        """
        workflow: w
        agents:
          a: {domian: {writes: ["x/**"]}}
        tasks:
          t: {agent: a, run: "true"}
        """,
        """
        workflow w
        agent a { domian "x" }
        task t by a { run "true" }
        """,
        "E101", (3, 7), (2, 11), "did you mean 'domain'"),
    "E102 bad duration": (
        """
        workflow: w
        agents: {a: {}}
        tasks:
          t: {agent: a, run: "true", timeout: 5 minutes}
        """,
        """
        workflow w
        agent a { skills x }
        task t by a { run "true"; timeout 5minutes }
        """,
        "E102", (4, 39), (3, 35), "not a duration"),
    "E102 bad on_fail": (
        """
        workflow: w
        agents: {a: {}}
        tasks:
          t: {agent: a, run: "true"}
        gates:
          g: {needs: [t], run: "true", on_fail: rollbak}
        """,
        """
        workflow w
        agent a { skills x }
        task t by a { run "true" }
        gate g needs t { run "true"; on_fail rollbak }
        """,
        "E102", (6, 41), (4, 38), "did you mean 'rollback'"),
    "E102 bad instances": (
        """
        workflow: w
        agents: {a: {instances: 0}}
        tasks:
          t: {agent: a, run: "true"}
        """,
        """
        workflow w
        agent a { instances 0 }
        task t by a { run "true" }
        """,
        "E102", (2, 25), (2, 21), "instances"),
    "E103 both agent and requires": (
        """
        workflow: w
        agents: {a: {skills: [x]}}
        tasks:
          t: {agent: a, requires: [x], run: "true"}
        """,
        """
        workflow w
        agent a { skills x }
        task t by a requires x { run "true" }
        """,
        "E103", (4, 17), (3, 13), "exactly one of"),
    "E103 gate with neither run nor approve": (
        """
        workflow: w
        agents: {a: {}}
        tasks:
          t: {agent: a, run: "true"}
        gates:
          g: {needs: [t]}
        """,
        """
        workflow w
        agent a { skills x }
        task t by a { run "true" }
        gate g needs t
        """,
        "E103", (6, 3), (4, 6), "exactly one of 'run' and 'approve'"),
    "E200 task and gate share a namespace": (
        """
        workflow: w
        agents: {a: {}}
        tasks:
          t: {agent: a, run: "true"}
        gates:
          t: {needs: [t], run: "true"}
        """,
        """
        workflow w
        agent a { skills x }
        task t by a { run "true" }
        gate t needs t { run "true" }
        """,
        "E200", (6, 3), (4, 6), "duplicate id 't'"),
    "E201 undefined agent with suggestion": (
        """
        workflow: w
        agents: {backend: {}}
        tasks:
          t: {agent: backnd, run: "true"}
        """,
        """
        workflow w
        agent backend { skills x }
        task t by backnd { run "true" }
        """,
        "E201", (4, 14), (3, 11), "did you mean 'backend'"),
    "E203 no agent has the skill": (
        """
        workflow: w
        agents: {a: {skills: [python]}}
        tasks:
          t: {requires: [rust], run: "true"}
        """,
        """
        workflow w
        agent a { skills python }
        task t requires rust { run "true" }
        """,
        "E203", (4, 18), (3, 17), "'rust'"),
}


@pytest.mark.parametrize("form", ["yaml", "lanes"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_code_with_position(tmp_path, case, form):
    yaml_text, lanes_text, code, yaml_pos, lanes_pos, words = CASES[case]
    text, pos = (yaml_text, yaml_pos) if form == "yaml" else (lanes_text, lanes_pos)
    comp = compile_text(tmp_path, f"w.{form}", text)
    found = [d for d in comp.diagnostics if d.code == code]
    assert found, comp.diagnostics
    assert (found[0].span.line, found[0].span.column) == pos, found[0]
    assert words in found[0].message


@pytest.mark.parametrize("form", ["yaml", "lanes"])
def test_cycle_listed_in_order(tmp_path, form):
    text = {
        "yaml": """
            workflow: w
            agents: {a: {instances: 3}}
            tasks:
              x: {agent: a, run: "true", needs: [z]}
              y: {agent: a, run: "true", needs: [x]}
              z: {agent: a, run: "true", needs: [y]}
              free: {agent: a, run: "true", needs: [x]}
            """,
        "lanes": """
            workflow w
            agent a { instances 3 }
            task x by a needs z { run "true" }
            task y by a needs x { run "true" }
            task z by a needs y { run "true" }
            task free by a needs x { run "true" }
            """}[form]
    comp = compile_text(tmp_path, f"w.{form}", text)
    cyc = [d for d in comp.diagnostics if d.code == "E202"]
    assert len(cyc) == 1
    assert "x -> z -> y -> x" in cyc[0].message
    assert (cyc[0].span.line, cyc[0].span.column) == ((4, 3) if form == "yaml" else (3, 6))
    assert comp.plan is not None          # cut, still drawable


def test_every_problem_reported_sorted(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", """
        workflow: w
        agents:
          a: {skils: [x]}
        tasks:
          t1: {agent: b, run: "true", estimate: soon}
          t2: {agent: a, needs: [t3]}
        """)
    assert codes(comp) == [("E101", 3, 7), ("E201", 5, 15), ("E102", 5, 41), ("E103", 6, 3),
                           ("E201", 6, 26)]


def test_self_need_is_a_cycle(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", """
        workflow: w
        agents: {a: {}}
        tasks:
          t: {agent: a, run: "true", needs: [t]}
        """)
    assert [d.code for d in comp.diagnostics] == ["E202"]
    assert "t -> t" in comp.diagnostics[0].message


def test_missing_workflow_id(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", """
        agents: {a: {}}
        """)
    assert ("E103", 1, 1) in codes(comp)


def test_bad_id(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", """
        workflow: w
        agents: {a: {}}
        tasks:
          9lives: {agent: a, run: "true"}
        """)
    assert ("E102", 4, 3) in codes(comp)
