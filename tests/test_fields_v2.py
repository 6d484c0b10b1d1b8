"""The fields of v2 (SPEC sections 2, 8, 9) in both forms: AST, model, plan, diagnostics."""
from __future__ import annotations

import json
from pathlib import Path
import textwrap

from helpers import codes, compile_text, lanes_cli, write
import jsonschema
import pytest
from test_checks_structure import CASES as STRUCTURE_CASES
import yaml

from lanes.compiler import plan_fields, runners
from lanes.compiler.planfile import from_json, to_json
from lanes.dsl import fields as declared

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


# --- coding agents (section 9) ---------------------------------------------------------------

AGENTS_YAML = '''
workflow: w
limits: {claude: 2, codex: 1}
max_budget_usd: 20
agents:
  coder: {domain: {writes: ["src/**"]}, runner: claude, model: claude-sonnet-4-5, max_turns: 30,
          max_budget_usd: 2.5}
  tool: {domain: {writes: ["lib/**"]}, runner: {command: "my-agent --in {prompt_file} {writes}"}}
  sh: {domain: {writes: ["ops/**"]}}
tasks:
  api: {agent: coder, prompt: "Add the endpoint.\\nKeep it small.\\n", writes: ["src/api/**"]}
  lib: {agent: tool, prompt: "Do lib."}
  ops: {agent: sh, run: "make ops"}
'''

AGENTS_LANES = '''
workflow w
limits { claude 2; codex 1 }
max_budget_usd 20
agent coder { writes "src/**"; runner claude; model claude-sonnet-4-5; max_turns 30; max_budget_usd 2.5 }
agent tool { writes "lib/**"; runner { command "my-agent --in {prompt_file} {writes}" } }
agent sh { writes "ops/**" }
task api by coder { prompt """
Add the endpoint.
Keep it small.
"""; writes "src/api/**" }
task lib by tool { prompt "Do lib." }
task ops by sh { run "make ops" }
'''

CLAUDE = ('claude -p --output-format stream-json --verbose --permission-mode dontAsk --append-system-prompt-file '
          '"$LANES_BRIEF" --model claude-sonnet-4-5 --max-turns 30 --max-budget-usd 2.5 '
          '${LANES_SESSION:+--resume "$LANES_SESSION"} --allowedTools \'Edit(/src/api/**)\' \'Read(/src/api/**)\' '
          '< "$LANES_PROMPT"')


@pytest.mark.parametrize("name,text", [("w.yaml", AGENTS_YAML), ("w.lanes", AGENTS_LANES)])
def test_prompt_tasks_in_the_plan(tmp_path, name, text):
    comp, d = plan_of(tmp_path, name, text)
    assert comp.diagnostics == ()
    nodes = {n["id"]: n for n in d["nodes"]}
    api = nodes["api"]
    assert (api["prompt"], api["runner"], api["command"]) == ("Add the endpoint.\nKeep it small.\n", "claude", CLAUDE)
    assert "run" not in api
    assert (nodes["lib"]["runner"], nodes["lib"]["command"]) == ("command", "my-agent --in \"$LANES_PROMPT\" 'lib/**'")
    assert not {"prompt", "runner", "command"} & set(nodes["ops"])
    assert (d["limits"], d["max_budget_usd"]) == ({"claude": 2, "codex": 1}, 20)
    agents = {a["id"]: a for a in d["agents"]}
    assert {k: agents["coder"][k] for k in ("runner", "model", "max_turns", "max_budget_usd")} == {
        "runner": "claude", "model": "claude-sonnet-4-5", "max_turns": 30, "max_budget_usd": 2.5}
    assert agents["tool"]["runner"] == {"command": "my-agent --in {prompt_file} {writes}"}
    assert not {"runner", "model", "max_turns", "max_budget_usd"} & set(agents["sh"])


