"""The fields of v2 (SPEC sections 2, 8, 9) in both forms: AST, model, plan, diagnostics."""
from __future__ import annotations

import json

import jsonschema
import pytest

from helpers import codes, compile_text, lanes_cli, write
from lanes.compiler.planfile import from_json, to_json

SCHEMA = json.loads(lanes_cli("schema", "plan").stdout)


def found(comp) -> list[tuple[str, int, int]]:
    """The diagnostics but W400 (the snippets leave agents without tasks)."""
    return [c for c in codes(comp) if c[0] != "W400"]


def plan_of(tmp_path, name, text, *, git=True):
    if git:
        (tmp_path / ".git").mkdir(exist_ok=True)
    comp = compile_text(tmp_path, name, text)
    assert not [d for d in comp.diagnostics if d.is_error], comp.diagnostics
    d = json.loads(to_json(comp.plan))
    jsonschema.validate(d, SCHEMA)
    assert from_json(to_json(comp.plan)) == comp.plan
    return comp, d


# --- workspaces (section 8) ----------------------------------------------------------------

WORKSPACES_YAML = """
workflow: w
workspace: worktree
agents:
  a: {workspace: shared}
  b: {}
tasks:
  t: {agent: a, run: "true"}
  u: {agent: b, run: "true", expect_changes: true}
  v: {agent: b, run: "true", expect_changes: false}
gates:
  g: {needs: [t, u], run: "true"}
"""

WORKSPACES_LANES = """
workflow w
workspace worktree
agent a { workspace shared }
agent b {}
task t by a { run "true" }
task u by b { run "true"; expect_changes true }
task v by b { run "true"; expect_changes false }
gate g needs t, u { run "true" }
"""


@pytest.mark.parametrize("name,text", [("w.yaml", WORKSPACES_YAML), ("w.lanes", WORKSPACES_LANES)])
def test_workspaces_in_the_plan(tmp_path, name, text):
    comp, d = plan_of(tmp_path, name, text)
    assert comp.diagnostics == ()
    assert d["workspace"] == "worktree"
    nodes = {n["id"]: n for n in d["nodes"]}
    assert nodes["t"]["workspace"] == "shared"             # the agent's own
    assert nodes["u"]["workspace"] == "worktree"           # the workflow's
    assert nodes["u"]["expect_changes"] is True
    assert "expect_changes" not in nodes["v"] and "expect_changes" not in nodes["t"]
    assert "workspace" not in nodes["g"]
    assert comp.plan.node_by_id["u"].expect_changes and comp.plan.workspace == "worktree"


def test_both_forms_agree(tmp_path):
    (tmp_path / ".git").mkdir()
    a = json.loads(to_json(compile_text(tmp_path, "w.yaml", WORKSPACES_YAML).plan))
    b = json.loads(to_json(compile_text(tmp_path, "w.lanes", WORKSPACES_LANES).plan))
    assert a.pop("source_digest") != b.pop("source_digest")
    assert a == b


def test_a_v1_workflow_is_shared_and_keeps_its_digests(tmp_path):
    v1 = 'workflow: w\nagents: {a: {}}\ntasks:\n  t: {agent: a, run: "true"}\n'
    _, d = plan_of(tmp_path, "w.yaml", v1)
    _, shared = plan_of(tmp_path, "s.yaml", v1 + "workspace: shared\n")
    assert d["workspace"] == "shared" and d["nodes"][0]["workspace"] == "shared"
    assert d["nodes"][0]["digest"] == shared["nodes"][0]["digest"]
    _, worktree = plan_of(tmp_path, "x.yaml", v1 + "workspace: worktree\n")
    assert d["nodes"][0]["digest"] != worktree["nodes"][0]["digest"]


