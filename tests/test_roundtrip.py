"""`lanes fmt`: both forms build the same AST, and a round trip changes nothing."""
from __future__ import annotations

from collections import Counter
from functools import lru_cache
from importlib import resources
from pathlib import Path

from helpers import lanes_cli, write
from hypothesis import HealthCheck, given, settings, strategies as st
from lark import Lark
import pytest
import yaml

from lanes.dsl.comments import comments_of
from lanes.dsl.fmt import Refusal, duration, quote, reformat, to_lanes, to_yaml
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


# -- round trips with comments (Hypothesis) -------------------------------------------------------
# A random workflow, written canonically in one form, with comments sprinkled over its lines
# (on lines of their own, at any indentation, and at the ends of lines), never inside a
# multi-line string. Formatting keeps every comment; converting to the other form and back
# gives the same text; formatting again changes nothing.

IDS = ["a", "b", "c", "api", "ui"]
TEXTS = st.sampled_from(["make", "echo '# not a comment'", 'say "#1"', "line 1\n# not a comment\nline 3\n",
                         "a # b\nc", "x\n\n  y"])
COMMENT = st.text(st.sampled_from(list("ab Z#:{}[],;\"'\\|>-*&!%@`é→\t")), max_size=10).map(lambda s: "#" + s)


@st.composite
def workflows(draw) -> str:
    """The YAML text of a small workflow that builds without errors."""
    agents = draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=3, unique=True))
    tasks = draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=4, unique=True))
    lines = ["workflow: w"]
    if draw(st.booleans()):
        lines.append(f"description: {quote(draw(TEXTS))}")
    if draw(st.booleans()):
        lines.append("defaults: {timeout: 10m, env: {A: \"1\"}}")
    lines.append("agents:")
    for a in agents:
        fields = [f"skills: [{a}s]"] + draw(st.sampled_from([[], ['env: {K: "v", L: "w"}'], ["instances: 2"]]))
        if draw(st.booleans()):
            fields.append(f'domain: {{writes: ["{a}/**"]}}')
        lines.append(f"  {a}: {{{', '.join(fields)}}}")
    lines.append("tasks:")
    for i, t in enumerate(tasks):
        fields = [draw(st.sampled_from([f"agent: {a}" for a in agents] + [f"requires: [{agents[0]}s]"])),
                  f"run: {quote(draw(TEXTS))}"]
        if i and draw(st.booleans()):
            fields.append(f"needs: [{tasks[i - 1]}]")
        fields += draw(st.sampled_from([[], ["estimate: 2m"], ['env: {X: "1"}', "retries: 2"]]))
        lines.append(f"  {t}: {{{', '.join(fields)}}}")
    if draw(st.booleans()):
        lines.append(f"gates:\n  g: {{needs: [{', '.join(tasks)}], run: {quote(draw(TEXTS))}}}")
    return "\n".join(lines) + "\n"


@lru_cache(maxsize=1)
def lanes_lexer() -> Lark:
    """lark's own lexer over lanes.lark: the twin of dsl/comments.py's scanner."""
    grammar = resources.files("lanes.dsl").joinpath("lanes.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="basic")


def _string_lines(text: str, form: str) -> set[int]:
    """The lines (1-based) that a multi-line string starts, ends or goes through."""
    out: set[int] = set()
    if form == "yaml":
        for tok in yaml.scan(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            if isinstance(tok, yaml.ScalarToken) and tok.end_mark.line > tok.start_mark.line:
                out |= set(range(tok.start_mark.line + 1, tok.end_mark.line + 2))
    else:
        for tok in lanes_lexer().lex(text):
            if tok.type == "LONG_STRING" and "\n" in tok:
                out |= set(range(tok.line, tok.end_line + 1))
    return out


@st.composite
def commented(draw, form: str) -> tuple[str, str]:
    """(a canonical text without comments, the same text with comments sprinkled over it)."""
    yaml_text = draw(workflows())
    plain = (to_yaml if form == "yaml" else to_lanes)(ast_of_text(yaml_text, "w.yaml"))
    strings = _string_lines(plain, form)
    out = []
    for number, line in enumerate(plain.splitlines(), 1):
        first_of_string = number in strings and number - 1 not in strings
        if (number not in strings or first_of_string) and draw(st.integers(0, 3)) == 0:
            out.append(" " * draw(st.integers(0, 6)) + draw(COMMENT))
        if number not in strings and draw(st.integers(0, 3)) == 0:
            line += " " * draw(st.integers(1, 3)) + draw(COMMENT)
        out.append(line)
    out += draw(st.lists(COMMENT, max_size=2))
    return plain, "\n".join(out) + "\n"


def _formatted(text: str, form: str, to: str) -> str:
    wf = ast_of_text(text, f"x.{form}")
    out = reformat(text, f"x.{form}", wf, form, to)
    assert not isinstance(out, Refusal), (out, text)
    return out


def _texts(text: str, form: str) -> Counter[str]:
    return Counter(c.text for c in comments_of(text, form))


@pytest.mark.parametrize("form", ["yaml", "lanes"])
@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip_with_comments(form, data):
    plain, source = data.draw(commented(form))
    other = "lanes" if form == "yaml" else "yaml"
    assert ast_of_text(source, f"x.{form}") == ast_of_text(plain, f"x.{form}")   # comments change nothing
    given_comments = _texts(source, form)
    same = _formatted(source, form, form)
    assert _texts(same, form) == given_comments                                 # every comment kept
    assert _formatted(same, form, form) == same                                 # idempotent
    there = _formatted(same, form, other)
    assert _texts(there, other) == given_comments
    assert _formatted(there, other, form) == same                               # a round trip changes nothing
    assert _formatted(there, other, other) == there
    if not given_comments:
        assert same == plain
