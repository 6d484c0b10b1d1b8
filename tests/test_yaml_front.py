"""The YAML front end: spans, values, and every hostile shape refused as one E100."""
from __future__ import annotations

import gc
import random
import textwrap

from helpers import strip
import pytest
import yaml
from yaml.events import AliasEvent, SequenceStartEvent
from yaml.scanner import ScannerError

from lanes.dsl import yaml_front
from lanes.dsl.raw import Map, Seq
from lanes.dsl.yaml_front import MAX_DEPTH, parse_yaml


def parse(text: str):
    return parse_yaml(textwrap.dedent(text).lstrip("\n"), "f.yaml")


def tree(text: str) -> Map:
    raw, diags = parse(text)
    assert diags == [] and raw is not None
    return raw


def at(node) -> tuple[int, int, int, int]:
    s = node.span
    return (s.line, s.column, s.end_line, s.end_column)




def field(m: Map, name: str):
    [value] = [v for k, v in m.entries if k.value == name]
    return value


def refused(text: str, *, dedent: bool = True):
    """The single E100 for a bad document: (line, column, message)."""
    raw, diags = parse(text) if dedent else parse_yaml(text, "f.yaml")
    assert raw is None
    [d] = diags
    assert d.code == "E100" and d.severity == "error" and d.span.file == "f.yaml"
    return d.span.line, d.span.column, d.message


@pytest.fixture(params=["libyaml", "pure"])
def both_parsers(request, monkeypatch):
    """Runs a test with libyaml's parser and with PyYAML's own (the fallback)."""
    if request.param == "pure":
        monkeypatch.setattr(yaml_front, "_LOADER", yaml.SafeLoader)
    elif not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML built without libyaml")


class Reading:
    """The parser events that the front end has read: the work it did."""

    def __init__(self) -> None:
        self.count = 0
        self.passes = 0
        self.last = None


PARSE = yaml.parse


@pytest.fixture
def reading(monkeypatch):
    """Counts every pass over a text and its events: the front end's own (`_events`)
    and the error explainer's (`yaml.parse`)."""
    seen = Reading()

    def counting(source):
        def counted(*args, **kwargs):
            seen.passes += 1
            for ev in source(*args, **kwargs):
                seen.count += 1
                seen.last = ev
                yield ev
        return counted
    monkeypatch.setattr(yaml, "parse", counting(PARSE))
    monkeypatch.setattr(yaml_front, "_events", counting(yaml_front._events))
    return seen


def events_in(text: str) -> int:
    return sum(1 for _ in PARSE(text, Loader=yaml_front._LOADER))


# -- positions -------------------------------------------------------------------------------

def test_block_mapping_positions_of_keys_and_values():
    raw = tree("""
        workflow: w
        tasks:
          build:
            run: make all
            needs: [lint]
    """)
    wf_key, wf = raw.entries[0]
    assert at(wf_key) == (1, 1, 1, 9) and at(wf) == (1, 11, 1, 12)
    tasks_key, tasks = raw.entries[1]
    assert at(tasks_key) == (2, 1, 2, 6)
    build_key, build = tasks.entries[0]
    assert at(build_key) == (3, 3, 3, 8)
    run_key, run = build.entries[0]
    assert at(run_key) == (4, 5, 4, 8) and at(run) == (4, 10, 4, 18) and run.value == "make all"
    lint = field(build, "needs").items[0]
    assert at(lint) == (5, 13, 5, 17)


def test_collection_spans_cover_their_text():
    raw = tree("""
        a:
          x: 1
          y: [2, 3]
        b:
          - p
          - {q: 4}

        c: end
    """)
    assert at(raw) == (1, 1, 8, 7)
    assert at(field(raw, "a")) == (2, 3, 3, 12)       # ends at its last value, not on line 4
    assert at(field(field(raw, "a"), "y")) == (3, 6, 3, 12)
    b = field(raw, "b")
    assert at(b) == (5, 3, 6, 11)                     # the blank line after it is not in it
    assert at(b.items[1]) == (6, 5, 6, 11)


def test_a_block_mapping_starts_at_its_first_key_not_at_its_anchor():
    raw = tree("""
        base: &b
          x: 1
        other: *b
    """)
    assert at(field(raw, "base")) == (2, 3, 2, 7)


