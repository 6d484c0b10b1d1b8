"""Task pools: `for_each` templates expanded before any check (SPEC section 10)."""
from __future__ import annotations

import json

from helpers import codes, compile_text, lanes_cli, write

import lanes.api as api
from lanes.dsl.fmt import to_lanes, to_yaml

YAML = """
workflow: pools
domains:
  ops: {writes: ["port:*", "logs/**"]}
agents:
  ops: {domain: ops, instances: 8}
tasks:
  build: {agent: ops, run: echo build}
  restore:
    for_each: {port: [8000, 8001], region: [eu, us]}
    agent: ops
    needs: [build]
    run: echo "restore {port} in {region} ${port}"
    description: "{region} on {port}"
    rollback: echo undo {port}
    writes: ["port:{port}-{region}", "logs/{region}-{port}.log"]
    env: {PORT: "{port}"}
  check:
    for_each: {port: [8000, 8001]}
    agent: ops
    needs: ["restore-{port}-eu"]
    run: echo "check {port} {a,b}"
    reads: ["port:{port}"]
gates:
  smoke: {needs: [restore, check], run: "true"}
"""

LANES = """
workflow pools
domain ops { writes "port:*", "logs/**" }
agent ops { domain ops; instances 8 }
task build by ops { run "echo build" }
task restore for port in 8000, 8001 for region in eu, us by ops needs build {
  run "echo \\"restore {port} in {region} ${port}\\""
  description "{region} on {port}"
  rollback "echo undo {port}"
  writes "port:{port}-{region}", "logs/{region}-{port}.log"
  env { PORT "{port}" }
}
task check for port in 8000, 8001 by ops needs "restore-{port}-eu" { run "echo \\"check {port} {a,b}\\""; reads "port:{port}" }
gate smoke needs restore, check { run "true" }
"""


def nodes(comp):
    return {n.id: n for n in comp.plan.nodes}


