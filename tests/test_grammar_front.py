"""The grammar front end (*.lanes): raw trees with true positions, friendly syntax
errors, and hostile inputs that end quickly with E100, never a traceback."""
from __future__ import annotations

import random
import textwrap

from helpers import strip
import pytest

from lanes.dsl import grammar_front
from lanes.dsl.grammar_front import MAX_DEPTH, MAX_ERRORS, parse_lanes
from lanes.dsl.loader import parse_source
from lanes.dsl.raw import Map
from lanes.dsl.source import Source
from lanes.dsl.yaml_front import parse_yaml

SPEC_LANES = '''\
workflow fullstack-feature "API and UI in parallel, gated by integration tests"

defaults { timeout 10m; retries 1; backoff 2s * 2 max 1m }

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

# the same workflow in YAML, written so that even the raw trees agree (one value: a scalar)
SPEC_YAML_SAME_RAW = '''\
workflow: fullstack-feature
description: API and UI in parallel, gated by integration tests
defaults: {timeout: 10m, retries: 1, backoff: {initial: 2s, factor: 2, max: 1m}}
domains:
  contracts: {writes: "contracts/**"}
  api:  {writes: ["src/api/**", "tests/api/**"], reads: "contracts/**"}
  ui:   {writes: "src/ui/**", reads: "contracts/**"}
agents:
  architect: {domain: contracts, skills: openapi}
  backend:   {domain: api, skills: [python, fastapi]}
  frontend:  {domain: ui, skills: react}
  scribe:    {domain: {writes: "docs/**", reads: "**"}, skills: docs}
tasks:
  schema: {agent: architect, run: ./scripts/gen-schema.sh, estimate: 2m}
  api:    {agent: backend, needs: [schema], run: make api, estimate: 5m, rollback: git checkout -- src/api}
  ui:     {requires: [react], needs: [schema], run: npm run build, estimate: 4m}
  docs:   {agent: scribe, needs: [integration], run: mkdocs build}
gates:
  integration: {needs: [api, ui], run: pytest -q, on_fail: rollback}
'''

# SPEC section 2, as written there (lists in brackets), less the fields section 3 leaves out
SPEC_YAML = '''\
workflow: fullstack-feature
description: API and UI in parallel, gated by integration tests
defaults:
  timeout: 10m
  retries: 1
  backoff: {initial: 2s, factor: 2, max: 1m}
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




def parse(text: str) -> Map:
    raw, diags = parse_lanes(textwrap.dedent(text), "f.lanes")
    assert not diags, diags
    return raw


def field(m: Map, *path: str):
    """The entry (key, value) at a path of keys."""
    for i, name in enumerate(path):
        [(k, v)] = [(k, v) for k, v in m.entries if k.value == name]
        if i < len(path) - 1:
            m = v
    return k, v


def where(node) -> tuple[int, int, int, int]:
    s = node.span
    return s.line, s.column, s.end_line, s.end_column


def error_of(text: str):
    raw, diags = parse_lanes(text, "f.lanes")
    assert raw is None and diags and all(d.code == "E100" for d in diags)
    return diags


def ast(text: str, name: str):
    wf, diags = parse_source(Source(name, text.encode(), text))
    return wf, diags


# -- the spec's example --------------------------------------------------------------------------

def test_spec_example_gives_the_raw_tree_of_the_yaml_form():
    yaml_raw, diags = parse_yaml(SPEC_YAML_SAME_RAW, "f.yaml")
    assert not diags
    assert strip(parse(SPEC_LANES)) == strip(yaml_raw)


def test_spec_example_builds_the_ast_of_the_spec_yaml():
    lanes_wf, d1 = ast(SPEC_LANES, "f.lanes")
    yaml_wf, d2 = ast(SPEC_YAML, "f.yaml")
    assert not d1 and not d2
    assert lanes_wf == yaml_wf


def test_spec_example_positions():
    raw = parse(SPEC_LANES)
    key, value = field(raw, "workflow")
    assert where(key) == (1, 1, 1, 9) and where(value) == (1, 10, 1, 27)
    key, value = field(raw, "description")
    assert value.value == "API and UI in parallel, gated by integration tests"
    assert where(value) == (1, 28, 1, 80)                  # a string's span covers its quotes
    key, value = field(raw, "defaults", "backoff")
    assert where(key) == (3, 36, 3, 43)
    assert strip(value) == [("initial", "2s"), ("factor", "2"), ("max", "1m")]
    assert [where(k) for k, _ in value.entries] == [(3, 44, 3, 46), (3, 47, 3, 48), (3, 51, 3, 54)]
    key, value = field(raw, "domains", "api", "writes")
    assert [where(i) for i in value.items] == [(6, 22, 6, 34), (6, 36, 6, 50)]
    key, _ = field(raw, "tasks")                            # the collection: its first statement
    assert where(key) == (14, 1, 14, 5)
    key, body = field(raw, "tasks", "api")
    assert where(key) == (15, 6, 15, 9) and where(body) == (15, 1, 15, 101)
    key, value = field(raw, "tasks", "api", "agent")       # `by` is the agent field
    assert where(key) == (15, 10, 15, 12) and value.value == "backend" and where(value) == (15, 13, 15, 20)
    key, value = field(raw, "gates", "integration", "on_fail")
    assert where(key) == (19, 51, 19, 58) and where(value) == (19, 59, 19, 67)


