"""The builder's and the resolver's shortcuts for the usual task (agent, run and needs of
earlier tasks) say exactly what the long way says when a task is not the usual one:
forward needs, invalid ids, a list or a null among the needs, rarer fields with a bad
value, an undefined agent, a prompt task, a gate with empty needs."""
from __future__ import annotations

import dataclasses

from helpers import codes, compile_text, write

from lanes.dsl import build
from lanes.dsl.loader import parse_source
from lanes.dsl.raw import Scalar
from lanes.dsl.source import read_source
from lanes.dsl.yaml_front import parse_yaml

UNUSUAL = """
    workflow: w
    agents:
      a: {domain: {writes: ["src/**"]}}
    tasks:
      first: {agent: a, run: "true", needs: [later, 9bad, [x], first, ~]}
      later: {agent: a, run: "true", needs: [first], timeout: 5m, estimate: soon}
      third: {agent: nobody, run: "true", needs: later}
      fourth: {agent: a, prompt: "p", needs: [third, third]}
    gates:
      g: {needs: [], run: "true"}
      h: {needs: ~, run: "true"}
"""


def test_unusual_tasks_get_every_diagnostic_in_place(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", UNUSUAL)
    assert codes(comp) == [
        ("E202", 5, 3),           # first -> first (the later edges of a cycle are cut)
        ("E102", 5, 49),          # 9bad is not an id
        ("E102", 5, 55),          # a list among the needs
        ("E102", 5, 67),          # a null among the needs
        ("E102", 6, 73),          # estimate 'soon'
        ("E201", 7, 18),          # agent 'nobody'
        ("E103", 8, 30),          # a prompt for a shell agent
        ("E103", 10, 7),          # gate g: empty needs
        ("E103", 11, 7),          # gate h: null needs
    ]
    nodes = comp.model.node_by_id
    assert nodes["first"].needs == ()           # in the cycle, only needs of earlier nodes stay
    assert nodes["later"].needs == ("first",) and nodes["later"].timeout_s == 300
    assert nodes["third"].agent is None and nodes["third"].needs == ("later",)
    assert nodes["fourth"].needs == ("third", "third") and nodes["fourth"].prompt == "p"
    assert [n.id for n in comp.model.tasks] == ["first", "later", "third", "fourth"]


def test_usual_tasks_keep_their_fields(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", """
        workflow: w
        agents:
          a: {domain: {writes: ["src/**"]}}
        tasks:
          one: {agent: a, run: "make one"}
          two: {agent: a, run: "make two", needs: [one]}
          three: {agent: a, run: "make three", needs: [one, two], writes: ["src/x/**"], retries: 2}
    """)
    assert codes(comp) == []
    one, two, three = comp.model.tasks
    assert (one.needs, two.needs, three.needs) == ((), ("one",), ("one", "two"))
    assert one.run == "make one" and one.domain.write_texts == ("src/**",) and not one.own_domain
    assert three.own_domain and three.domain.write_texts == ("src/x/**",) and three.retries == 2


def test_a_raw_scalar_is_a_value_and_a_span(tmp_path):
    raw, diags = parse_yaml("workflow: w\n", "w.yaml")
    assert diags == [] and raw is not None
    key, value = raw.entries[0]
    assert isinstance(key, Scalar) and (key.value, value.value) == ("workflow", "w")
    assert (value.span.line, value.span.column, value.span.end_column) == (1, 11, 12)
    source, _ = read_source(str(write(tmp_path, "w.yaml", "workflow: w\n")))
    assert source is not None and parse_source(source)[0] is not None


USUAL_SHAPES = """
    workflow: w
    agents:
      a: {domain: {writes: ["src/**"]}}
    tasks:
      t1: {agent: a, run: "make"}
      t2: {run: "make", agent: a, needs: [t1]}
      t3: {agent: a, agent: b, run: x}
      t4: {agent: 9x, run: [x], needs: [t1, 9bad, [y], ~]}
      t5: {agent: ~, run: ~, needs: ~}
      t6: {needs: [t5], run: "true", agent: nobody}
      t7: {agent: a, run: x, needs: [t6], timeout: 5m}
      t8: {agent: a, needs: [t7]}
      t9: {agent: a, run: x, run: y}
      t10: {agent: {x: 1}, run: {y: 2}, needs: {z: 3}}
      t11: [a, b]
      t12: ~
      t13: {agent: a, run: x, needs: later}
      later: {agent: a, run: x, needs: [t13, t13]}
      ~: {agent: a, run: x}
"""


def _deep(x):
    """A node with every field, spans included (the AST's equality leaves spans out)."""
    if dataclasses.is_dataclass(x):
        return type(x).__name__, tuple((f.name, _deep(getattr(x, f.name))) for f in dataclasses.fields(x))
    return tuple(map(_deep, x)) if isinstance(x, tuple) else x


def test_the_usual_task_is_built_as_the_long_way_builds_it(tmp_path, monkeypatch):
    """_Builder.usual_task (agent, run and needs, each once) gives the very task, spans and
    diagnostics that the long way gives, for usual tasks and for all the near misses."""
    source, _ = read_source(str(write(tmp_path, "w.yaml", USUAL_SHAPES)))
    assert source is not None
    short = parse_source(source)
    monkeypatch.setattr(build._Builder, "usual_task", lambda self, ident, node: None)
    long = parse_source(source)
    assert short[0] is not None and _deep(short[0]) == _deep(long[0]) and short[1] == long[1]
    assert len(short[1]) > 5