def test_nested_lists_of_maps():
    raw = tree("""
        tasks:
          - name: a
            needs: [x, y]
          - name: b
    """)
    tasks = field(raw, "tasks")
    assert strip(tasks) == [[("name", "a"), ("needs", ["x", "y"])], [("name", "b")]]
    first, second = tasks.items
    assert at(first) == (2, 5, 3, 18) and at(second.entries[0][1]) == (4, 11, 4, 12)
    assert at(tasks) == (2, 3, 4, 12)


def test_flow_style_positions():
    raw = tree("t: {run: 'x y', needs: [a, b], env: {K: v}}\n")
    t = field(raw, "t")
    assert at(t) == (1, 4, 1, 44)
    run_key, run = t.entries[0]
    assert at(run_key) == (1, 5, 1, 8) and at(run) == (1, 10, 1, 15) and run.value == "x y"
    assert [at(i) for i in field(t, "needs").items] == [(1, 25, 1, 26), (1, 28, 1, 29)]
    assert at(field(t, "env")) == (1, 37, 1, 43)


def test_columns_count_characters_and_crlf_lines_count_once():
    raw = tree("é😀: x\r\nb: 'ü'\r\n")
    assert at(raw.entries[0][1]) == (1, 5, 1, 6)
    key, value = raw.entries[1]
    assert at(key) == (2, 1, 2, 2) and at(value) == (2, 4, 2, 7) and value.value == "ü"


# -- values ----------------------------------------------------------------------------------

def test_only_plain_nulls_are_null():
    raw = tree("""
        a: ~
        b: null
        c: Null
        d: NULL
        e:
        f: 'null'
        g: "~"
        h: ''
        i: !!str null
        j: !!null x
        k: nil
        l: [~, 'null', ]
    """)
    assert strip(raw) == [("a", None), ("b", None), ("c", None), ("d", None), ("e", None),
                          ("f", "null"), ("g", "~"), ("h", ""), ("i", "null"), ("j", None),
                          ("k", "nil"), ("l", [None, "null"])]


def test_numbers_and_booleans_stay_text_and_keys_are_never_null():
    raw = tree("""
        retries: 3
        factor: 1.5
        on: yes
        enabled: true
        null: ~
        ~: 0x1F
    """)
    assert strip(raw) == [("retries", "3"), ("factor", "1.5"), ("on", "yes"), ("enabled", "true"),
                          ("null", None), ("~", "0x1F")]


def test_duplicate_keys_are_kept_in_order():
    raw = tree("""
        a: 1
        b: 2
        a: 3
    """)
    assert strip(raw) == [("a", "1"), ("b", "2"), ("a", "3")]
    assert [k.span.line for k, _ in raw.entries] == [1, 2, 3]


def test_standard_tags_are_accepted():
    raw = tree("a: !!int 3\nb: !!map {c: !!seq [!!bool true, !!float 1.0]}\nd: ! x\n")
    assert strip(raw) == [("a", "3"), ("b", [("c", ["true", "1.0"])]), ("d", "x")]


def test_block_scalars_and_folded_plain_scalars():
    raw = tree("""
        run: |
          echo 1
          echo 2
        note: one
          two
    """)
    assert strip(raw) == [("run", "echo 1\necho 2\n"), ("note", "one two")]


# -- anchors and aliases ---------------------------------------------------------------------

def test_aliases_give_the_same_tree_as_the_written_out_form():
    with_aliases = tree("""
        env: &env {A: "1", B: x}
        list: &l [p, &q q, {r: s}]
        tasks:
          t1: {env: *env, needs: *l, one: *q}
          t2: {env: *env, needs: [*l, *l]}
    """)
    written_out = tree("""
        env: {A: "1", B: x}
        list: [p, q, {r: s}]
        tasks:
          t1: {env: {A: "1", B: x}, needs: [p, q, {r: s}], one: q}
          t2: {env: {A: "1", B: x}, needs: [[p, q, {r: s}], [p, q, {r: s}]]}
    """)
    assert strip(with_aliases) == strip(written_out)


def test_an_alias_shares_the_anchored_subtree():
    raw = tree("a: &x {k: [1, 2]}\nb: *x\n")
    assert field(raw, "a") is field(raw, "b")