def test_inline_writes_and_reads_are_the_domain_of_an_agent():
    raw = parse(SPEC_LANES)
    body = field(raw, "agents", "scribe")[1]
    assert [k.value for k, _ in body.entries] == ["domain", "skills"]
    key, domain = field(raw, "agents", "scribe", "domain")
    assert where(key) == (12, 19, 12, 25)                  # the first `writes`
    assert strip(domain) == [("writes", "docs/**"), ("reads", "**")]


# -- statements -----------------------------------------------------------------------------------

def test_head_clauses_in_any_order_and_always_lists():
    raw = parse('task t needs a requires s, u by x { run "r" }\ngate g needs t { run "c" }')
    assert strip(field(raw, "tasks", "t")[1]) == [
        ("needs", ["a"]), ("requires", ["s", "u"]), ("agent", "x"), ("run", "r")]
    assert strip(field(raw, "gates", "g")[1]) == [("needs", ["t"]), ("run", "c")]


def test_task_writes_reads_and_domain_blocks():
    raw = parse('''
        task t by a {
          run "x"
          reads "docs/**"
          estimate 1m
          writes "src/**", "lib/**"
        }
        domain d { writes "a/**"; reads "b/**" }
        ''')
    assert strip(field(raw, "tasks", "t")[1]) == [
        ("agent", "a"), ("run", "x"), ("reads", "docs/**"), ("estimate", "1m"),
        ("writes", ["src/**", "lib/**"])]
    assert strip(field(raw, "domains", "d")[1]) == [("writes", "a/**"), ("reads", "b/**")]


@pytest.mark.parametrize("text,expected", [
    ("backoff 2s", "2s"),
    ("backoff 2s * 3", [("initial", "2s"), ("factor", "3")]),
    ("backoff 2s max 1m", [("initial", "2s"), ("max", "1m")]),
    ("backoff 2s * 1.5 max 1h30m", [("initial", "2s"), ("factor", "1.5"), ("max", "1h30m")]),
    ("backoff { initial 2s; factor 2; max 1m }", [("initial", "2s"), ("factor", "2"), ("max", "1m")]),
])
def test_backoff_forms(text, expected):
    assert strip(field(parse(f"defaults {{ {text} }}"), "defaults", "backoff")[1]) == expected


def test_generic_statements_reach_the_builder():
    raw = parse('agent a { domian x; env { PATH "/bin"; EMPTY "" } ; instances 2 }')
    assert strip(field(raw, "agents", "a")[1]) == [
        ("domian", "x"), ("env", [("PATH", "/bin"), ("EMPTY", "")]), ("instances", "2")]
    _, diags = ast('workflow w\nagent a { domian x }\n', "f.lanes")
    assert [(d.code, d.span.line, d.span.column) for d in diags] == [("E101", 2, 11)]
    assert "did you mean 'domain'" in diags[0].message


def test_a_bare_field_is_null_as_in_yaml():
    assert strip(parse("task t by a { requires; run \"x\" }")) == [
        ("tasks", [("t", [("agent", "a"), ("requires", None), ("run", "x")])])]


def test_duplicate_ids_are_kept_for_the_builder():
    raw = parse("task a by x\ntask a by y\n")
    assert [k.value for k, _ in field(raw, "tasks")[1].entries] == ["a", "a"]


def test_keywords_are_names_where_a_name_is_expected():
    raw = parse('task needs by by needs max, requires { needs "x" }\nagent by { skills max, by }')
    assert strip(raw) == [
        ("tasks", [("needs", [("agent", "by"), ("needs", ["max", "requires"]), ("needs", "x")])]),
        ("agents", [("by", [("skills", ["max", "by"])])])]


# -- values and layout ----------------------------------------------------------------------------

def test_string_escapes():
    raw = parse(r'x "q\" b\\ n\n t\t \u00e9 \ud83d\ude00 \d"')
    assert field(raw, "x")[1].value == 'q" b\\ n\n t\t é 😀 \\d'


