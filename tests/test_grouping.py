"""Grouping, order and totals of conflicts against the uncapped pairwise twin.

The twin (test_domains_property.brute_force) compares every pair of tasks; here the
same random workflows go through the whole face: every pair is listed once, the
totals are true, each human block holds exactly the pairs of one pair of agents,
the machine order is a permutation whose prefixes are what --max lists.
"""
from __future__ import annotations

import io
import json

from hypothesis import HealthCheck, given, settings, strategies as st
from test_domains_property import brute_force, to_yaml, workflows

from lanes.compiler.domains import check_domains
from lanes.compiler.resolve import resolve
from lanes.dsl.diagnostics import sort_diagnostics
from lanes.dsl.loader import parse_source
from lanes.dsl.source import Source
from lanes.render import group_key, human_blocks, print_diagnostics, tool_order
from lanes.render_tools import to_json, to_sarif


def _analyse(spec):
    text = to_yaml(*spec)
    wf, diags = parse_source(Source("w.yaml", text.encode(), text))
    assert not diags, diags
    model, more = resolve(wf, None)
    found = sort_diagnostics([*more, *check_domains(model)])
    agent_of = {("w.yaml", n.id): n.agent for n in model.nodes if n.is_task}
    return model, found, agent_of, text


def _pair(d):
    return ("E300", *sorted(d.nodes)) if d.code == "E300" else ("E301", *d.nodes)


SETTINGS = settings(max_examples=250, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(workflows())
def test_every_pair_once_and_true_totals(spec):
    model, found, agent_of, _ = _analyse(spec)
    twin = brute_force(model)
    conflicts = [d for d in found if d.code in ("E300", "E301")]
    assert sorted(map(_pair, conflicts)) == sorted(twin)            # each pair once, none missing
    out = to_json(tool_order(found, agent_of))
    assert out["errors"] == sum(d.is_error for d in found)
    assert out["warnings"] == len(found) - out["errors"]
    assert len(out["diagnostics"]) == len(found) and "truncated" not in out


@SETTINGS
@given(workflows())
def test_blocks_group_by_pair_of_agents(spec):
    model, found, agent_of, _ = _analyse(spec)
    twin = brute_force(model)
    blocks = human_blocks(found, agent_of)
    conflict_blocks = [(k, m) for k, m in blocks if len(k) > 1]
    assert sum(len(m) for _, m in conflict_blocks) == len(twin)
    expected: dict[tuple[str, ...], int] = {}
    for code, a, b in twin:
        x, y = agent_of[("w.yaml", a)], agent_of[("w.yaml", b)]
        key = (*((code, *sorted((x, y))) if code == "E300" else (code, x, y)), "w.yaml")
        expected[key] = expected.get(key, 0) + 1
    assert {k: len(m) for k, m in conflict_blocks} == expected      # one block per pair of agents
    for key, members in conflict_blocks:
        assert all(group_key(d, agent_of) == key for d in members)


@SETTINGS
@given(workflows(), st.integers(0, 12))
def test_max_lists_a_prefix_and_says_so(spec, n):
    model, found, agent_of, _ = _analyse(spec)
    order = tool_order(found, agent_of)
    assert sorted(map(id, order)) == sorted(map(id, found))          # a permutation
    full, cut = to_json(order), to_json(order, limit=n)
    assert cut["diagnostics"] == full["diagnostics"][:n]
    assert (cut["errors"], cut["warnings"]) == (full["errors"], full["warnings"])
    if n < len(found):
        assert cut["truncated"] == {"listed": n, "total": len(found)}
    else:
        assert "truncated" not in cut
    sarif = to_sarif(order, limit=n)
    assert len(sarif["runs"][0]["results"]) == min(n, len(found))


@SETTINGS
@given(workflows())
def test_human_totals_line_is_true_and_last(spec):
    model, found, agent_of, text = _analyse(spec)
    if not found:
        return
    buf = io.StringIO()
    print_diagnostics(found, {"w.yaml": text}, buf, summary=True, agent_of=agent_of)
    errors = sum(d.is_error for d in found)
    last = buf.getvalue().rstrip("\n").split("\n")[-1]
    assert last == f"{errors:,} error{'s' * (errors != 1)}, {len(found) - errors:,} warning" \
        f"{'s' * (len(found) - errors != 1)}"


def test_json_is_one_document():
    """The streamed JSON is valid JSON, and the same as the dict form."""
    spec = ([("ag0", ["a/**"], [], 2), ("ag1", ["**"], [], 1)],
            [("t0", 0, [], None), ("t1", 0, [], None), ("t2", 1, [], None)], None)
    _, found, agent_of, _ = _analyse(spec)
    from lanes.render_tools import write_json
    buf = io.StringIO()
    order = tool_order(found, agent_of)
    write_json(order, buf, 2)
    assert json.loads(buf.getvalue()) == to_json(order, limit=2)


def test_json_of_more_diagnostics_than_one_write_holds():
    """write_json writes its output a few thousand diagnostics at a time: across those
    writes, and with the last one partly full, the document is still whole."""
    from lanes.render_tools import PER_WRITE, write_json
    spec = ([("ag0", ["a/**"], [], 2), ("ag1", ["**"], [], 1)],
            [("t0", 0, [], None), ("t1", 0, [], None), ("t2", 1, [], None)], None)
    _, found, agent_of, _ = _analyse(spec)
    order = tool_order(found, agent_of)
    many = order * (3 * PER_WRITE // len(order) + 1)       # three full writes and a partial one
    buf = io.StringIO()
    write_json(many, buf, None)
    assert json.loads(buf.getvalue()) == to_json(many)
    assert buf.getvalue().count("\n") == len(many) + 2      # one before each, "]" and the end


@SETTINGS
@given(workflows())
def test_streamed_json_lines_are_json_dumps_of_each_item(spec):
    """write_json encodes a related line shared by many conflicts once; every line it
    writes is still exactly json.dumps of the diagnostic's item (non-ASCII kept)."""
    from lanes.render_tools import json_item, write_json
    _, found, agent_of, _ = _analyse(spec)
    order = tool_order(found, agent_of)
    buf = io.StringIO()
    write_json(order, buf, None)
    lines = buf.getvalue().split("\n")[1:len(order) + 1]
    assert [line.rstrip(",") for line in lines] == ["  " + json.dumps(json_item(d), ensure_ascii=False)
                                                    for d in order]