@pytest.mark.parametrize("name,text,where", [
    ("w.yaml", "workflow: w\nworkspace: worktre\n", (2, 12)),
    ("w.yaml", "workflow: w\nagents: {a: {workspace: [shared]}}\n", (2, 25)),
    ("w.lanes", "workflow w\nagent a { workspace shard }\n", (2, 21)),
])
def test_a_bad_workspace_is_e102(tmp_path, name, text, where):
    comp = compile_text(tmp_path, name, text)
    assert ("E102", *where) in codes(comp)


def test_the_message_suggests_the_near_value(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", "workflow: w\nworkspace: worktre\n")
    [d] = [d for d in comp.diagnostics if d.code == "E102"]
    assert d.message == "workspace must be one of shared, worktree, not 'worktre' (did you mean 'worktree'?)"


@pytest.mark.parametrize("name,text,where", [
    ("w.yaml", 'workflow: w\nagents: {a: {}}\ntasks: {t: {agent: a, run: "true", expect_changes: yes}}\n',
     (3, 52)),
    ("w.lanes", 'workflow w\nagent a {}\ntask t by a { run "true"; expect_changes 1 }\n', (3, 42)),
])
def test_expect_changes_is_true_or_false(tmp_path, name, text, where):
    comp = compile_text(tmp_path, name, text)
    assert codes(comp) == [("E102", *where)]
    assert "expect_changes must be true or false" in comp.diagnostics[0].message


def test_w403_worktree_outside_a_git_repository(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", WORKSPACES_YAML)
    assert codes(comp) == [("W403", 2, 12)]
    d = comp.diagnostics[0]
    assert d.severity == "warning" and "not inside a git repository" in d.message
    assert not comp.has_errors


def test_w403_points_at_the_first_agent_and_names_the_others(tmp_path):
    comp = compile_text(tmp_path, "w.lanes", """
        workflow w
        agent a { workspace worktree }
        agent b { workspace worktree }
        agent c { workspace shared }
        """)
    assert found(comp) == [("W403", 2, 21)]
    [d] = [d for d in comp.diagnostics if d.code == "W403"]
    assert d.message.startswith("agent 'a' has workspace: worktree")
    assert [(r.span.line, r.span.column) for r in d.related] == [(3, 21)]


def test_no_w403_inside_a_repository_or_a_linked_worktree(tmp_path):
    inner = tmp_path / "repo" / "sub"
    inner.mkdir(parents=True)
    (tmp_path / "repo" / ".git").write_text("gitdir: /elsewhere\n")   # a linked worktree's file
    comp = compile_text(inner, "w.yaml", WORKSPACES_YAML)
    assert codes(comp) == []
    comp = compile_text(tmp_path, "w.yaml", WORKSPACES_YAML.replace("worktree", "shared"))
    assert codes(comp) == []                                        # shared needs no repository


def test_the_workdir_is_what_counts(tmp_path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / ".git").mkdir()
    comp = compile_text(tmp_path, "w.yaml", WORKSPACES_YAML.replace("workspace: worktree",
                                                                    "workspace: worktree\nworkdir: repo/x"))
    assert codes(comp) == []


ROLLBACK = """
workflow: w
agents:
  a: {}
  b: {workspace: worktree}
tasks:
  t: {agent: AGENT, run: "true"}
gates:
  g: {needs: [t], run: "true", on_fail: rollback}
"""


def test_w402_only_in_shared_mode(tmp_path):
    (tmp_path / ".git").mkdir()
    assert found(compile_text(tmp_path, "s.yaml", ROLLBACK.replace("AGENT", "a"))) == [("W402", 8, 41)]
    assert found(compile_text(tmp_path, "t.yaml", ROLLBACK.replace("AGENT", "b"))) == []
    top = ROLLBACK.replace("AGENT", "a").replace("workflow: w", "workflow: w\nworkspace: worktree")
    assert found(compile_text(tmp_path, "u.yaml", top)) == []


def test_fmt_round_trips_the_workspace_fields(tmp_path):
    p = write(tmp_path, "w.yaml", WORKSPACES_YAML)
    lanes_text = lanes_cli("fmt", p, "--to", "lanes").stdout
    q = write(tmp_path, "w.lanes", lanes_text)
    yaml_text = lanes_cli("fmt", q, "--to", "yaml").stdout
    assert "workspace worktree" in lanes_text and "expect_changes true" in lanes_text
    r = write(tmp_path, "again.yaml", yaml_text)
    assert lanes_cli("fmt", r, "--to", "lanes").stdout == lanes_text


# --- a task's writes/reads, directly (section 2) -----------------------------------------

INLINE_YAML = """
workflow: w
agents:
  a: {domain: {writes: ["src/**"], reads: ["docs/**"]}}
tasks:
  t: {agent: a, run: "true", writes: ["src/api/**"], reads: "docs/api/**"}
  u: {agent: a, run: "true", needs: [t], writes: "src/ui/**"}
"""

INLINE_LANES = """
workflow w
agent a { writes "src/**"; reads "docs/**" }
task t by a { run "true"; writes "src/api/**"; reads "docs/api/**" }
task u by a needs t { run "true"; writes "src/ui/**" }
"""


@pytest.mark.parametrize("name,text", [("w.yaml", INLINE_YAML), ("w.lanes", INLINE_LANES)])
def test_a_task_takes_writes_and_reads(tmp_path, name, text):
    comp, d = plan_of(tmp_path, name, text)
    assert comp.diagnostics == ()
    nodes = {n["id"]: n for n in d["nodes"]}
    assert (nodes["t"]["writes"], nodes["t"]["reads"]) == (["src/api/**"], ["docs/api/**"])
    assert (nodes["u"]["writes"], nodes["u"]["reads"]) == (["src/ui/**"], [])


def test_inline_is_the_same_as_domain(tmp_path):
    with_domain = INLINE_YAML.replace('writes: ["src/api/**"], reads: "docs/api/**"',
                                      'domain: {writes: ["src/api/**"], reads: "docs/api/**"}')
    with_domain = with_domain.replace('writes: "src/ui/**"', 'domain: {writes: "src/ui/**"}')
    a = compile_text(tmp_path, "a.yaml", INLINE_YAML)
    b = compile_text(tmp_path, "b.yaml", with_domain)
    assert a.loaded.workflow == b.loaded.workflow


@pytest.mark.parametrize("name,text,where", [
    ("w.yaml", INLINE_YAML.replace('"src/api/**"', '"lib/**"'), (5, 39)),
    ("w.lanes", INLINE_LANES.replace('"src/api/**"', '"lib/**"'), (3, 34)),
])
def test_inline_writes_outside_the_agent_are_e302(tmp_path, name, text, where):
    comp = compile_text(tmp_path, name, text)
    assert codes(comp) == [("E302", *where)]


@pytest.mark.parametrize("name,text,where", [
    ("w.yaml", 'workflow: w\nagents: {a: {}}\ntasks: {t: {agent: a, run: "x", domain: {}, reads: "r"}}\n',
     (3, 45)),
    ("w.lanes", 'workflow w\nagent a {}\ntask t by a { run "x"; writes "x"; domain {} }\n', (3, 24)),
])
def test_domain_and_its_inline_form_is_e103(tmp_path, name, text, where):
    comp = compile_text(tmp_path, name, text)
    assert ("E103", *where) in codes(comp)


def test_fmt_writes_a_tasks_inline_domain_as_its_fields(tmp_path):
    p = write(tmp_path, "w.yaml", INLINE_YAML)
    yaml_text = lanes_cli("fmt", p, "--to", "yaml").stdout
    assert 't: {agent: a, run: "true", writes: ["src/api/**"], reads: ["docs/api/**"]}' in yaml_text
    lanes_text = lanes_cli("fmt", p, "--to", "lanes").stdout
    assert 'task t by a { run "true"; writes "src/api/**"; reads "docs/api/**" }' in lanes_text
    q = write(tmp_path, "w.lanes", lanes_text)
    assert lanes_cli("fmt", q, "--to", "yaml").stdout == yaml_text