def test_merge_keys_bring_in_what_the_mapping_does_not_write():
    raw = tree("""
        base: &base {timeout: 1m, retries: 2}
        more: &more {retries: 5, env: {A: b}}
        t1: {<<: *base, retries: 3}
        t2:
          <<: [*more, *base]
          run: x
        t3: {"<<": literal}
    """)
    assert strip(field(raw, "t1")) == [("timeout", "1m"), ("retries", "3")]
    assert strip(field(raw, "t2")) == [("retries", "5"), ("env", [("A", "b")]), ("timeout", "1m"),
                                       ("run", "x")]
    assert strip(field(raw, "t3")) == [("<<", "literal")]


def test_a_merge_key_needs_mappings():
    assert refused("t: {<<: [a]}\n")[:2] == (1, 5)


def test_an_alias_before_its_anchor_is_refused():
    line, col, message = refused("a: *nope\nb: &nope 1\n")
    assert (line, col) == (1, 4) and "unknown YAML alias '*nope'" in message
    assert refused("a: &x [1, *x]\n")[:2] == (1, 11)     # an anchor cannot hold itself


def test_billion_laughs_is_refused_at_once(both_parsers, reading):
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    lines.append("workflow: w")
    text = "\n".join(lines) + "\n"
    line, col, message = refused(text, dedent=False)
    assert "too many alias expansions" in message
    # 9 + 81 + ... nodes: the budget of a million runs out on line 7, at an alias
    assert line == 7 and lines[6][col - 1] == "*"
    # an alias is one event, charged its size without being expanded: the refusal comes
    # with that alias's own event, the rest of the file unread
    assert isinstance(reading.last, AliasEvent) and reading.last.start_mark.line == 6
    assert reading.count < events_in(text) and reading.passes == 1


def test_the_values_of_a_document_are_bounded(monkeypatch):
    monkeypatch.setattr(yaml_front, "MAX_NODES", 1000)
    # the root mapping, `a`, the list, then 997 items: the 998th item is one too many
    line, col, message = refused("a: [" + "x," * 2000 + "]\n", dedent=False)
    assert (line, col) == (1, 5 + 2 * 997) and "more than" in message
    line, col, message = refused("a: &a [" + "x," * 500 + "]\nb: *a\n", dedent=False)
    assert (line, col) == (2, 4) and "too many alias expansions" in message


def test_many_small_aliases_within_budget_are_fine():
    raw = tree("d: &d {A: x}\n" + "".join(f"t{i}: {{env: *d}}\n" for i in range(5000)))
    assert len(raw.entries) == 5001


def test_an_alias_cannot_nest_the_document_too_deep():
    inner = "[" * 60 + "]" * 60
    text = f"a: &x {inner}\nb: {'[' * 10}*x{']' * 10}\n"
    line, col, message = refused(text, dedent=False)
    assert (line, col) == (2, 14) and "deeper than 64" in message


# -- nesting ---------------------------------------------------------------------------------

# the events of the stream, the document and the root mapping, then one per level: the work
# of refusing a document at level 65, in one pass or two (see _tree in yaml_front)
EARLY = 2 * (3 + 2 * MAX_DEPTH)


@pytest.mark.parametrize("depth", [100_000, 200_000])
def test_deep_flow_nesting_is_refused_early(both_parsers, reading, depth):
    line, col, message = refused("a: " + "[" * depth + "]" * depth, dedent=False)
    # `a:` opens the mapping (level 1), so bracket 64 is the 65th collection
    assert (line, col) == (1, 3 + MAX_DEPTH) and f"deeper than {MAX_DEPTH}" in message
    assert isinstance(reading.last, SequenceStartEvent) and reading.count <= EARLY


@pytest.mark.parametrize("limit", [MAX_DEPTH + 1, 1000, 5000])
def test_our_nesting_limit_comes_first_whatever_libyaml_refuses(monkeypatch, limit):
    """libyaml 0.2.6 (PyYAML 6.0.4) refuses 1000 levels while its scanner reads ahead
    from the first `[`, before the events of any bracket are out; older ones never
    refuse: with any such limit, the refusal is ours, at our place."""
    def scanner_with_a_limit(text, Loader):
        brackets = [i for i, ch in enumerate(text) if ch == "["]
        for ev in PARSE(text, Loader=Loader):
            if len(brackets) >= limit and ev.start_mark.index >= brackets[0]:
                at = yaml.Mark("<unicode string>", brackets[limit - 1], 0, brackets[limit - 1], None, None)
                raise ScannerError("while increasing flow level", at, "exceeded maximum nesting depth", at)
            yield ev
    monkeypatch.setattr(yaml, "parse", scanner_with_a_limit)
    line, col, message = refused("a: " + "[" * 5000 + "]" * 5000, dedent=False)
    assert (line, col) == (1, 3 + MAX_DEPTH) and f"deeper than {MAX_DEPTH}" in message