def test_coding_agents_both_forms_agree(tmp_path):
    a = json.loads(to_json(compile_text(tmp_path, "w.yaml", AGENTS_YAML).plan))
    b = json.loads(to_json(compile_text(tmp_path, "w.lanes", AGENTS_LANES).plan))
    a.pop("source_digest"), b.pop("source_digest")
    assert a == b


def test_a_v1_plan_has_none_of_the_fields(tmp_path):
    _, d = plan_of(tmp_path, "w.yaml", 'workflow: w\nagents: {a: {}}\ntasks: {t: {agent: a, run: "x"}}\n')
    assert not {"limits", "max_budget_usd"} & set(d)
    assert not {"runner", "model", "max_turns", "max_budget_usd"} & set(d["agents"][0])


def test_fmt_round_trips_the_coding_agent_fields(tmp_path):
    p = write(tmp_path, "w.yaml", AGENTS_YAML)
    lanes_text = lanes_cli("fmt", p, "--to", "lanes").stdout
    assert "limits { claude 2; codex 1 }" in lanes_text
    assert 'runner { command "my-agent --in {prompt_file} {writes}" }' in lanes_text
    q = write(tmp_path, "w.lanes", lanes_text)
    yaml_text = lanes_cli("fmt", q, "--to", "yaml").stdout
    assert "limits: {claude: 2, codex: 1}" in yaml_text
    assert 'runner: {command: "my-agent --in {prompt_file} {writes}"}' in yaml_text
    assert lanes_cli("fmt", write(tmp_path, "again.yaml", yaml_text), "--to", "lanes").stdout == lanes_text


def _only(comp, code):
    return [(d.span.line, d.span.column, d.message) for d in comp.diagnostics if d.code == code]


@pytest.mark.parametrize("name,text,where,needle", [
    ("w.yaml", "workflow: w\nagents: {a: {}}\ntasks: {t: {agent: a}}\n", (3, 9), "exactly one of 'run'"),
    ("w.yaml", 'workflow: w\nagents: {a: {runner: claude}}\ntasks: {t: {agent: a, run: x, prompt: y}}\n', (3, 31),
     "not both"),
    ("w.lanes", 'workflow w\nagent a { runner aider }\ntask t by a { run "x"; prompt "y" }\n', (3, 24), "not both"),
    ("w.lanes", 'workflow w\nagent a {}\ntask t by a { estimate 1m }\n', (3, 6), "exactly one of 'run'"),
])
def test_exactly_one_of_run_and_prompt(tmp_path, name, text, where, needle):
    [(line, column, message)] = _only(compile_text(tmp_path, name, text), "E103")
    assert (line, column) == where and needle in message


@pytest.mark.parametrize("agent", ["{}", "{runner: shell}"])
def test_a_prompt_for_a_shell_agent_is_e103(tmp_path, agent):
    comp = compile_text(tmp_path, "w.yaml", f"workflow: w\nagents: {{a: {agent}}}\n"
                        "tasks: {t: {agent: a, prompt: Do it.}}\n")
    [(line, column, message)] = _only(comp, "E103")
    assert (line, column) == (3, 31)
    assert "agent 'a' has runner shell" in message and "runs 'run' commands only" in message


def test_a_routed_prompt_task_meets_its_agents_runner(tmp_path):
    comp = compile_text(tmp_path, "w.lanes", '''
        workflow w
        agent a { skills py }
        task t requires py { prompt "Do it." }
        ''')
    assert [(line, col) for line, col, _ in _only(comp, "E103")] == [(3, 29)]


