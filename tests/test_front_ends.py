"""Both front ends: positions, friendly syntax errors, hostile shapes."""
from __future__ import annotations

from helpers import strip
import pytest

from lanes.dsl.grammar_front import parse_lanes
from lanes.dsl.yaml_front import parse_yaml


def test_yaml_keeps_positions_of_keys_and_values():
    raw, diags = parse_yaml("workflow: w\ntasks:\n  t: {run: 'x', needs: [a, b]}\n", "f.yaml")
    assert not diags
    tasks = dict((k.value, v) for k, v in raw.entries)["tasks"]
    key, body = tasks.entries[0]
    assert (key.span.line, key.span.column) == (3, 3)
    run_key, run = body.entries[0]
    assert (run_key.span.line, run_key.span.column, run.span.line, run.span.column) == (3, 7, 3, 12)
    needs = body.entries[1][1]
    assert [(i.value, i.span.column) for i in needs.items] == [("a", 25), ("b", 28)]


def test_yaml_nulls_only_when_plain():
    raw, _ = parse_yaml("a: ~\nb: 'null'\nc:\n", "f.yaml")
    assert strip(raw) == [("a", None), ("b", "null"), ("c", None)]


def test_grammar_builds_the_same_raw_tree_as_yaml():
    lanes_raw, d1 = parse_lanes(
        'workflow w "d"\nagent a { writes "x/**"; reads "y"; skills p, q }\n'
        'task t by a needs u, v { run """\nline 1\nline 2"""; backoff 2s * 3 max 1m }\n', "f.lanes")
    yaml_raw, d2 = parse_yaml(
        'workflow: w\ndescription: d\nagents:\n  a: {domain: {writes: x/**, reads: y}, skills: [p, q]}\n'
        'tasks:\n  t: {agent: a, needs: [u, v], run: "line 1\\nline 2", '
        'backoff: {initial: 2s, factor: 3, max: 1m}}\n', "f.yaml")
    assert not d1 and not d2
    assert strip(lanes_raw) == strip(yaml_raw)


@pytest.mark.parametrize("text,line,col,words", [
    ('workflow w\nagent a {\n  skills x\n', 4, 1, "'}' missing"),
    ('workflow w\ntask t by a { run "unterminated }\n', 2, 19, "unterminated string"),
    ('workflow: w\n', 1, 9, "not 'field: value'"),
    ('workflow w\ntask t by a { run "x" } }\n', 2, 25, "found '}'"),
    ('workflow w\ntask t on a { run "x" }\n', 2, 8, "expected 'by'"),
    ('workflow w\nagent a { skills x y }\n', 2, 20, "expected ','"),
])
def test_grammar_syntax_errors_say_what_was_expected(text, line, col, words):
    raw, diags = parse_lanes(text, "f.lanes")
    assert raw is None
    [d] = diags
    assert d.code == "E100"
    assert (d.span.line, d.span.column) == (line, col), d.message
    assert words in d.message


@pytest.mark.parametrize("text,line,col,words", [
    ("workflow: w\ntasks: [a\n", 2, 8, "YAML syntax error"),
    ("a: 1\n---\nb: 2\n", 2, 1, "one YAML document"),
    ("- a\n- b\n", 1, 1, "mapping"),
    ("workflow: !!python/name:os.system x\n", 1, 11, "tag"),
    ("", 1, 1, "empty"),
    ("a: *nope\n", 1, 4, "unknown YAML alias"),
])
def test_yaml_errors(text, line, col, words):
    raw, diags = parse_yaml(text, "f.yaml")
    assert raw is None
    [d] = diags
    assert (d.code, d.span.line, d.span.column) == ("E100", line, col), d.message
    assert words in d.message


def test_yaml_aliases_share_and_are_bounded():
    raw, diags = parse_yaml("a: &x [1, 2]\nb: *x\n", "f.yaml")
    assert not diags and strip(raw) == [("a", ["1", "2"]), ("b", ["1", "2"])]


def test_grammar_escapes():
    raw, _ = parse_lanes('workflow w "tab\\there \\"q\\" \\u00e9"\n', "f.lanes")
    assert strip(raw)[1] == ("description", 'tab\there "q" é')


def test_a_loaded_workflow_keeps_its_raw_tree(tmp_path):
    """lanes.load keeps the raw tree with the workflow (freed with it, not as soon as the
    workflow is built); the tree takes no part in equality."""
    from lanes import api
    from lanes.dsl.raw import Map
    path = tmp_path / "w.yaml"
    path.write_text("workflow: w\ntasks:\n  a: {agent: x, run: make}\n")
    loaded = api.load(path)
    assert isinstance(loaded.tree, Map) and loaded.tree.entries[0][0].value == "workflow"
    assert loaded == api.load(path) and "tree" not in repr(loaded)
    bad = tmp_path / "bad.yaml"
    bad.write_text("workflow: [\n")
    assert api.load(bad).tree is None and api.load(tmp_path / "missing.yaml").tree is None