def test_one_task_per_item_with_every_field_substituted(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", YAML)
    assert comp.diagnostics == ()
    n = nodes(comp)
    assert sorted(n) == ["build", "check-8000", "check-8001", "restore-8000-eu", "restore-8000-us",
                         "restore-8001-eu", "restore-8001-us", "smoke"]
    r = n["restore-8001-us"]
    assert r.run == 'echo "restore 8001 in us ${port}"'      # `${port}` stays the shell's
    assert r.description == "us on 8001"
    assert r.rollback == "echo undo 8001"
    assert r.writes == ("port:8001-us", "logs/us-8001.log")
    assert dict(r.env) == {"PORT": "8001"}
    assert r.needs == ("build",)
    c = n["check-8001"]
    assert c.needs == ("restore-8001-eu",) and c.reads == ("port:8001",)
    assert c.run == 'echo "check 8001 {a,b}"'               # not a key: left alone
    assert n["smoke"].needs == ("restore-8000-eu", "restore-8000-us", "restore-8001-eu", "restore-8001-us",
                                "check-8000", "check-8001")


def test_both_forms_give_the_same_plan(tmp_path):
    a = compile_text(tmp_path, "w.yaml", YAML)
    b = compile_text(tmp_path, "w.lanes", LANES)
    assert a.diagnostics == b.diagnostics == ()
    assert [n.digest for n in a.plan.nodes] == [n.digest for n in b.plan.nodes]
    assert a.loaded.workflow == b.loaded.workflow


def test_fmt_keeps_the_template(tmp_path):
    wf = api.load(write(tmp_path, "w.yaml", YAML)).workflow
    text = to_lanes(wf)
    assert "task restore for port in 8000, 8001 for region in eu, us by ops needs build {" in text
    assert "restore-8000" not in text
    assert "for_each: {port: [8000, 8001], region: [eu, us]}" in to_yaml(wf)
    for form, out in (("lanes", text), ("yaml", to_yaml(wf))):
        again = api.load(write(tmp_path, f"again.{form}", out)).workflow
        assert again == wf


def test_the_restore_example_is_a_pool_in_both_forms(tmp_path):
    out = {}
    for form in ("yaml", "lanes"):
        r = lanes_cli("plan", f"examples/restore.{form}")
        assert r.returncode == 0, r.stderr
        out[form] = json.loads(r.stdout)
        out[form].pop("source_digest")
    assert out["yaml"] == out["lanes"]
    ids = [n["id"] for n in out["yaml"]["nodes"]]
    assert {"accounts-8100", "accounts-8101", "accounts-8102", "billing-8200", "search-8302"} <= set(ids)
    assert out["yaml"]["pools"]["accounts"] == ["accounts-8100", "accounts-8101", "accounts-8102"]


def test_a_conflict_between_two_expansions_names_both_items(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", """
        workflow: w
        agents:
          ops: {domain: {writes: ["port:*"]}, instances: 2}
        tasks:
          restore:
            for_each: {svc: [api, web]}
            agent: ops
            run: echo {svc}
            writes: ["port:8000"]
        """)
    [d] = comp.diagnostics
    assert (d.code, d.span.line, d.span.column) == ("E300", 5, 3)     # the template
    assert "'restore-api'" in d.message and "'restore-web'" in d.message and d.witness == "port:8000"
    notes = [r.message for r in d.related if "for_each item" in r.message]
    assert notes == ["'restore-api' is for_each item svc=api of template 'restore'",
                     "'restore-web' is for_each item svc=web of template 'restore'"]
    assert [(r.span.line, r.span.column) for r in d.related if "for_each item" in r.message] == [(6, 22), (6, 27)]


def test_bad_items_and_shapes_are_e102_at_the_place(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", """
        workflow: w
        agents:
          ops: {domain: {writes: ["x/**"]}}
        tasks:
          a: {for_each: {v: [ok, "a.b", "x y"]}, agent: ops, run: "true"}
          b: {for_each: [1, 2], agent: ops, run: "true"}
          c: {for_each: {v: []}, agent: ops, run: "true"}
          d: {for_each: {v: [x], v: [y]}, agent: ops, run: "true"}
        """)
    assert codes(comp) == [("E102", 5, 26), ("E102", 5, 33), ("E102", 6, 17), ("E102", 7, 21),
                           ("E102", 8, 26)]


def test_grammar_errors_are_diagnostics(tmp_path):
    comp = compile_text(tmp_path, "w.lanes", """
        workflow w
        agent ops { writes "x/**" }
        task a for v 1, 2 by ops { run "true" }
        """)
    [d] = comp.diagnostics
    assert (d.code, d.span.line, d.span.column) == ("E100", 3, 14)
    assert "expected 'in'" in d.message


def test_an_expanded_need_that_is_no_id_and_a_template_named_twice(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", """
        workflow: w
        agents:
          ops: {domain: {writes: ["x/**"]}}
        tasks:
          a: {for_each: {v: ["1"]}, agent: ops, run: "true", needs: ["{v}"]}
        gates:
          a: {needs: [a], run: "true"}
        """)
    assert [c for c, *_ in codes(comp)] == ["E102", "E200"]
    assert "'a-1' (v=1)" in comp.diagnostics[0].message


def test_ids_of_expansions_clash_with_a_task(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", """
        workflow: w
        agents:
          ops: {domain: {writes: ["x/**"]}}
        tasks:
          a: {for_each: {v: [1, 2]}, agent: ops, run: "true"}
          a-1: {agent: ops, run: "true"}
        """)
    assert [c for c, *_ in codes(comp)] == ["E200"]


def test_the_same_fault_in_every_expansion_is_reported_once_with_a_count(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", """
        workflow: w
        agents:
          ops: {domain: {writes: ["x/**"]}}
        tasks:
          t: {agent: ops, run: "true"}
          a: {for_each: {p: [1, 2, 3]}, requires: [nope], run: "echo {p}"}
        """)
    [d] = comp.diagnostics
    assert (d.code, d.span.line, d.span.column) == ("E203", 6, 44)
    assert "'a-1'" in d.message
    assert [r.message for r in d.related] == ["'a-1' is for_each item p=1 of template 'a'",
                                              "the same in 2 more tasks of the for_each"]


def test_the_block_form_and_a_single_item(tmp_path):
    comp = compile_text(tmp_path, "w.lanes", """
        workflow w
        agent ops { writes "port:*" }
        task restore by ops {
          for_each { port 8000, 8001 }
          run "echo {port}"; writes "port:{port}"
        }
        task one for port in 9000 by ops { run "echo {port}"; writes "port:{port}" }
        """)
    assert comp.diagnostics == ()
    assert sorted(nodes(comp)) == ["one-9000", "restore-8000", "restore-8001"]
    assert "task restore for port in 8000, 8001 by ops {" in to_lanes(comp.loaded.workflow)