@pytest.mark.parametrize("name,text,where,message", [
    ("w.yaml", "workflow: w\nagents: {a: {runner: claud}}\n", (2, 22),
     ("unknown runner 'claud' (did you mean 'claude'?); the runners are shell, claude, codex, gemini, aider "
     "and {command: TEMPLATE}")),
    ("w.lanes", "workflow w\nagent a { runner cursor }\n", (2, 18),
     "unknown runner 'cursor'; the runners are shell, claude, codex, gemini, aider and {command: TEMPLATE}"),
    ("w.yaml", "workflow: w\nagents: {a: {runner: claude, max_turns: 0}}\n", (2, 41),
     "max_turns must be a whole number >= 1, not '0'"),
    ("w.lanes", "workflow w\nagent a { runner claude; max_budget_usd 0 }\n", (2, 41),
     "max_budget_usd must be a number > 0, not '0'"),
    ("w.yaml", "workflow: w\nmax_budget_usd: -1\n", (2, 17), "max_budget_usd must be a number > 0, not '-1'"),
    ("w.yaml", "workflow: w\nlimits: {claud: 2}\n", (2, 10),
     ("'claud' in limits is not a coding agent runner (did you mean 'claude'?); the runners are claude, codex, "
     "gemini, aider")),
    ("w.lanes", "workflow w\nlimits { codex 0 }\n", (2, 16), "the limit of codex must be a whole number >= 1, not '0'"),
    ("w.lanes", "workflow w\nlimits { codex 1; codex 2 }\n", (2, 19), "runner 'codex' is given twice in limits"),
    ("w.yaml", "workflow: w\nlimits: 3\n", (2, 9), "limits must be a mapping of RUNNER: N"),
])
def test_bad_values_are_e102(tmp_path, name, text, where, message):
    comp = compile_text(tmp_path, name, text)
    [(line, column, got)] = _only(comp, "E102")
    assert (line, column) == where and got.startswith(message)


