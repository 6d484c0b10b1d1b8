"""The short cuts that make `lanes check` on many conflicts fast, each against its slow twin.

write_json puts a line together from pieces made once (openings, places, related
lines); here it is held to the plain way of doing the same thing: json.dumps of each
item.
"""
from __future__ import annotations

import io
import json

from hypothesis import HealthCheck, given, settings, strategies as st

from lanes.dsl.diagnostics import Diagnostic, Related
from lanes.dsl.span import Span
from lanes.render_tools import json_item, to_json, write_json

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


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