def test_long_strings_are_verbatim():
    raw = parse('task t by a {\n  run """\n  set -e\n  echo "a \\n b" # not a comment\n"""\n}\n')
    _, run = field(raw, "tasks", "t", "run")
    assert run.value == '  set -e\n  echo "a \\n b" # not a comment\n'
    assert where(run) == (2, 7, 5, 4)
    assert field(parse('x """one "two" three"""'), "x")[1].value == 'one "two" three'


def test_bare_words():
    raw = parse("x 90, 5m, 1h30m, 250ms, 1.5, a-b_c, -1\n")
    assert strip(field(raw, "x")[1]) == ["90", "5m", "1h30m", "250ms", "1.5", "a-b_c", "-1"]


def test_separators_comments_and_continuations():
    text = ('# a comment\r\n\r\nworkflow w # trailing\n;;\n'
            'agent a { skills x,   # a list goes on after a comma\n   y, \\\n z ; instances 2 ; }\n'
            'task t by a   # a block may open on the next line\n\n{\n  run "#not a comment"\n}\n')
    raw = parse(text)
    assert strip(raw) == [("workflow", "w"),
                          ("agents", [("a", [("skills", ["x", "y", "z"]), ("instances", "2")])]),
                          ("tasks", [("t", [("agent", "a"), ("run", "#not a comment")])])]
    _, block = field(raw, "tasks", "t")
    assert where(block)[:2] == (8, 1)                          # the statement's start
    _, run = field(raw, "tasks", "t", "run")
    assert where(run) == (11, 7, 11, 23)


def test_byte_order_mark_is_not_a_column():
    raw = parse("\ufeffworkflow w\n")
    assert where(field(raw, "workflow")[0]) == (1, 1, 1, 9)


def test_empty_file_is_an_error():
    [d] = error_of("# nothing here\n\n")
    assert "empty workflow file" in d.message


# -- syntax errors --------------------------------------------------------------------------------

@pytest.mark.parametrize("text,line,col,words", [
    ('workflow w\nagent a {\n  skills x\n', 4, 1,
     "'}' missing (the '{' at line 2, column 9 is never closed)"),
    ('workflow w\ntask t by a { run "unterminated }\n', 2, 19, "unterminated string"),
    ('workflow w\ntask t by a { run """\nno end\n', 2, 19, "unterminated '\"\"\"' string"),
    ('workflow: w\n', 1, 9, "not 'field: value'"),
    ('workflow w\ntask t by a { run "x" } }\n', 2, 25, "found '}' with no '{' to close"),
    ('workflow w\ntask t on a { run "x" }\n', 2, 8,
     "expected 'by', 'requires', 'needs', 'for', '{' or end of statement, found 'on'"),
    ('workflow w\nagent a { skills x y }\n', 2, 20, "expected ',', '{' or end of statement, found 'y'"),
    ('task }\n', 1, 6, "found '}' with no '{' to close"),
    ('task t by\n', 1, 10, "expected a value, found end of line"),
    ('task t {\n { run "x" }\n}\n', 2, 2, "expected a name, '}' or end of statement, found '{'"),
    ('agent a { skills [x, y] }\n', 1, 18, "a list is written 'a, b, c', without brackets"),
    ('agent a { instances = 2 }\n', 1, 21, "not 'field = value'"),
    ('agent a { skills x\n', 2, 1, "'}' missing"),
    ('agent a by b\n', 1, 9, "only tasks and gates have head clauses"),
    ('gate g by b { run "x" }\n', 1, 8, "a gate's head takes 'needs'"),
    ('task a, b { run "x" }\n', 1, 6, "expected one id after 'task', found a list"),
    ('agent a { domain d { writes "x" } }\n', 1, 11, "takes values or a block, not both in a block"),
    ('agent a { skills x by y }\n', 1, 20, "'by' is written only in the head of a task or a gate"),
    ('agent a { skills x "y" }\n', 1, 20, "expected ',' between the values of 'skills'"),
    ('defaults { timeout 1 * 2 }\n', 1, 22, "'*' belongs to 'backoff"),
    ('x "\\ud800"\n', 1, 3, "half of a UTF-16 surrogate pair"),
    ('x \x00\n', 1, 3, "unexpected character '\\x00'"),
    ('workflow w "d" "e"\n', 1, 16, "expected end of statement, found '\"e\"'"),
])
def test_syntax_errors_say_where_and_what_was_expected(text, line, col, words):
    d = error_of(text)[0]
    assert (d.span.file, d.span.line, d.span.column) == ("f.lanes", line, col), d.message
    assert words in d.message


