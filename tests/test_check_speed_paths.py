"""The short cuts that make `lanes check` on many conflicts fast, each against its slow twin.

write_json puts a line together from pieces made once (openings, places, related
lines); tool_order files diagnostics by round instead of sorting; concurrent_pairs
answers a W401 probe from a conflict already found between its two agents and
_choose_sources counts sides in C; when every task has one pattern, check_overlaps
finds the conflicts alone and probes only the agents with none between them;
_conflict_diagnostics keeps one lanes line per pair of agents. Each is held here to
the plain way of doing the same thing: json.dumps of each item, a sort by (rank,
position), a search for every probe, every family in one call, the message made from
scratch.
"""
from __future__ import annotations

import io
import json

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest
from test_domains_property import to_yaml, workflows

import lanes.compiler.concurrency as concurrency
from lanes.compiler.concurrency import Family, concurrent_pairs
import lanes.compiler.domains as domains
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


# -- W401 probes answered by a conflict found, against a search for every probe ---------------

def _families(model):
    """The families check_overlaps hands to concurrent_pairs in one call (conflicts and
    probes: the way taken when a task may write several patterns)."""
    caught = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(domains, "_one_family_per_pair", lambda groups: False)
        mp.setattr(domains, "concurrent_pairs", lambda m, fams: caught.append(fams) or concurrent_pairs(m, fams))
        check_domains(model)
    assert len(caught) == 1
    return caught[0]


@SETTINGS
@given(workflows(), st.sampled_from([1, 2, 4096]))
def test_probes_answered_from_conflicts_as_a_search_answers_them(spec, chunk):
    """The same pairs for every conflict family, and for every probe the same answer (some
    pair or none) as when each probe searches for itself; the pair a probe is given is one
    of its own (a task of each side). Small chunks too, where a probe's pair is found in a
    later chunk than its own turn."""
    model = _model(spec)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(concurrency, "CHUNK", chunk)
        fams = _families(model)
        fast = concurrent_pairs(model, fams)
        slow = concurrent_pairs(model, [replace(f, agents=None) for f in fams])
    for f, a, b in zip(fams, fast.pairs, slow.pairs, strict=True):
        if f.code == "W401":
            assert bool(a) == bool(b)
            assert all(x in f.left and y in f.right for x, y in a)
        else:
            assert a == b


def test_choose_sources_counts_shared_sides():
    one, two, three = ("a",), ("b", "c"), ("d",)
    fams = [Family("E300", one, two, ("p", "q", "w")), Family("E300", one, three, ("p", "r", "w")),
            Family("E300", three, two, ("r", "q", "w")), Family("E301", (*one,), two, ("p", "q", "w"))]
    # `one` is in two families, `two` in two (the larger on a tie), `three` in two;
    # the last family's left is an equal tuple but another object: in one family only
    assert concurrency._choose_sources(fams) == [(two, one), (one, three), (two, three), (two, fams[3].left)]


@st.composite
def one_pattern_workflows(draw):
    """workflows() with one pattern written and one read at most per agent and per task."""
    agents, tasks, gate_after = draw(workflows())
    agents = [(name, writes[:1], reads[:1], inst) for name, writes, reads, inst in agents]
    tasks = [(name, agent, needs, own if own is None else own[:1]) for name, agent, needs, own in tasks]
    return agents, tasks, gate_after


@SETTINGS
@given(one_pattern_workflows(), st.sampled_from([1, 2, 4096]))
def test_conflicts_found_alone_give_what_all_families_together_give(spec, chunk):
    """With one pattern a task, the conflicts are found without the probes and the probes
    only for agents with no conflict: the same diagnostics as everything in one call."""
    model = _model(spec)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(concurrency, "CHUNK", chunk)
        assert domains._one_family_per_pair(domains._groups(model, set()))
        alone = check_domains(model)
        mp.setattr(domains, "_one_family_per_pair", lambda groups: False)
        together = check_domains(model)
    assert sort_diagnostics(alone) == sort_diagnostics(together)
    assert sorted(map(repr, alone)) == sorted(map(repr, together))


def every_probe(model):
    """(agents, sides, meeting) of every W401 probe, the meeting the first one found for
    the pair, as _agent_probes made them before it could leave pairs out."""
    from lanes.compiler.overlaps import meetings
    tasks_of: dict[str, list[str]] = {}
    for n in model.tasks:
        if n.agent:
            tasks_of.setdefault(n.agent, []).append(n.id)
    agents = [a for a in model.agents if tasks_of.get(a.id)]
    owners: dict[str, list[int]] = {}
    for i, a in enumerate(agents):
        for t in dict.fromkeys(a.domain.write_texts):
            owners.setdefault(t, []).append(i)
    overlaps: dict[tuple[int, int], tuple[str, str, str]] = {}

    def found(m):
        for i in owners[m[0]]:
            for j in owners[m[1]]:
                if i != j:
                    overlaps.setdefault((min(i, j), max(i, j)), m if i < j else (m[1], m[0], m[2]))

    meetings(owners, owners, lambda i, j, _: i == j or (min(i, j), max(i, j)) in overlaps, found)
    return [((agents[i].id, agents[j].id), tuple(tasks_of[agents[i].id]), tuple(tasks_of[agents[j].id]),
             overlaps[(i, j)]) for i, j in sorted(overlaps)]


@SETTINGS
@given(workflows(), st.data())
def test_probes_left_out_change_no_other_probe(spec, data):
    """Leaving out the probes of some pairs of agents gives every other pair the probe
    (sides, meeting) it gets when none is left out: the first meeting found for it."""
    model = _model(spec)
    every = every_probe(model)
    met = {agents for agents, *_ in every if data.draw(st.booleans())}
    for left_out in (set(), met):
        some = domains._agent_probes(model, set(), {tuple(sorted(pair)) for pair in left_out})
        assert [(f.agents, f.left, f.right, f.patterns) for f in some] == \
            [p for p in every if p[0] not in left_out]


# -- the lanes line of a conflict, kept per pair of agents ------------------------------------

@SETTINGS
@given(workflows())
def test_conflict_messages_as_made_from_scratch(spec):
    model = _model(spec)
    by_id = model.node_by_id
    for d in check_domains(model):
        if d.code not in ("E300", "E301"):
            continue
        na, nb = by_id[d.nodes[0]], by_id[d.nodes[1]]
        first, second = sorted((na, nb), key=lambda n: n.order)
        assert d.span == second.span
        if d.code == "E300":
            assert na.order < nb.order
            assert d.message == (f"tasks '{first.id}' and '{second.id}' may run at the same time and both "
                                 f"write '{d.witness}'")
        else:
            assert d.message == (f"tasks '{first.id}' and '{second.id}' may run at the same time: '{na.id}' "
                                 f"writes '{d.witness}', which '{nb.id}' reads")
        assert d.related[2] == Related(
            "they may run at the same time: neither needs the other through any chain of needs, and they "
            f"run in separate lanes ({domains._lanes(model, na, nb)})", None)
        assert d.severity == "error"
