"""The short cuts that make `lanes check` on many conflicts fast, each against its slow twin.

write_json puts a line together from pieces made once (openings, places, related
lines); tool_order files diagnostics by round instead of sorting. Each is held here to
the plain way of doing the same thing: json.dumps of each item, a sort by (rank,
position).
"""
from __future__ import annotations

import io
import json

from hypothesis import HealthCheck, given, settings, strategies as st
from test_domains_property import to_yaml, workflows

from lanes.compiler.domains import check_domains
from lanes.compiler.resolve import resolve
from lanes.dsl.diagnostics import Diagnostic, Related, sort_diagnostics
from lanes.dsl.frozen import replace
from lanes.dsl.loader import parse_source
from lanes.dsl.source import Source
from lanes.dsl.span import Span
from lanes.render import _pattern_keys, group_key, tool_order
from lanes.render_tools import json_item, to_json, write_json

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _model(spec):
    text = to_yaml(*spec)
    wf, diags = parse_source(Source("w.yaml", text.encode(), text))
    assert not diags, diags
    model, _ = resolve(wf, None)
    return model


# -- write_json against json.dumps of each item -----------------------------------------------

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)   # controls, quotes, non-ASCII
spans = st.none() | st.builds(Span, texts, st.integers(1, 9), st.integers(1, 9), st.integers(1, 9),
                              st.integers(1, 9))


@st.composite
def diagnostic_lists(draw):
    """Diagnostics that share spans and related lines (as conflicts do) and differ in code,
    severity, message and witness."""
    pool_spans = draw(st.lists(spans, min_size=1, max_size=4))
    pool_related = [Related(draw(texts), draw(st.sampled_from(pool_spans))) for _ in range(draw(st.integers(0, 4)))]
    out = []
    for _ in range(draw(st.integers(0, 8))):
        code = draw(st.sampled_from(["E300", "E301", "W401", "E102"]))
        related = tuple(draw(st.lists(st.sampled_from(pool_related), max_size=3))) if pool_related else ()
        out.append(Diagnostic(code, draw(texts), draw(st.sampled_from(pool_spans)), related,
                              draw(st.none() | texts), draw(st.lists(texts, max_size=2).map(tuple)),
                              draw(st.sampled_from(["", "error", "warning"]))))
    return out


@SETTINGS
@given(diagnostic_lists(), st.none() | st.integers(0, 9))
def test_each_json_line_is_json_dumps_of_its_item(diags, limit):
    buf = io.StringIO()
    write_json(diags, buf, limit)
    text = buf.getvalue()
    assert json.loads(text) == to_json(diags, limit)
    listed = diags if limit is None else diags[:limit]
    lines = text.split("\n")[1:len(listed) + 1]
    assert [line.removesuffix(",") for line in lines] == ["  " + json.dumps(json_item(d), ensure_ascii=False)
                                                          for d in listed]


def test_a_shared_span_and_related_line_are_written_where_each_diagnostic_has_them():
    """The pieces are kept by object: two spans that are equal but distinct objects, and
    one object in several diagnostics, all come out as their own values."""
    a, b = Span("w.yaml", 3, 5, 3, 9), Span("w.yaml", 4, 1, 4, 2)
    twin = Span("w.yaml", 3, 5, 3, 9)
    line = Related("'t' writes \"é/\\\"q\"", a)
    diags = [Diagnostic("E300", "m\n1", a, (line,), "x\ty"), Diagnostic("E300", "m2", b, (line, Related("r", None)), None),
             Diagnostic("W401", "m3", twin, (), "\u202e"), Diagnostic("E300", "m4", None, (line,), "")]
    buf = io.StringIO()
    write_json(diags, buf, None)
    lines = buf.getvalue().split("\n")[1:5]
    assert [x.removesuffix(",") for x in lines] == ["  " + json.dumps(json_item(d), ensure_ascii=False) for d in diags]


# -- tool_order against a sort by (rank, position) --------------------------------------------

def sorted_tool_order(diagnostics, agent_of):
    """tool_order as a sort: every conflict's rank computed the same way, then sorted."""
    seen: dict[int, object] = {}
    keys = [_pattern_keys(d, seen) for d in diagnostics]
    total: dict[object, int] = {}
    for ks in keys:
        for k in ks:
            total[k] = total.get(k, 0) + 1
    in_group: dict[object, int] = {}
    charged: dict[object, int] = {}
    ranked = []
    for index, (d, ks) in enumerate(zip(diagnostics, keys)):
        group = group_key(d, agent_of)
        rank = in_group.get(group, 0)
        in_group[group] = rank + 1
        if ks:
            broad = max(ks, key=total.__getitem__)
            rank = max(rank, charged.get(broad, 0))
            charged[broad] = charged.get(broad, 0) + 1
        ranked.append((rank, index))
    return [diagnostics[i] for _, i in sorted(ranked)]


@SETTINGS
@given(workflows())
def test_tool_order_equals_the_sort(spec):
    model = _model(spec)
    found = sort_diagnostics(check_domains(model))
    agent_of = {("w.yaml", n.id): n.agent for n in model.nodes if n.is_task}
    assert [id(d) for d in tool_order(found, agent_of)] == [id(d) for d in sorted_tool_order(found, agent_of)]


def test_group_key_sorts_the_agents_of_a_write_write_conflict():
    d = Diagnostic("E300", "m", Span.point("w.yaml", 1, 1), (), "x", ("t1", "t2"))
    agent_of = {("w.yaml", "t1"): "zed", ("w.yaml", "t2"): "abe"}
    assert group_key(d, agent_of) == ("E300", "abe", "zed", "w.yaml")
    assert group_key(replace(d, code="E301"), agent_of) == ("E301", "zed", "abe", "w.yaml")