def test_an_unclosed_block_points_at_its_brace():
    [d] = error_of('workflow w\nagent a {\n  skills x\n')
    [r] = d.related
    assert (r.span.line, r.span.column) == (2, 9)


def test_errors_of_several_statements_in_one_run():
    text = ('workflow w\ntask a by x { run "x" y }\ntask b by x { run: "x" }\n'
            'task c by x { run "ok" }\ntask d by x {\n  run [a]\n}\nagent q {\n')
    diags = error_of(text)
    assert [(d.span.line, d.span.column) for d in diags] == [(2, 23), (3, 18), (6, 7), (9, 1)]
    assert ["found 'y'" in diags[0].message, ":" in diags[1].message, "[" in diags[2].message,
            "'}' missing" in diags[3].message] == [True] * 4


def test_error_count_is_bounded():
    diags = error_of("task @\n" * 1000)
    assert len(diags) == MAX_ERRORS


# -- hostile input: refused early, by the count of tokens read (how fast: bench/bench_check.py) --

class Lexing:
    """The tokens that the lexer handed to the parser, one count per pass over the text."""

    def __init__(self) -> None:
        self.passes: list[int] = []

    @property
    def tokens(self) -> int:
        return sum(self.passes)


@pytest.fixture
def lexing(monkeypatch):
    seen = Lexing()
    real = grammar_front._Lexer.lex

    def counted(self, lexer_state, parser_state):
        seen.passes.append(0)
        for tok in real(self, lexer_state, parser_state):
            seen.passes[-1] += 1
            yield tok
    monkeypatch.setattr(grammar_front._Lexer, "lex", counted)
    return seen


def test_deep_nesting_stops_at_the_limit(lexing):
    raw, [d] = parse_lanes("a {" * 100_000, "f.lanes")
    assert raw is None and (d.span.line, d.span.column) == (1, 3 * (MAX_DEPTH + 1))
    assert "nest deeper" in d.message
    # refused at the brace one too deep, before the parser gets it: a name and a brace a level
    assert lexing.passes == [2 * MAX_DEPTH + 1]
    raw, diags = parse_lanes("a {" * MAX_DEPTH + "b 1" + "}" * MAX_DEPTH, "f.lanes")
    assert not diags


def test_many_closing_braces(lexing):
    raw, diags = parse_lanes("}" * 100_000 + "\n" + "{" * 100_000, "f.lanes")
    assert raw is None and [(d.span.line, d.span.column) for d in diags] == [(1, 1), (2, MAX_DEPTH + 1)]
    assert "no '{' to close" in diags[0].message and "nest deeper" in diags[1].message
    # the parser took the first '}'; the rest was skipped with it, up to the brace one too deep
    assert lexing.passes == [1]


def test_binary_garbage(lexing):
    rng = random.Random(7)
    for _ in range(20):
        data = bytes(rng.randrange(256) for _ in range(2000))
        lexing.passes.clear()
        raw, diags = parse_lanes(data.decode("utf-8", errors="replace"), "f.lanes")
        assert raw is None and diags and diags[0].code == "E100"
        assert len(lexing.passes) <= MAX_ERRORS


def test_fifteen_megabytes_of_junk(lexing):
    raw, diags = parse_lanes("workflow w\n" + "task ~@!\n" * 1_700_000, "f.lanes")
    assert raw is None and len(diags) == MAX_ERRORS
    # one pass per error, each stopping at the first bad character of its line
    assert len(lexing.passes) == MAX_ERRORS and lexing.tokens <= 5 * MAX_ERRORS
    lexing.passes.clear()
    raw, diags = parse_lanes("\x7f" * 15_000_000, "f.lanes")
    assert raw is None and len(diags) == 1 and lexing.passes == [1]      # one token of junk


def test_ten_thousand_tasks_parse_in_one_pass(lexing):
    lines = ['workflow big "generated"', "defaults { timeout 10m; retries 1; backoff 2s * 2 max 1m }"]
    lines += [f'agent a{i} {{ domain d{i}; skills s{i}, python }}' for i in range(20)]
    lines += [f'task t{i} by a{i % 20}{f" needs t{i - 1}" if i % 7 else ""} '
              f'{{ run "make part-{i} --flag \\"x\\""; estimate 5m; timeout 1h30m }}' for i in range(10_000)]
    raw, diags = parse_lanes("\n".join(lines), "big.lanes")
    tasks = field(raw, "tasks")[1]
    assert not diags and len(tasks.entries) == 10_000 and len(lexing.passes) == 1
    assert strip(tasks.entries[-1][1]) == [("agent", "a19"), ("needs", ["t9998"]),
                                           ("run", 'make part-9999 --flag "x"'), ("estimate", "5m"),
                                           ("timeout", "1h30m")]
