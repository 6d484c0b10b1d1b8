"""`lanes fmt`: canonical text in both forms; a round trip through either changes nothing."""
from __future__ import annotations

from pathlib import Path
import textwrap

from helpers import lanes_cli, write
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from lanes.dsl.build import parse_duration
from lanes.dsl.fmt import duration, quote, to_lanes, to_yaml
from lanes.dsl.loader import parse_source
from lanes.dsl.source import Source, read_source

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in [*ROOT.glob("examples/*.yaml"), *ROOT.glob("examples/*.lanes")] if p.is_file())

EDGES = r'''
workflow: "null"
description: "two\nlines, \"quotes\", h\u00e9 \u2192, a tab\t, a bell \u0007, LS \u2028, DEL \u007f"
workdir: "sub dir/"
defaults: {timeout: 1.5s, retries: 0, backoff: {factor: 3}, env: {A_B: "x y", EMPTY: "", "NULL": "n"}}
domains:
  d: {reads: ["port:80*", "a/{b,c}/**"]}
  empty: {}
agents:
  needs: {domain: {writes: ["x y/*"]}, skills: [max, by, requires], instances: 2, description: "<b>hi</b>"}
  b: {domain: d, env: {K: "v"}}
  bare: {domain: {}}
  "yes": {}
tasks:
  by: {agent: needs, run: "printf '%s\\n' \"$HOME\"\nexit 0\n", estimate: 1h30m, timeout: 250ms,
       backoff: {initial: 90, max: 2h}, rollback: "git checkout -- a", env: {X: "1"}}
  two: {requires: [max], needs: [by], run: "true", domain: {writes: ["a/b/c"], reads: ["**"]}}
  none: {requires: [], run: "  indented\n    more\n", backoff: {}, retries: 3, description: 'ends with "'}
  quotes: {agent: b, run: "a \"\"\" b\nc", rollback: "\n\nleading blank lines", timeout: 0.0001}
  odd: {agent: b, run: "x", estimate: 1.0000001, timeout: 100000000000000000000000, backoff: {max: 90.5}}
gates:
  g: {needs: [by, two], approve: "Ship it?", on_fail: continue, estimate: 2m, retries: 2}
  h: {needs: [g], run: "make check", description: "a\r\nb"}
'''


def build(text: str, name: str):
    wf, diags = parse_source(Source(name, text.encode("utf-8"), text))
    assert not diags, (diags, text)
    return wf


def build_file(path: Path):
    source, problem = read_source(str(path))
    assert problem is None
    wf, diags = parse_source(source)
    assert not [d for d in diags if d.is_error], diags
    return wf


def assert_round_trips(wf) -> None:
    as_lanes, as_yaml = to_lanes(wf), to_yaml(wf)
    assert build(as_lanes, "x.lanes") == wf, as_lanes
    assert build(as_yaml, "x.yaml") == wf, as_yaml
    assert to_lanes(build(as_yaml, "x.yaml")) == as_lanes          # idempotent, across forms too
    assert to_yaml(build(as_lanes, "x.lanes")) == as_yaml


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_round_trips(path):
    assert_round_trips(build_file(path))


def test_examples_exist_in_both_forms_with_one_meaning():
    yaml_stems = {p.stem for p in EXAMPLES if p.suffix == ".yaml"}
    pairs = sorted(yaml_stems & {p.stem for p in EXAMPLES if p.suffix == ".lanes"})
    assert pairs
    for stem in pairs:
        both = ROOT / "examples" / f"{stem}.yaml", ROOT / "examples" / f"{stem}.lanes"
        assert build_file(both[0]) == build_file(both[1])


def test_edge_cases_round_trip():
    wf = build(EDGES, "edges.yaml")
    assert wf.tasks[2].requires == () and wf.agents[2].domain is not None      # kept apart from None
    assert_round_trips(wf)