def test_a_runner_mapping(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", "workflow: w\nagents: {a: {runner: {cmd: x}}}\n")
    assert found(comp) == [("E103", 2, 22), ("E101", 2, 23)]
    [e101] = [d for d in comp.diagnostics if d.code == "E101"]
    assert "did you mean 'command'" in e101.message


@pytest.mark.parametrize("name,text,where,needle", [
    # a limit the tool cannot keep: at the agent's field, once for all its tasks
    ("w.yaml", ('workflow: w\nagents: {a: {runner: codex, max_turns: 3}}\n'
     'tasks: {t: {agent: a, prompt: x}, u: {agent: a, prompt: y}}\n'), (2, 40), "cannot be held to max_turns"),
    ("w.lanes", 'workflow w\nagent a { runner gemini; max_budget_usd 1 }\n', (2, 41), "no budget flag"),
    # a template: at its text
    ("w.lanes", 'workflow w\nagent a { runner { command "go {prompt}" } }\n', (2, 28), "unknown placeholder {prompt}"),
    ("w.yaml", 'workflow: w\nagents: {a: {runner: {command: "go {model}"}}}\ntasks: {t: {agent: a, prompt: x}}\n',
     (2, 32), "uses {model} but the agent has no model"),
    # a pattern Claude Code cannot hold: at the pattern
    ("w.yaml", 'workflow: w\nagents: {a: {runner: claude}}\ntasks: {t: {agent: a, prompt: x, writes: ["ok/**", "a(b)/*"]}}\n',
     (3, 52), "parenthesis"),
])
def test_what_the_runner_cannot_run_is_e102_at_its_field(tmp_path, name, text, where, needle):
    comp = compile_text(tmp_path, name, text)
    found_e102 = _only(comp, "E102")
    assert len(found_e102) == 1, found_e102
    [(line, column, message)] = found_e102
    assert (line, column) == where and needle in message


# --- one declaration; `lanes schema workflow` -----------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW_SCHEMA = json.loads(lanes_cli("schema", "workflow").stdout)
VALIDATOR = jsonschema.Draft202012Validator(WORKFLOW_SCHEMA)


def test_the_runner_names_agree_across_the_layers():
    assert declared.PRESETS == tuple(runners.PRESETS) == plan_fields.PRESETS
    assert declared.RUNNERS == ("shell", *runners.PRESETS) == plan_fields.AGENT_RUNNERS


def test_the_plan_format_takes_what_the_workflow_declares():
    """plan_fields.py mirrors plan.schema.json for the runtime, which reads no workflow
    declaration: its choices and patterns are those of dsl/fields.py."""
    assert (plan_fields.ON_FAIL, plan_fields.WORKSPACES) == (declared.ON_FAIL, declared.WORKSPACES)
    assert (plan_fields.ID_PATTERN, plan_fields.ENV_NAME_PATTERN) == (declared.ID_PATTERN, declared.ENV_NAME_PATTERN)


def test_the_workflow_schema_is_a_2020_12_schema_with_every_field_described():
    jsonschema.Draft202012Validator.check_schema(WORKFLOW_SCHEMA)
    defs = WORKFLOW_SCHEMA["$defs"]
    for group, where in [(declared.TOP, WORKFLOW_SCHEMA), (declared.AGENT, defs["agent"]),
                         (declared.TASK, defs["task"]), (declared.GATE, defs["gate"]),
                         (declared.DEFAULTS, defs["defaults"]), (declared.BACKOFF, defs["backoff"]),
                         (declared.DOMAIN, defs["domain"]), (declared.RUNNER, defs["runner"])]:
        assert list(where["properties"]) == list(group.names)
        assert all(p["description"] for p in where["properties"].values())
        assert where["additionalProperties"] is False
    assert defs["agent"]["properties"]["workspace"]["enum"] == ["shared", "worktree"]
    assert defs["runner_field"]["anyOf"][0]["enum"] == ["shell", "claude", "codex", "gemini", "aider"]


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_validates(example):
    assert [e.message for e in VALIDATOR.iter_errors(yaml.safe_load(example.read_text()))] == []


def test_the_v2_snippets_validate():
    for text in (WORKSPACES_YAML, INLINE_YAML, AGENTS_YAML, ROLLBACK.replace("AGENT", "a")):
        assert [e.message for e in VALIDATOR.iter_errors(yaml.safe_load(text))] == []


# the YAML snippets of the builder's tests that get E101, E102 or E103
REFUSED = [textwrap.dedent(case[0]) for case in STRUCTURE_CASES.values() if case[2] in ("E101", "E102", "E103")]
REFUSED += [
    "workflow: w\nworkspace: worktre\n",
    "workflow: w\nagents: {a: {workspace: [shared]}}\n",
    'workflow: w\nagents: {a: {}}\ntasks: {t: {agent: a, run: "true", expect_changes: maybe}}\n',
    'workflow: w\nagents: {a: {}}\ntasks: {t: {agent: a, run: "x", domain: {}, reads: "r"}}\n',
    "workflow: w\nagents: {a: {}}\ntasks: {t: {agent: a}}\n",
    "workflow: w\nagents: {a: {runner: claude}}\ntasks: {t: {agent: a, run: x, prompt: y}}\n",
    "workflow: w\nagents: {a: {runner: claud}}\n",
    "workflow: w\nagents: {a: {runner: claude, max_turns: 0}}\n",
    "workflow: w\nagents: {a: {runner: claude, max_budget_usd: 0}}\n",
    "workflow: w\nmax_budget_usd: -1\n",
    "workflow: w\nlimits: {claud: 2}\n",
    "workflow: w\nlimits: {codex: 0}\n",
    "workflow: w\nlimits: 3\n",
    "workflow: w\nagents: {a: {runner: {cmd: x}}}\n",
    "agents: {a: {}}\n",
    "workflow: w\nagents: {a: {}}\ntasks: {9lives: {agent: a, run: x}}\n",
    "workflow: w\nagents: {a: {}}\ntasks: {t: {agent: a, run: x}}\ngates: {g: {needs: [], run: x}}\n",
    "workflow: w\ndefaults: {backoff: {factor: 0.5}}\n",
]


@pytest.mark.parametrize("text", REFUSED)
def test_what_the_builder_refuses_the_schema_refuses(tmp_path, text):
    comp = compile_text(tmp_path, "w.yaml", text)
    assert {d.code for d in comp.diagnostics} & {"E101", "E102", "E103"}, comp.diagnostics
    assert not VALIDATOR.is_valid(yaml.safe_load(text))
