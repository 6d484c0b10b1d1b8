"""The plan of SPEC section 5: stages, critical path, estimates, digests, determinism."""
from __future__ import annotations

import json
from pathlib import Path

from helpers import compile_text, lanes_cli, write
import jsonschema
import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC_YAML = '''
workflow: fullstack-feature
description: API and UI in parallel, gated by integration tests
workdir: .
defaults:
  timeout: 10m
  retries: 1
  backoff: {initial: 2s, factor: 2, max: 1m}
  env: {PYTHONUNBUFFERED: "1"}
domains:
  contracts: {writes: ["contracts/**"]}
  api:  {writes: ["src/api/**", "tests/api/**"], reads: ["contracts/**"]}
  ui:   {writes: ["src/ui/**"], reads: ["contracts/**"]}
agents:
  architect: {domain: contracts, skills: [openapi]}
  backend:   {domain: api, skills: [python, fastapi]}
  frontend:  {domain: ui, skills: [react]}
  scribe:    {domain: {writes: ["docs/**"], reads: ["**"]}, skills: [docs]}
tasks:
  schema: {agent: architect, run: ./scripts/gen-schema.sh, estimate: 2m}
  api:    {agent: backend, needs: [schema], run: make api, estimate: 5m,
           rollback: git checkout -- src/api}
  ui:     {requires: [react], needs: [schema], run: npm run build, estimate: 4m}
  docs:   {agent: scribe, needs: [integration], run: mkdocs build}
gates:
  integration:
    needs: [api, ui]
    run: pytest -q
    on_fail: rollback
'''
SPEC_LANES = '''
workflow fullstack-feature "API and UI in parallel, gated by integration tests"
workdir "."
defaults { timeout 10m; retries 1; backoff 2s * 2 max 1m; env { PYTHONUNBUFFERED "1" } }

domain contracts { writes "contracts/**" }
domain api  { writes "src/api/**", "tests/api/**"; reads "contracts/**" }
domain ui   { writes "src/ui/**"; reads "contracts/**" }

agent architect { domain contracts; skills openapi }
agent backend   { domain api; skills python, fastapi }
agent frontend  { domain ui; skills react }
agent scribe    { writes "docs/**"; reads "**"; skills docs }

task schema by architect { run "./scripts/gen-schema.sh"; estimate 2m }
task api by backend needs schema { run "make api"; estimate 5m; rollback "git checkout -- src/api" }
task ui requires react needs schema { run "npm run build"; estimate 4m }
task docs by scribe needs integration { run "mkdocs build" }

gate integration needs api, ui { run "pytest -q"; on_fail rollback }
'''


def plan_json(tmp_path, name, text):
    p = write(tmp_path, name, text)
    r = lanes_cli("plan", p)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_spec_worked_example(tmp_path):
    plan = json.loads(plan_json(tmp_path, "w.yaml", SPEC_YAML))
    assert plan["lanes_plan"] == 1 and plan["workflow"] == "fullstack-feature"
    assert plan["stages"] == [["schema"], ["api", "ui"], ["integration"], ["docs"]]
    assert plan["critical_path"] == ["schema", "api", "integration", "docs"]
    assert plan["estimate"] == {"sequential_s": 780, "parallel_s": 540, "efficiency": 0.3077}
    assert [n["id"] for n in plan["nodes"]] == ["schema", "api", "ui", "integration", "docs"]
    schema = plan["nodes"][0]
    assert schema["writes"] == ["contracts/**"] and schema["timeout_s"] == 600 and schema["retries"] == 1
    assert schema["backoff"] == {"initial_s": 2, "factor": 2, "max_s": 60}
    assert schema["critical"] is True and schema["stage"] == 0
    ui = plan["nodes"][2]
    assert ui["agent"] == "frontend" and ui["reads"] == ["contracts/**"] and ui["critical"] is False
    gate = plan["nodes"][3]
    assert gate["kind"] == "gate" and gate["on_fail"] == "rollback" and gate["needs"] == ["api", "ui"]
    assert plan["source_digest"].startswith("sha256:")


