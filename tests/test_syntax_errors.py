"""Syntax errors a person can act on (issue 17): several per file in the grammar form,
misspelled statements with "did you mean", YAML mistakes placed at the line of the
mistake, and suggestions only when they are near."""
from __future__ import annotations

import json
from pathlib import Path
import random
import subprocess
import sys

import pytest
import yaml

from lanes.dsl import yaml_front
from lanes.dsl.diagnostics import did_you_mean, edit_distance
from lanes.dsl.grammar_front import MAX_ERRORS, parse_lanes
from lanes.dsl.loader import parse_source
from lanes.dsl.source import Source
from lanes.dsl.yaml_front import parse_yaml

ROOT = Path(__file__).resolve().parent.parent
TASK_FIELDS = ("for_each", "agent", "requires", "needs", "run", "prompt", "domain", "writes", "reads",
               "estimate", "timeout", "retries", "backoff", "rollback", "expect_changes", "env",
               "description")


# -- did you mean: only when near ------------------------------------------------------------------

@pytest.mark.parametrize("word,near", [
    ("retires", "retries"), ("rnu", "run"), ("estimat", "estimate"), ("Run", "run"),
    ("rollbak", "rollback"), ("requirs", "requires"), ("need", "needs"), ("timout", "timeout"),
    ("desc", "description"),
])
def test_a_near_field_is_suggested(word, near):
    assert did_you_mean(word, TASK_FIELDS) == f" (did you mean '{near}'?)"


@pytest.mark.parametrize("word,choices", [
    ("command", TASK_FIELDS),               # difflib at 0.6 offered 'domain'
    ("domain", ("command",)),
    ("dependencies", TASK_FIELDS), ("x", TASK_FIELDS), ("ab", ("run", "env")),
    ("integration-tests", ("integration",)),
])
def test_nothing_far_is_suggested(word, choices):
    assert did_you_mean(word, choices) == ""


def test_the_fewest_edits_win_then_the_order():
    assert did_you_mean("agnet", ("agents", "agent")) == " (did you mean 'agent'?)"
    assert did_you_mean("cmd", ("command", "cmdx")) == " (did you mean 'cmdx'?)"
    assert did_you_mean("ba", ("ab", "bb")) == " (did you mean 'ab'?)"   # both one edit: the first
    assert did_you_mean("cmd", ("command",)) == " (did you mean 'command'?)"


@pytest.mark.parametrize("a,b,edits", [
    ("agnet", "agent", 1), ("retires", "retries", 1), ("command", "domain", 4), ("", "abc", 3),
    ("abc", "", 3), ("kitten", "sitting", 3), ("ca", "abc", 3),
])
def test_edit_distance(a, b, edits):
    assert edit_distance(a, b, 10) == edits
    assert edit_distance(a, b, 1) == min(edits, 2)


# -- the grammar form: several errors per file, one per mistake ------------------------------------

HEAD = 'workflow w\nagent coder { skills py }\n'


def lanes_errors(text: str) -> list[tuple[int, int, str]]:
    raw, diags = parse_lanes(text, "f.lanes")
    assert raw is None and diags and all(d.code == "E100" for d in diags), diags
    return [(d.span.line, d.span.column, d.message) for d in diags]


@pytest.mark.parametrize("body,line,col,words", [
    ('task a by coder { run "x" estimate 2m }\n', 3, 27, "expected ';' or a new line before 'estimate'"),
    ('task a by coder { run = "x" }\n', 3, 23, "not 'field = value'"),
    ('task a by coder { run: "x" }\n', 3, 22, "not 'field: value'"),
    ('task a by coder { run "x" }}\n', 3, 28, "no '{' to close"),
    ('task a by coder run "x" }\n', 3, 17, "expected '{' before 'run'"),            # a missing '{'
    ('agent b skills x; instances 2 }\n', 3, 9, "expected '{' before 'skills' (the fields of an agent"),
    ('task a needs b c { run "x" }\n', 3, 16, "found 'c'"),                          # a missing ','
    ('task a by coder { run "x" } needs b\n', 3, 29, "'needs' is written in the head"),
    ('task a by coder { run "unterminated }\n', 3, 23, "unterminated string"),
    ('task a by coder { run "make\n  more"; estimate 2m }\n', 3, 23, "unterminated string"),
    ('task a by coder { run "x"\n\ntask b by coder { run "y" }\ntask c by coder { run "z" }\n', 5, 1,
     "'}' missing before this 'task' (the '{' at line 3, column 17 is still open here"),
    ('task a by coder { run "x"\ngate g needs a { run "y" }\ntask c by coder { run "z" }\n}\n', 4, 1,
     "'}' missing before this 'gate'"),
    ('task a by coder { env { A "1" B "2" }; run "x" }\n', 3, 31, "found 'B' (separate values with ','"),
    ('task a by { run "x" }\n', 3, 11, "expected a value, found '{'"),
    ('domain d { writes{ "src/**" }\ntask a by coder { run "x" }\n', 3, 20, "found '\"src/**\"'"),
])
def test_one_mistake_is_one_error_where_it_is(body, line, col, words):
    # the statements after it are read as usual: a mistake in them would be reported too
    [(got_line, got_col, message)] = lanes_errors(HEAD + body + 'task last by coder { run "ok" }\n')
    assert (got_line, got_col) == (line, col), message
    assert words in message


