"""`lanes fmt`: both forms build the same AST, and a round trip changes nothing."""
from __future__ import annotations

from pathlib import Path

from helpers import lanes_cli, write
import pytest

from lanes.dsl.fmt import duration, to_lanes, to_yaml
from lanes.dsl.loader import parse_source
from lanes.dsl.source import Source, read_source

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.*") if p.is_file())

TRICKY = '''
workflow: tricky
description: "several\\nlines, \\"quotes\\", unicode: h\\u00e9 \\u2192 and a tab\\t"
workdir: sub dir
defaults: {timeout: 1.5s, retries: 0, backoff: {factor: 3}, env: {A_B: "x y", EMPTY: ""}}
domains:
  d: {reads: ["port:80*"]}
agents:
  needs: {domain: {writes: ["a/{b,c}/**", "x y/*"]}, skills: [max, by], instances: 2, description: "<b>hi</b>"}
  b: {domain: d, env: {K: "v"}}
tasks:
  by: {agent: needs, run: "printf '%s\\\\n' \\"$HOME\\"\\nexit 0", estimate: 1h30m, timeout: 250ms,
       backoff: {initial: 90, max: 2h}, rollback: "git checkout -- a", env: {X: "1"}}
  two: {requires: [max], needs: [by], run: "true", domain: {writes: ["a/b/c"], reads: ["**"]}}
gates:
  g: {needs: [by, two], approve: "Ship it?", on_fail: continue, estimate: 2m, retries: 2}
'''


def ast_of(path: Path):
    source, problem = read_source(str(path))
    assert problem is None
    wf, diags = parse_source(source)
    assert not [d for d in diags if d.is_error], diags
    return wf


def ast_of_text(text: str, name: str):
    wf, diags = parse_source(Source(name, text.encode(), text))
    assert not diags, (diags, text)
    return wf


@pytest.mark.parametrize("path", EXAMPLES + ["tricky"], ids=lambda p: getattr(p, "name", p))
def test_round_trip_through_both_forms(tmp_path, path):
    if path == "tricky":
        path = write(tmp_path, "tricky.yaml", TRICKY)
    wf = ast_of(path)
    as_lanes = to_lanes(wf)
    as_yaml = to_yaml(wf)
    assert ast_of_text(as_lanes, "x.lanes") == wf
    assert ast_of_text(as_yaml, "x.yaml") == wf
    assert to_lanes(ast_of_text(as_yaml, "x.yaml")) == as_lanes        # idempotent
    assert to_yaml(ast_of_text(as_lanes, "x.lanes")) == as_yaml


@pytest.mark.parametrize("seconds,text", [(90, "1m30s"), (300, "5m"), (5400, "1h30m"), (0.25, "250ms"),
                                          (1.5, "1s500ms"), (7, "7s")])
def test_canonical_durations(seconds, text):
    assert duration(seconds) == text


def test_fmt_cli_writes_and_refuses_broken_files(tmp_path):
    src = write(tmp_path, "w.yaml", TRICKY)
    out = tmp_path / "w.lanes"
    r = lanes_cli("fmt", src, "--to", "lanes", "-o", out)
    assert r.returncode == 0, r.stderr
    assert ast_of(out) == ast_of(src)
    bad = write(tmp_path, "bad.lanes", "workflow w\nagent a {\n")
    r = lanes_cli("fmt", bad, "--to", "yaml", "-o", tmp_path / "bad.yaml")
    assert r.returncode == 1 and "E100" in r.stderr
    assert not (tmp_path / "bad.yaml").exists()