def test_both_forms_give_the_same_plan(tmp_path):
    a = json.loads(plan_json(tmp_path, "w.yaml", SPEC_YAML))
    b = json.loads(plan_json(tmp_path, "w.lanes", SPEC_LANES))
    assert a.pop("source_digest") != b.pop("source_digest")
    assert a == b


def test_byte_identical(tmp_path):
    assert plan_json(tmp_path, "w.yaml", SPEC_YAML) == plan_json(tmp_path, "w.yaml", SPEC_YAML)


def test_lanes_serialise_the_estimate(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", """
        workflow: w
        agents:
          solo: {domain: {writes: ["a/**"]}}
          pair: {domain: {writes: ["b/**"]}, instances: 2}
        tasks:
          s1: {agent: solo, run: "true", estimate: 10s}
          s2: {agent: solo, run: "true", estimate: 10s}
          p1: {agent: pair, run: "true", estimate: 10s, domain: {writes: ["b/1"]}}
          p2: {agent: pair, run: "true", estimate: 10s, domain: {writes: ["b/2"]}}
        """)
    assert not comp.has_errors, comp.diagnostics
    assert comp.plan.estimate.sequential_s == 40
    assert comp.plan.estimate.parallel_s == 20
    assert comp.plan.estimate.efficiency == 0.5


def test_digest_changes_downstream_only(tmp_path):
    before = compile_text(tmp_path, "a.yaml", SPEC_YAML).plan
    after = compile_text(tmp_path, "b.yaml", SPEC_YAML.replace("run: make api", "run: make api-v2")).plan
    changed = {n.id for n in before.nodes if n.digest != after.node_by_id[n.id].digest}
    assert changed == {"api", "integration", "docs"}


def test_errors_give_no_plan_and_no_file(tmp_path):
    p = write(tmp_path, "w.yaml", SPEC_YAML.replace("agent: backend", "agent: backnd"))
    out = tmp_path / "plan.json"
    r = lanes_cli("plan", p, "-o", out)
    assert r.returncode == 1 and "E201" in r.stderr
    assert not out.exists()


@pytest.mark.parametrize("example", sorted(p for p in (ROOT / "examples").glob("*.*") if p.is_file()), ids=lambda p: p.name)
def test_every_example_plan_matches_the_schema(tmp_path, example):
    out = tmp_path / "plan.json"
    r = lanes_cli("plan", example, "-o", out)
    assert r.returncode == 0, r.stderr
    schema = json.loads(lanes_cli("schema", "plan").stdout)
    jsonschema.validate(json.loads(out.read_text()), schema)


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "examples").glob("*.yaml")))
def test_example_forms_agree(name):
    a = json.loads(lanes_cli("plan", ROOT / "examples" / f"{name}.yaml").stdout)
    b = json.loads(lanes_cli("plan", ROOT / "examples" / f"{name}.lanes").stdout)
    a.pop("source_digest"), b.pop("source_digest")
    assert a == b


@pytest.mark.parametrize("example", sorted(p for p in (ROOT / "examples").glob("*.*") if p.is_file()), ids=lambda p: p.name)
def test_every_example_checks_clean(example):
    r = lanes_cli("check", example, "--format", "json")
    assert r.returncode == 0, r.stdout
    assert json.loads(r.stdout)["diagnostics"] == []


def test_hand_edited_plan_with_a_path_as_id_is_refused(tmp_path):
    plan = json.loads(plan_json(tmp_path, "w.yaml", SPEC_YAML))
    plan["agents"][0]["id"] = "../../x"
    (tmp_path / "bad.json").write_text(json.dumps(plan))
    r = lanes_cli("run", tmp_path / "bad.json", "--no-progress")
    assert r.returncode == 2 and "not a valid id" in r.stderr