def test_a_block_open_at_the_end_of_the_file():
    [(line, col, message)] = lanes_errors(HEAD + 'task a by coder { run "x" }\nagent other { skills x\n')
    assert (line, col) == (5, 1) and "'}' missing (the '{' at line 4, column 13 is never closed)" in message


def test_three_mistakes_in_three_statements_are_three_errors():
    text = HEAD + ('task a by coder { run "x" estimate 2m }\n'
                   'task b by coder {\n  run = "y"\n  estimate 2m\n}\n'
                   'task c by coder { run "z" }\n'
                   'gate g needs a b { run "t" }\n')
    assert [(line, col) for line, col, _ in lanes_errors(text)] == [(3, 27), (5, 7), (9, 16)]


def test_several_mistakes_in_one_block_each_reported():
    text = HEAD + 'task a by coder {\n  run = "x"\n  estimate 2m 3m\n  retries: 2\n}\n'
    assert [(line, col) for line, col, _ in lanes_errors(text)] == [(4, 7), (5, 15), (6, 10)]


def test_statements_after_an_error_still_report_their_problems():
    text = HEAD + 'task a by coder { run = "x" }\ntsak b by coder { run "y" }\n'
    assert [m for _, _, m in lanes_errors(text)] == [
        "unexpected '=' (the grammar form writes 'field value', not 'field = value')",
        "unknown statement 'tsak' (did you mean 'task'?)"]


def test_an_unterminated_long_string_ends_the_report():
    # what follows is the string's text as far as anyone can tell: nothing is reported in it
    [(line, col, message)] = lanes_errors(HEAD + 'task a by coder { run """\n  make x = y\n  ]]\n')
    assert (line, col) == (3, 23) and "unterminated '\"\"\"'" in message


def test_one_character_wrong_is_never_a_cascade():
    # a character deleted, inserted or replaced anywhere in the example workflow: at most two
    # errors (a line broken in two is two broken lines), each on a line of the file
    rng = random.Random(17)
    text = (ROOT / "examples" / "fullstack.lanes").read_text(encoding="utf-8")
    assert parse_lanes(text, "f.lanes")[1] == []
    counts = []
    for _ in range(600):
        chars = list(text)
        i = rng.randrange(len(chars))
        op = rng.random()
        if op < 0.4:
            del chars[i]
        elif op < 0.8:
            chars.insert(i, rng.choice('{};,"\n *#:=ab\\'))
        else:
            chars[i] = rng.choice('{};,"\n *#:=ab\\')
        mutated = "".join(chars)
        raw, diags = parse_lanes(mutated, "f.lanes")
        assert len(diags) <= 2, (mutated, diags)
        assert all(d.code == "E100" and 1 <= d.span.line <= mutated.count("\n") + 1 for d in diags)
        counts.append(len(diags))
    assert counts.count(1) > 100            # the mutations do break the file, often


def test_errors_keep_their_order_and_bound():
    text = HEAD + "".join(f'task t{i} by coder {{ run = "x" }}\n' for i in range(3 * MAX_ERRORS))
    found = lanes_errors(text)
    assert len(found) == MAX_ERRORS and [line for line, _, _ in found] == list(range(3, 3 + MAX_ERRORS))


# -- misspelled statements -------------------------------------------------------------------------

@pytest.mark.parametrize("stmt,words", [
    ("agnet other { skills x }", "unknown statement 'agnet' (did you mean 'agent'?)"),
    ("agnet other", "unknown statement 'agnet' (did you mean 'agent'?)"),
    ('tsak a by coder { run "x" }', "unknown statement 'tsak' (did you mean 'task'?)"),
    ("tsak a by coder", "unknown statement 'tsak' (did you mean 'task'?)"),
    ('gaet g needs a { run "x" }', "unknown statement 'gaet' (did you mean 'gate'?)"),
    ('domian d { writes "x" }', "unknown statement 'domian' (did you mean 'domain'?)"),
    ('workflwo w "d"', "unknown statement 'workflwo' (did you mean 'workflow'?)"),
    ('frobnicate a { x 1 }', "unknown statement 'frobnicate' (an id and a block after a name declare"),
    ("frobnicate a by coder", "unknown statement 'frobnicate' ('by' is written in the head of a task"),
])
def test_a_misspelled_statement_is_named_at_the_word(stmt, words):
    [(line, col, message)] = lanes_errors(HEAD + stmt + "\n")
    assert (line, col) == (3, 1) and message.startswith(words), message