def test_canonical_lanes_text():
    wf = build(textwrap.dedent('''\
        workflow: w
        defaults: {timeout: 600, backoff: {initial: 2s, factor: 2.0, max: 60}}
        domains: {api: {writes: [src/api/**]}, contracts: {writes: [contracts/**]}}
        agents:
          backend: {domain: api, skills: [python]}
          scribe: {domain: {writes: [docs/**], reads: ["**"]}}
        tasks:
          api: {agent: backend, needs: [schema], run: make api, estimate: 90}
          schema: {requires: [python], run: "line 1\\nline 2", timeout: 5400}
        gates:
          g: {needs: [api], approve: Ship?}
        '''), "w.yaml")
    assert to_lanes(wf) == textwrap.dedent('''\
        workflow w
        defaults { timeout 10m; backoff 2s * 2 max 1m }

        domain api       { writes "src/api/**" }
        domain contracts { writes "contracts/**" }

        agent backend { domain api; skills python }
        agent scribe  { writes "docs/**"; reads "**" }

        task api by backend needs schema { run "make api"; estimate 1m30s }
        task schema requires python {
          run """
        line 1
        line 2"""
          timeout 1h30m
        }

        gate g needs api { approve "Ship?" }
        ''')
    assert to_yaml(wf) == textwrap.dedent('''\
        workflow: w
        defaults: {timeout: 10m, backoff: {initial: 2s, factor: 2, max: 1m}}

        domains:
          api:       {writes: ["src/api/**"]}
          contracts: {writes: ["contracts/**"]}

        agents:
          backend: {domain: api, skills: [python]}
          scribe:  {domain: {writes: ["docs/**"], reads: ["**"]}}

        tasks:
          api:    {agent: backend, needs: [schema], run: "make api", estimate: 1m30s}
          schema:
            requires: [python]
            run: |-
              line 1
              line 2
            timeout: 1h30m

        gates:
          g: {needs: [api], approve: "Ship?"}
        ''')


@pytest.mark.parametrize("seconds,text", [
    (90, "1m30s"), (300, "5m"), (5400, "1h30m"), (0.25, "250ms"), (1.5, "1s500ms"), (7, "7s"), (0, "0s"),
    (3600.25, "1h250ms"), (0.0001, "0.0001s"), (86400, "24h"), (1.0000001, "1.0000001s"),
])
def test_canonical_durations(seconds, text):
    assert duration(seconds) == text
    assert parse_duration(text) == seconds


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0, max_value=1e12, allow_nan=False))
def test_every_duration_reads_back_exactly(seconds):
    assert parse_duration(duration(seconds)) == seconds


TEXTS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40) | st.sampled_from(
    ["a\nb", "a\n", "\n", "\n\nx", " x\n y", "x\n\n", '""""', 'a"""b\nc', "\t\n\t", "x \n", "\r\n",
     "\\", "- a\n# b", 'say\n"hi"', "x\n\\"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run=TEXTS, description=TEXTS, value=TEXTS)
def test_any_text_round_trips(run, description, value):
    wf = build(f"workflow: w\ndescription: {quote(description)}\n"
               f"agents: {{a: {{env: {{V: {quote(value)}}}}}}}\n"
               f"tasks: {{t: {{agent: a, run: {quote(run)}}}}}\n", "t.yaml")
    assert wf.description.value == description and wf.tasks[0].run.value == run
    assert wf.agents[0].env[0].value.value == value
    assert_round_trips(wf)


# -- the command ----------------------------------------------------------------------------------

def test_fmt_converts_both_ways_and_reformats(tmp_path):
    src = write(tmp_path, "w.yaml", EDGES)
    out = tmp_path / "w.lanes"
    r = lanes_cli("fmt", src, "--to", "lanes", "-o", out)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert build_file(out) == build_file(src)
    back = lanes_cli("fmt", out, "--to", "yaml")
    assert back.returncode == 0 and build(back.stdout, "b.yaml") == build_file(src)
    same = lanes_cli("fmt", out)                                   # no --to: the file's own form
    assert same.returncode == 0 and same.stdout == out.read_text(encoding="utf-8")


def test_fmt_refuses_a_broken_file_and_writes_nothing(tmp_path):
    bad = write(tmp_path, "bad.lanes", "workflow w\nagent a {\n")
    r = lanes_cli("fmt", bad, "--to", "yaml", "-o", tmp_path / "bad.yaml")
    assert r.returncode == 1 and "bad.lanes:3:1: error[E100]" in r.stderr and r.stdout == ""
    assert not (tmp_path / "bad.yaml").exists()
    unknown = write(tmp_path, "u.yaml", "workflow: w\ntaks: {}\n")
    r = lanes_cli("fmt", unknown, "--to", "lanes")
    assert r.returncode == 1 and "E101" in r.stderr and "did you mean 'tasks'" in r.stderr


def test_fmt_unreadable_and_unwritable(tmp_path):
    r = lanes_cli("fmt", tmp_path / "missing.lanes", "--to", "yaml")
    assert r.returncode == 2 and "no such file" in r.stderr
    src = write(tmp_path, "w.lanes", "workflow w\n")
    r = lanes_cli("fmt", src, "--to", "yaml", "-o", tmp_path / "no" / "dir" / "w.yaml")
    assert r.returncode == 2 and "cannot write" in r.stderr and "Traceback" not in r.stderr