def test_a_bound_crossed_before_a_syntax_error_is_the_problem(both_parsers):
    # the scanner finds the `@` (no token starts with it) while it reads ahead from the
    # first `[`, before the events of the brackets are out: the nesting comes first in the file
    line, col, message = refused("a: " + "[" * 100 + "@", dedent=False)
    assert (line, col) == (1, 3 + MAX_DEPTH) and f"deeper than {MAX_DEPTH}" in message
    line, col, message = refused("a: " + "[" * 10 + "@", dedent=False)
    assert (line, col) == (1, 14) and "YAML syntax error" in message


def test_deep_block_nesting_is_refused(both_parsers, reading):
    text = "".join(" " * i + "k:\n" for i in range(100))
    assert refused(text, dedent=False)[:2] == (MAX_DEPTH + 1, MAX_DEPTH + 1)
    reading.count = 0
    line, col, _ = refused("a:\n" + "- " * 100_000 + "x\n", dedent=False)
    assert (line, col) == (2, 2 * (MAX_DEPTH - 1) + 1) and reading.count <= EARLY


def test_nesting_up_to_the_limit_is_fine():
    raw = tree("a: " + "[" * (MAX_DEPTH - 1) + "x" + "]" * (MAX_DEPTH - 1) + "\n")
    node, levels = field(raw, "a"), 1
    while isinstance(node, Seq):
        node, levels = node.items[0], levels + 1
    assert levels == MAX_DEPTH and node.value == "x"


# -- refused documents -----------------------------------------------------------------------

@pytest.mark.parametrize("text,line,col", [
    ("workflow: !!python/object/apply:os.system ['echo hi']\n", 1, 11),
    ("a:\n  b: !!python/name:os.system x\n", 2, 6),
    ("a: !local thing\n", 1, 4),
    ("a: !!binary aGk=\n", 1, 4),
    ("a: !!set {x: ~}\n", 1, 4),
    ("!!python/object:os.Foo\nx: 1\n", 1, 1),
])
def test_tags_other_than_the_standard_ones_are_refused(both_parsers, text, line, col):
    got_line, got_col, message = refused(text, dedent=False)
    assert (got_line, got_col) == (line, col)
    assert "YAML tag '!" in message


def test_the_tag_is_named_in_the_message():
    message = refused("a: !!python/object/apply:os.system [x]\n")[2]
    assert "'!!python/object/apply:os.system'" in message


def test_a_second_document_is_refused_where_it_starts(both_parsers):
    line, col, message = refused("a: 1\n---\nb: 2\n", dedent=False)
    assert (line, col) == (2, 1) and "one YAML document" in message
    assert refused("--- \na: 1\n...\n---\nb: 2\n", dedent=False)[:2] == (4, 1)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "~\n", "--- null\n"])
def test_an_empty_file_is_refused(both_parsers, text):
    line, col, message = refused(text, dedent=False)
    assert (line, col) == (1, 1) and "empty workflow file" in message


@pytest.mark.parametrize("text,line,col", [
    ("- a\n- b\n", 1, 1),
    ("\n\n  just text\n", 3, 3),
    ("[a, b]\n", 1, 1),
    ("'quoted'\n", 1, 1),
])
def test_a_top_level_that_is_not_a_mapping_is_refused(both_parsers, text, line, col):
    got_line, got_col, message = refused(text, dedent=False)
    assert (got_line, got_col) == (line, col) and "a workflow file is a mapping" in message


@pytest.mark.parametrize("text,line,col,kind", [
    ("{[a]: b}\n", 1, 2, "a list"),
    ("? [a]\n: b\n", 1, 3, "a list"),
    ("x:\n  ? {k: v}\n  : b\n", 2, 5, "a mapping"),
    ("x: &k {a: 1}\n*k : 2\n", 2, 1, "a mapping"),
])
def test_keys_must_be_scalars(both_parsers, text, line, col, kind):
    got_line, got_col, message = refused(text, dedent=False)
    assert (got_line, got_col) == (line, col)
    assert message == f"a mapping key must be a single name, not {kind}"