@pytest.mark.parametrize("stmt,col,words", [
    ('task t requires py neds a { run "x" }', 20, "found 'neds' (did you mean 'needs'?)"),
    ('task t bu coder { run "x" }', 8, "found 'bu' (did you mean 'by'?)"),
    ('task t by coder requirs py { run "x" }', 17, "found 'requirs' (did you mean 'requires'?)"),
    ('gate g neds t { run "x" }', 8, "expected 'needs', '{' or end of statement, found 'neds' (did you mean "
                                     "'needs'?)"),
    ('gate g by t { run "x" }', 8, "a gate's head takes 'needs'"),
    ('task t by coder schema { run "x" }', 17, "found 'schema' (separate values with ','"),
])
def test_a_misspelled_head_clause_is_named(stmt, col, words):
    [(line, got_col, message)] = lanes_errors(HEAD + stmt + "\n")
    assert (line, got_col) == (3, col) and words in message, message


def test_two_statements_run_together():
    [(line, col, message)] = lanes_errors(HEAD + 'domain a { writes "x" }domain b { writes "y" }\n')
    assert (line, col, message) == (3, 24, "expected ';' or a new line before 'domain' (a statement ends with "
                                           "either)")


def ast_of(text: str, name: str = "f.lanes"):
    return parse_source(Source(name, text.encode(), text))


@pytest.mark.parametrize("body,code,line,col,words", [
    ('task a by coder { rnu "make" }', "E101", 3, 19, "unknown field 'rnu' in task 'a' (did you mean 'run'?)"),
    ('task a by coder { run "x"; retires 2 }', "E101", 3, 28, "(did you mean 'retries'?)"),
    ('task a by coder { run "x"; command "make" }', "E101", 3, 28, "unknown field 'command' in task 'a'"),
    ('wrkdir "x"', "E101", 3, 1, "(did you mean 'workdir'?)"),
])
def test_a_misspelled_field_is_the_builders_unknown_field(body, code, line, col, words):
    _, diags = ast_of(HEAD + body + "\n")
    [d] = [d for d in diags if d.code == code]
    assert (d.span.line, d.span.column) == (line, col) and words in d.message
    if "command" in body:
        assert "did you mean" not in d.message


# -- YAML: at the line of the mistake ----------------------------------------------------------------

@pytest.fixture(params=["libyaml", "pure"])
def both_parsers(request, monkeypatch):
    """libyaml's parser and PyYAML's own (the fallback) stop at the same places."""
    if request.param == "pure":
        monkeypatch.setattr(yaml_front, "_LOADER", yaml.SafeLoader)
    elif not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML built without libyaml")


TASK_A = "workflow: w\ntasks:\n  a:\n    agent: coder\n"


@pytest.mark.parametrize("text,line,col,words", [
    # a key without its ':': PyYAML stops a line later
    (TASK_A + '    run "make"\n    estimate: 2m\n', 5, 8, "expected ':' after 'run'"),
    (TASK_A + '    run "make"\n', 5, 8, "expected ':' after 'run'"),
    (TASK_A + "    estimate 2m\n    run: make\n", 5, 13, "expected ':' after 'estimate'"),
    ("workflow: w\nagents:\n  agent coder\n  other:\n    skills: [x]\n", 3, 8,
     "expected ':' after 'agent' (a mapping entry is written 'key: value'; without it, this line and the "
     "next read as one text)"),
    ("workflow w\ntasks:\n  a: {}\n", 1, 9, "expected ':' after 'workflow'"),
    ("workflow w\ntasks: {}\n", 1, 9, "expected ':' after 'workflow'"),
    (TASK_A + "    run:make\n    estimate: 2m\n", 5, 8, "a ':' after a key is followed by a space: 'run: make'"),
    (TASK_A + "    run\n    estimate: 2m\n", 5, 8, "expected ':' after 'run'"),
    ("workflow: w\ntasks:\n  é:\n    ü \"make\"\n    estimate: 2m\n", 4, 6, "expected ':' after 'ü'"),
    ("defaults:\n[  timeout: 10m\n  retries: 1\n", 2, 1, "expected ':' after the key that starts here"),
    # indentation
    (TASK_A + "    run: make\n      estimate: 2m\n", 6, 7, "indented deeper than the key on line 5"),
    (TASK_A + "    run: make\n   estimate: 2m\n", 6, 4, "indentation matches no key above it"),
    (TASK_A + "    run: make\n    - x\n", 6, 5, "a list item among the keys of a mapping"),
    ("workflow: w\nneeds:\n  - a\n  b: c\n", 4, 3, "a 'key: value' among the items of a list"),
    (TASK_A + "\trun: make\n", 5, 1, "a tab: YAML indents with spaces only"),
    # quotes and brackets: where they open
    (TASK_A + '    run: "make\n    estimate: 2m\n', 5, 10, "a quoted string is never closed"),
    (TASK_A + "    run: 'make\n", 5, 10, "a quoted string is never closed"),
    (TASK_A + '    run: "make\n    estimate: 2m\n  b:\n    run: "x"\n', 5, 10,
     "this quoted string is not closed on its line: it runs on to line 8"),
    (TASK_A + '    run: "make" x\n', 5, 17, "text after a closing quote"),
    (TASK_A + "    needs: [x, y\n    estimate: 2m\n", 5, 12, "this '[' is never closed"),
    (TASK_A + "    needs: [x, y\n", 5, 12, "this '[' is never closed"),
    ("workflow: w\ntasks:\n  a: {run: make, estimate: 2m\n  b: {run: x}\n", 3, 6, "this '{' is never closed"),
    # where YAML's own place is the right one
    (TASK_A + "    run: echo a: b\n", 5, 16, "a value that holds ': ' must be quoted"),
    (TASK_A + "    run: @x\n", 5, 10, "'@' cannot start a plain value"),
])
def test_yaml_errors_are_at_the_line_of_the_mistake(both_parsers, text, line, col, words):
    raw, [d] = parse_yaml(text, "f.yaml")
    assert raw is None and d.code == "E100" and d.message.startswith("YAML syntax error: ")
    assert (d.span.line, d.span.column) == (line, col), d.message
    assert words in d.message
    # where PyYAML stopped, when that is elsewhere, as a related location
    assert all(r.span is not None and r.span.line >= 1 for r in d.related)


def test_a_missing_colon_tells_where_yaml_stopped(both_parsers):
    raw, [d] = parse_yaml(TASK_A + '    run "make"\n    estimate: 2m\n', "f.yaml")
    [stopped] = d.related
    assert stopped.message == "YAML stopped here" and (stopped.span.line, stopped.span.column) == (6, 5)


# -- through the command line -------------------------------------------------------------------------

def check_json(tmp_path, name: str, text: str) -> dict:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "lanes", "check", "--format", "json", str(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    return json.loads(r.stdout)


def test_cli_reports_each_grammar_mistake(tmp_path):
    out = check_json(tmp_path, "w.lanes", HEAD + 'agnet other { skills x }\n'
                     'task a by coder { run = "x" }\ntask b by coder { run "y" estimate 2m }\n')
    got = [(d["code"], d["line"], d["column"], d["message"]) for d in out["diagnostics"]]
    assert got == [
        ("E100", 3, 1, "unknown statement 'agnet' (did you mean 'agent'?)"),
        ("E100", 4, 23, "unexpected '=' (the grammar form writes 'field value', not 'field = value')"),
        ("E100", 5, 27, "expected ';' or a new line before 'estimate' (a statement ends with either)"),
    ]
    assert out["errors"] == 3 and out["warnings"] == 0


def test_cli_reports_a_missing_colon_at_its_line(tmp_path):
    out = check_json(tmp_path, "w.yaml", TASK_A + '    run "make"\n    estimate: 2m\n')
    [d] = out["diagnostics"]
    assert (d["code"], d["line"], d["column"]) == ("E100", 5, 8) and d["file"].endswith("w.yaml")
    assert d["message"] == "YAML syntax error: expected ':' after 'run' (a mapping entry is written 'key: value')"
    assert [(r["line"], r["column"]) for r in d["related"]] == [(6, 5)]


def test_cli_command_field_suggests_nothing_far(tmp_path):
    out = check_json(tmp_path, "w.lanes", HEAD + 'task a by coder { run "x"; command "make" }\n')
    [d] = [d for d in out["diagnostics"] if d["code"] == "E101"]
    assert d["message"] == "unknown field 'command' in task 'a'" and (d["line"], d["column"]) == (3, 28)


def test_a_large_file_is_scanned_again_only_near_the_error(both_parsers, monkeypatch):
    from lanes.dsl import yaml_errors
    starts = []
    real = yaml_errors._scan

    def scan(text, start, index, loader):
        starts.append(start)
        return real(text, start, index, loader)
    monkeypatch.setattr(yaml_errors, "_scan", scan)
    body = "".join(f"  t{i}:\n    agent: a\n    run: make {i}\n" for i in range(2000))
    text = "workflow: w\ntasks:\n" + body + "  z:\n    agent a\n    run: x\n"
    raw, [d] = parse_yaml(text, "f.yaml")
    assert (d.span.line, d.span.column) == (6004, 10) and "expected ':' after 'agent'" in d.message
    assert starts == [text.index("  z:")]