def test_an_alias_to_a_scalar_is_a_fine_key():
    assert strip(tree("a: &k run\nt: {*k : x}\n")) == [("a", "run"), ("t", [("run", "x")])]


# -- syntax errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("text,line,col,words", [
    ("a: b: c\n", 1, 5, "mapping values are not allowed here"),
    ("run: echo a: b\n", 1, 12, "must be quoted"),
    ("a:\n\tb: c\n", 2, 1, "tab"),
    ("workflow: w\ntasks: [a\n", 2, 8, "this '[' is never closed"),
    ("a: 'never closed\nb: c\n", 1, 4, "quoted string is never closed"),
    ('a: "never closed\n', 1, 4, "quoted string is never closed"),
    ("a: 1\n b: 2\n", 2, 2, "indented deeper than the key on line 1"),
    ("a: [b, c\nd: e\n", 1, 4, "this '[' is never closed (YAML expected ',' or ']' at line 2, column 2)"),
])
def test_syntax_errors_are_placed_and_worded_for_a_person(both_parsers, text, line, col, words):
    got_line, got_col, message = refused(text, dedent=False)
    assert (got_line, got_col) == (line, col), message
    assert message.startswith("YAML syntax error: ") and words in message


def test_a_syntax_error_names_the_construct_it_was_inside():
    raw, [d] = parse_yaml("a:\n  b:\n    c: 1\n   d: 2\n", "f.yaml")
    assert raw is None and (d.span.line, d.span.column) == (4, 4)
    [related] = d.related
    assert "block mapping" in related.message and (related.span.line, related.span.column) == (2, 3)


def test_a_syntax_error_placed_at_the_mistake_says_where_yaml_stopped():
    raw, [d] = parse_yaml("a: [b, c\nd: e\n", "f.yaml")
    assert raw is None and (d.span.line, d.span.column) == (1, 4)
    [related] = d.related
    assert related.message == "YAML stopped here" and (related.span.line, related.span.column) == (2, 2)


@pytest.mark.parametrize("text,line,col,char", [
    ("a: b\x00c\n", 1, 5, "U+0000"),
    ("a: ok\nb: \x1b[31m\n", 2, 4, "U+001B"),
    ("a: 'x\x07'\n", 1, 6, "U+0007"),
    ("é: ü\x08\n", 1, 5, "U+0008"),
])
def test_control_characters_are_refused_at_their_position(both_parsers, text, line, col, char):
    got_line, got_col, message = refused(text, dedent=False)
    assert (got_line, got_col) == (line, col) and char in message


def test_binary_garbage_gives_one_diagnostic(both_parsers):
    rng = random.Random(7)
    for _ in range(30):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000)))
        raw, diags = parse_yaml(blob.decode("utf-8", errors="replace"), "f.yaml")
        assert raw is None or isinstance(raw, Map)
        assert raw is not None or [d.code for d in diags] == ["E100"]


def test_a_lone_surrogate_is_refused():
    line, col, _ = refused("a: 'x\ud800'\n", dedent=False)
    assert (line, col) == (1, 6)


def test_fifteen_megabytes_of_garbage_are_refused_early(reading):
    line, col, _ = refused("a: [" * (15 * 1024 * 1024 // 4), dedent=False)
    # each `a: [` opens two collections (inside a list, `a: x` is a one-entry mapping):
    # the 65th is the mapping of the 33rd `a`
    assert (line, col) == (1, 4 * (MAX_DEPTH // 2) + 1) and reading.count <= EARLY


# -- the collector ---------------------------------------------------------------------------

@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_left_as_it_was(enabled):
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        parse_yaml("a: 1\n", "f.yaml")
        assert gc.isenabled() is enabled
        parse_yaml("a: [", "f.yaml")
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_ten_thousand_tasks_parse_in_one_pass(reading):
    # (how fast: bench/bench_check.py)
    text = "workflow: big\ntasks:\n" + "".join(
        f"  t{i}: {{agent: a, run: 'echo {i}', needs: [t{i - 1}]}}\n" for i in range(10_000))
    raw, diags = parse_yaml(text, "big.yaml")
    assert not diags and len(field(raw, "tasks").entries) == 10_000
    assert strip(field(field(raw, "tasks"), "t9999")) == [("agent", "a"), ("run", "echo 9999"),
                                                          ("needs", ["t9998"])]
    assert reading.passes == 1 and reading.count == events_in(text)
