"""Diagrams: DOT (checked by Graphviz itself), SVG, Mermaid, collapsing, `lanes graph`.

`plan_of` and `HOSTILE_*` are shared with test_report.py and test_brief.py: plans
written as plan.json dicts can hold ids no workflow file accepts.
"""
from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from gen_workflow import generate
from helpers import compile_text, lanes_cli, write

from lanes.compiler.emit_dot import dot_text, emit_dot
from lanes.compiler.emit_mermaid import emit_mermaid, mermaid_text
from lanes.compiler.graph_model import COLLAPSE_ABOVE, MAX_LANES, SUMMARY_BOXES, SUMMARY_EDGES, build_drawing
from lanes.compiler.planfile import plan_from_dict, to_json
from lanes.dsl.diagnostics import diag

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "fullstack.yaml"
DIGEST = "sha256:" + "0" * 64
HOSTILE_ID = 'x"] --> evil["<script>alert(1)</script>'
HOSTILE_ID2 = "a\nb [c] {d} |e| #quot; %% f; g --> h \\n \\N"
HOSTILE_GATE = "\" onerror=\"alert(1)' <img src=x onerror=alert(2)>"
HOSTILE_TEXT = "<script>document.title='pwned'</script>"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")

CONFLICTING = """
    workflow: clash
    agents:
      a: {domain: {writes: ["src/**"]}}
      b: {domain: {writes: ["src/api/**"], reads: ["docs/**"]}}
      c: {domain: {writes: ["docs/**"]}}
    tasks:
      t1: {agent: a, run: echo 1}
      t2: {agent: b, run: echo 2}
      t3: {agent: c, run: echo 3}
    gates:
      ok: {needs: [t1, t2, t3], approve: "Ship it?"}
    """


def node(nid, kind="task", agent="a", needs=(), stage=0, critical=False, **extra) -> dict:
    d = {"id": nid, "kind": kind, "needs": list(needs), "estimate_s": 60, "timeout_s": None, "retries": 0,
         "backoff": {"initial_s": 1, "factor": 2, "max_s": 60}, "stage": stage, "critical": critical,
         "digest": DIGEST}
    if kind == "task":
        d.update(agent=agent, run="echo hi", writes=["out/**"], reads=[])
    else:
        d.update(run=None, approve="ok?", on_fail="stop")
    d.update(extra)
    return d


def agent(aid, writes=("out/**",), reads=(), **extra) -> dict:
    return {"id": aid, "skills": [], "instances": 1, "domain": None, "writes": list(writes),
            "reads": list(reads), "env": {}, **extra}


def plan_of(nodes: list[dict], agents: list[dict], workflow="w", critical_path=()):
    stages: dict[int, list[str]] = {}
    for n in nodes:
        stages.setdefault(n["stage"], []).append(n["id"])
    total = sum(n["estimate_s"] for n in nodes)
    return plan_from_dict({
        "lanes_plan": 1, "workflow": workflow, "source_digest": DIGEST,
        "nodes": sorted(nodes, key=lambda n: (n["stage"], n["id"])),
        "stages": [sorted(stages[k]) for k in sorted(stages)], "critical_path": list(critical_path),
        "estimate": {"sequential_s": total, "parallel_s": total, "efficiency": 0.0},
        "workdir": "/tmp", "agents": agents})


def hostile_plan():
    """Ids, descriptions and commands that try to break out of every syntax we write."""
    return plan_of(
        [node(HOSTILE_ID, description=HOSTILE_TEXT, run="echo '<b>' \"q\" \\n `x`\n```\nrm -rf /"),
         node(HOSTILE_ID2, agent="b<i>", needs=[HOSTILE_ID], stage=1, critical=True,
              description="line\n## Injected heading\n<details>"),
         node(HOSTILE_GATE, kind="gate", needs=[HOSTILE_ID2], stage=2, critical=True, approve=HOSTILE_GATE)],
        [agent("a", description=HOSTILE_TEXT), agent("b<i>", writes=["x/`y`/**"], reads=["<r>/**"])],
        workflow="w</title><script>document.title='pwned'</script>",
        critical_path=[HOSTILE_ID2, HOSTILE_GATE])


def layered_plan(tasks: int, agents: int = 4, width: int = 10):
    """`tasks` tasks in layers of `width`, each needing the task above it; one critical chain."""
    nodes = []
    for i in range(tasks):
        layer, col = divmod(i, width)
        needs = [f"t{i - width}"] if layer else []
        nodes.append(node(f"t{i}", agent=f"ag{col % agents}", needs=needs, stage=layer, critical=(col == 0)))
    chain = [f"t{i}" for i in range(0, tasks, width)]
    return plan_of(nodes, [agent(f"ag{a}") for a in range(agents)], critical_path=chain)


def dot_json(source: str) -> dict:
    """Graphviz's own reading of our DOT: proves it parses, and gives its attributes."""
    out = subprocess.run(["dot", "-Tjson0"], input=source.encode(), capture_output=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr.decode()
    return json.loads(out.stdout)


def svg_of(source: str) -> ET.Element:
    out = subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr.decode()
    return ET.fromstring(out.stdout)


def svg_texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


def by_label(graph: dict) -> dict[str, dict]:
    """Graphviz objects (nodes) keyed by the first line of their label."""
    return {o["label"].split("\\n")[0]: o for o in graph["objects"] if "label" in o and "nodes" not in o}


# --- DOT ---------------------------------------------------------------------------

@needs_dot
@pytest.mark.parametrize("by", ["stage", "agent"])
def test_example_dot_parses_and_draws_every_node_once(by):
    from lanes.inputs import read_input
    plan = read_input(str(EXAMPLE)).plan
    graph = dot_json(emit_dot(plan, by=by))
    nodes = by_label(graph)
    assert set(nodes) == {n.id for n in plan.nodes}
    assert len(graph["edges"]) == sum(len(n.needs) for n in plan.nodes)
    clusters = {o["label"] for o in graph["objects"] if o["name"].startswith("cluster_")}
    if by == "stage":
        assert clusters == {f"stage {i}" for i in range(len(plan.stages))}
    else:
        assert clusters == {f"agent {a.id}" for a in plan.agents}
    # one colour per agent, the same for all of its tasks, different between agents
    colour = {}
    for n in plan.nodes:
        if n.kind == "task":
            colour.setdefault(n.agent, set()).add(nodes[n.id]["fillcolor"])
    assert all(len(c) == 1 for c in colour.values())
    assert len({c.pop() for c in colour.values()}) == len(colour)
    # estimates on nodes
    assert nodes["api"]["label"] == "api\\nbackend · 5m"


@needs_dot
def test_gates_are_diamonds_and_approval_gates_are_marked(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", CONFLICTING)
    nodes = by_label(dot_json(emit_dot(comp.plan)))
    assert nodes["ok"]["shape"] == "diamond"
    assert nodes["ok"]["peripheries"] == "2" and "approval gate" in nodes["ok"]["label"]
    assert nodes["t1"]["shape"] == "box" and "peripheries" not in nodes["t1"]
    plain = by_label(dot_json(emit_dot(plan_of([node("t"), node("g", kind="gate", needs=["t"], stage=1,
                                                                 approve=None, run="make check")],
                                                [agent("a")]))))
    assert plain["g"]["shape"] == "diamond" and "peripheries" not in plain["g"]


@needs_dot
def test_critical_path_is_bold():
    plan = layered_plan(30, width=3)
    graph = dot_json(emit_dot(plan))
    nodes = by_label(graph)
    assert "bold" in nodes["t0"]["style"] and nodes["t0"]["penwidth"] == "3"
    assert "bold" not in nodes["t1"]["style"] and "penwidth" not in nodes["t1"]
    names = {o["_gvid"]: o["label"].split("\\n")[0] for o in graph["objects"] if "label" in o}
    bold = {(names[e["tail"]], names[e["head"]]) for e in graph["edges"] if e.get("style") == "bold"}
    chain = plan.critical_path
    assert bold == set(itertools.pairwise(chain))


def conflict_pairs(graph: dict) -> dict[str, set[str]]:
    """Each red label of the layout (its lines after the first, which names the pair) -> the
    nodes its dashed edges join."""
    names = {o["_gvid"]: o["label"].split("\\n")[0] for o in graph["objects"] if "label" in o}
    for o in graph["objects"]:
        if o.get("color") == "#d62728" and "label" in o:
            lines = o["label"].split("\\n")
            assert " × " in lines[0]
            names[o["_gvid"]] = "\n".join(lines[1:])
    pairs: dict[str, set[str]] = {}
    for e in graph["edges"]:
        if e.get("style") == "dashed":
            assert e["color"] == "#d62728" and e["dir"] == "none"
            pairs.setdefault(names[e["head"]], set()).add(names[e["tail"]])
    return pairs


def boxes_of(graph: dict) -> dict[int, tuple[float, float, float, float]]:
    """Graphviz's id of each node -> its bounding box (x0, y0, x1, y1) in points."""
    out = {}
    for o in graph["objects"]:
        if "pos" in o and "width" in o and "nodes" not in o:
            x, y = map(float, o["pos"].split(","))
            w, h = float(o["width"]) * 36, float(o["height"]) * 36
            out[o["_gvid"]] = (x - w, y - h, x + w, y + h)
    return out


def spline_points(edge: dict, steps: int = 20) -> list[tuple[float, float]]:
    """Points along the cubic Bezier pieces of a laid-out edge."""
    pts = [tuple(map(float, p.split(","))) for p in edge["pos"].split() if p[0] not in "es"]
    out = []
    for i in range(0, len(pts) - 3, 3):
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = pts[i:i + 4]
        for k in range(steps + 1):
            t = k / steps
            a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t ** 3
            out.append((a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3))
    return out


def inside(p: tuple[float, float], box: tuple[float, float, float, float], margin: float = 2) -> bool:
    return box[0] + margin < p[0] < box[2] - margin and box[1] + margin < p[1] < box[3] - margin


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


STACKED = """
    workflow: stacked
    agents:
      a: {domain: {writes: ["src/**"]}}
      b: {domain: {writes: ["lib/**"]}}
      c: {domain: {writes: ["src/core/**"]}}
      d: {domain: {writes: ["lib/x/**"]}}
    tasks:
      t1: {agent: a, run: echo 1}
      t2: {agent: b, run: echo 2}
      t3: {agent: c, run: echo 3}
      t4: {agent: d, run: echo 4}
    """


@needs_dot
@pytest.mark.parametrize("by", ["stage", "agent"])
def test_each_conflict_label_joins_exactly_its_pair_beside_every_node(tmp_path, by):
    comp = compile_text(tmp_path, "w.yaml", CONFLICTING)
    assert {d.code for d in comp.diagnostics} == {"E300", "E301"}
    graph = dot_json(emit_dot(comp.plan, comp.diagnostics, by=by))
    assert conflict_pairs(graph) == {"E300 write/write: src/api/a": {"t1", "t2"},
                                     "E301 write/read: docs/a": {"t2", "t3"}}
    # stacked tasks in one stage, conflicting across the one between them (t1-t3, t2-t4)
    comp = compile_text(tmp_path, "s.yaml", STACKED)
    graph = dot_json(emit_dot(comp.plan, comp.diagnostics, by=by))
    pairs = conflict_pairs(graph)
    assert sorted(map(sorted, pairs.values())) == [["t1", "t3"], ["t2", "t4"]]
    boxes = boxes_of(graph)
    labels = {e["head"] for e in graph["edges"] if e.get("style") == "dashed"}
    assert len(labels) == 2
    for label in labels:                       # a label never lies over a node
        assert not [n for n, b in boxes.items() if n != label and overlaps(b, boxes[label])], label
    for e in graph["edges"]:                   # nor does a conflict edge cross a third node
        if e.get("style") == "dashed":
            ends = {e["tail"], e["head"]}
            crossed = {n for p in spline_points(e) for n, b in boxes.items() if n not in ends and inside(p, b)}
            assert not crossed, (ends, crossed)


@needs_dot
def test_the_legend_explains_every_mark():
    plan = plan_of([node("t"), node("g", kind="gate", needs=["t"], stage=1)], [agent("a")])
    texts = " ".join(svg_texts(svg_of(emit_dot(plan))))
    for words in ("task (fill: its agent)", "gate", "approval gate (double border)", "bold: critical path",
                  "red dashed: a conflict (E300 write/write, E301 write/read)"):
        assert words in texts, words
    assert "N tasks" not in texts
    assert "N tasks: a box per agent lane and stage" in " ".join(svg_texts(svg_of(emit_dot(layered_plan(100)))))


def test_a_hand_made_conflict_diagnostic_is_drawn_and_other_errors_outline_their_node():
    plan = plan_of([node("p"), node("q", agent="b"), node("r")], [agent("a"), agent("b")])
    d = (diag("E300", "overlap", None, witness='out/"x"\n', nodes=("p", "q")),
         diag("E302", "outside", None, nodes=("r",)))
    drawing = build_drawing(plan, d)
    keys = {b.node_id: b.key for b in drawing.boxes}
    assert [(c.a, c.b, c.label) for c in drawing.conflicts] == [(keys["p"], keys["q"],
                                                                'p × q\nE300 write/write: out/"x"\n')]
    assert [b.node_id for b in drawing.boxes if b.error] == ["r"]
    source = emit_dot(plan, d)
    assert 'x0 [label="p × q\\nE300 write/write: out/\\"x\\"\\n"' in source


HOSTILE_CONFLICT = (diag("E300", "overlap", None, witness=HOSTILE_TEXT, nodes=(HOSTILE_ID, HOSTILE_ID2)),)


@needs_dot
def test_hostile_labels_are_drawn_literally():
    source = emit_dot(hostile_plan(), HOSTILE_CONFLICT, by="agent")
    texts = svg_texts(svg_of(source))
    assert HOSTILE_ID in texts and HOSTILE_GATE in texts
    assert f"{HOSTILE_ID} × a" in texts and f"E300 write/write: {HOSTILE_TEXT}" in texts   # the conflict label
    # a user's newline breaks the line; a user's backslash sequence stays two characters
    assert "a" in texts and "b [c] {d} |e| #quot; %% f; g --> h \\n \\N" in texts
    assert any("w</title><script>" in t for t in texts)


def test_dot_text_escapes_backslashes_newlines_and_control_characters():
    assert dot_text('a\\b"\nc\r\nd\x00') == 'a\\\\b"\\nc\\nd\ufffd'
    assert type(dot_text("<b>")).__name__ == "NoHtml"        # never an HTML label


@needs_dot
def test_svg_is_well_formed_xml(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", CONFLICTING)
    root = svg_of(emit_dot(comp.plan, comp.diagnostics))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "E300 write/write: src/api/a" in svg_texts(root)


# --- collapsing ------------------------------------------------------------------------

def test_small_graphs_are_drawn_in_full():
    plan = layered_plan(COLLAPSE_ABOVE, width=20)
    drawing = build_drawing(plan)
    assert not drawing.collapsed and len(drawing.boxes) == COLLAPSE_ABOVE


def test_above_the_threshold_one_box_per_agent_lane_and_stage_unless_full():
    assert COLLAPSE_ABOVE == 60
    plan = layered_plan(400, agents=4, width=20)      # 20 stages x 4 agents = 80 boxes
    drawing = build_drawing(plan)
    assert drawing.collapsed and len(drawing.boxes) == 80
    assert "one box per agent lane and stage (--full draws every node)" in drawing.title
    first = next(b for b in drawing.boxes if b.lines[0] == "ag0 · stage 0")
    assert first.lines[1] == "5 tasks · 5m" and first.count == 5 and first.critical
    assert sum(b.count for b in drawing.boxes) == 400
    assert {b.rank for b in drawing.boxes} == set(range(20))
    edges = {(e.src, e.dst): e for e in drawing.edges}
    assert all(e.count == 5 and not e.flat for e in edges.values()) and len(edges) == 4 * 19
    assert sum(e.critical for e in edges.values()) == 19      # the critical chain, still bold
    full = build_drawing(plan, full=True)
    assert not full.collapsed and len(full.boxes) == 400
    assert build_drawing(layered_plan(COLLAPSE_ABOVE + 1)).collapsed


def test_many_agents_share_a_lane_and_deep_graphs_get_bands_within_the_budget():
    deep = layered_plan(3000, agents=30, width=30)      # 100 stages x 30 agents
    drawing = build_drawing(deep)
    assert len(drawing.boxes) <= SUMMARY_BOXES and len(drawing.edges) <= SUMMARY_EDGES
    assert sum(b.count for b in drawing.boxes) == 3000
    lanes = {b.lines[0].split(" · ")[0] for b in drawing.boxes}
    assert lanes == {f"ag{i}" for i in range(MAX_LANES - 1)} | {f"{30 - MAX_LANES + 1} other agents"}
    assert "band of" in drawing.title and "the 7 busiest agents have a lane of their own" in drawing.title
    assert all(b.node_id is None for b in drawing.boxes)
    # an edge inside one band joins two boxes of one rank: it must not bend the ranks
    rank = {b.key: b.rank for b in drawing.boxes}
    assert all(e.flat == (rank[e.src] == rank[e.dst]) for e in drawing.edges)


@pytest.mark.parametrize("by", ["stage", "agent"])
def test_every_box_of_a_rank_is_drawn_in_one_column(by):
    """Stages (or bands) as columns: stage clusters and agent lanes then cannot overlap."""
    source = emit_dot(layered_plan(30, agents=3, width=3), by=by)
    ranks = re.findall(r"\{rank=same; ([^}]*)\}", source)
    assert len(ranks) == 10 and all(len(r.split()) == 3 for r in ranks)


@needs_dot
def test_agent_lanes_never_overlap(tmp_path):
    wf = write(tmp_path, "w.yaml", generate(200)[0])
    out = tmp_path / "g.json"
    r = lanes_cli("graph", wf, "--by", "agent", "-o", tmp_path / "g.dot")
    assert r.returncode == 0, r.stderr
    subprocess.run(["dot", "-Tjson0", "-o", out, tmp_path / "g.dot"], check=True, timeout=60)
    graph = json.loads(out.read_text())
    lanes = [tuple(map(float, o["bb"].split(","))) for o in graph["objects"] if o["name"].startswith("cluster_")]
    assert len(lanes) == MAX_LANES
    for i, a in enumerate(lanes):
        for b in lanes[i + 1:]:
            assert not overlaps(a, b), (a, b)
    # and in the stage view, the stage clusters
    r = lanes_cli("graph", wf, "-o", tmp_path / "s.dot")
    subprocess.run(["dot", "-Tjson0", "-o", out, tmp_path / "s.dot"], check=True, timeout=60)
    stages = [tuple(map(float, o["bb"].split(","))) for o in json.loads(out.read_text())["objects"]
              if o["name"].startswith("cluster_")]
    assert len(stages) == 19
    assert not [(a, b) for i, a in enumerate(stages) for b in stages[i + 1:] if overlaps(a, b)]


def test_a_conflict_between_collapsed_boxes_names_its_first_witness_and_the_rest():
    plan = layered_plan(400, agents=4, width=20)
    d = [diag("E300", "x", None, witness="out/1", nodes=("t0", "t1")),
         diag("E300", "x", None, witness="out/2", nodes=("t4", "t5"))]
    (c,) = build_drawing(plan, d).conflicts
    assert c.label == "E300 write/write: out/1 (+1 more)" and c.count == 2


def test_ten_thousand_tasks_give_a_summary_of_bounded_size():
    # (how fast: bench/bench_graph.py) ten times the tasks draw at most a few times the
    # text and the edges: boxes per stage and lane, not a node per task
    small, large = (emit_dot(layered_plan(n, agents=20, width=100)) for n in (1_000, 10_000))
    assert large.count("->") < 1000 and large.count("->") < 2 * small.count("->")
    assert len(large) < 4 * len(small)


# --- Mermaid ----------------------------------------------------------------------------

MERMAID_LINE = re.compile(r"""
    ---|title:\ ".*"|flowchart\ (LR|TB)|\ \ end
  | \ +subgraph\ c\d+\["[^"\n]*"\]
  | \ +[ng]\d+(\("[^"\n]*"\)|\{"[^"\n]*"\})|\ \ x\d+\["[^"\n]*"\]
  | \ \ [ng]\d+\ -->(\|"[^"\n]*"\|)?\ [ng]\d+|\ \ [ng]\d+\ -\.-\ x\d+
  | \ \ classDef\ \w+\ [-\w:#,. ]+|\ \ class\ [ngx]\d+\ \w+|\ \ linkStyle\ [\d,]+\ [-\w:#,. ]+
  | \ \ %%.*""", re.VERBOSE)


def decode_entities(text: str) -> str:
    return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), text)


@pytest.mark.parametrize("text", [HOSTILE_ID, HOSTILE_ID2, HOSTILE_GATE, 'say "hi" --> [x] ]]', "#quot; #35;",
                                  "%% comment ; end", "tab\there", "émoji ✓"])
def test_mermaid_text_is_inert_and_decodes_back(text):
    out = mermaid_text(text)
    plain = re.sub(r"#\d+;", "", out.replace("<br/>", ""))   # <br/>: our own line break
    assert not set(plain) & set('"[]{}|<>;%#`\n\t') and "-->" not in plain
    assert decode_entities(out).replace("<br/>", "\n") == text.replace("\r\n", "\n")


@pytest.mark.parametrize("by", ["stage", "agent"])
def test_mermaid_source_keeps_its_structure_with_hostile_strings(by):
    source = emit_mermaid(hostile_plan(), HOSTILE_CONFLICT, by=by)
    lines = source.splitlines()
    bad = [line for line in lines if not MERMAID_LINE.fullmatch(line)]
    assert not bad
    assert lines[3] == "flowchart LR"
    assert sum("-->" in line for line in lines) == 2       # the two real edges, no injected one
    assert sum("-.-" in line for line in lines) == 2       # the conflict label's two links
    assert "  class n1 critical" in lines and "  class n2 approval" in lines
    assert ("subgraph" in source) == (by == "stage")


def test_mermaid_draws_gates_as_diamonds_and_conflicts_as_dotted_links(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", CONFLICTING)
    source = emit_mermaid(comp.plan, comp.diagnostics)
    assert re.search(r'n3\{"ok<br/>approval gate · 1m"\}', source)
    assert 'x0["t1 × t2<br/>E300 write/write: src/api/a"]' in source and "  class x0 conflict" in source
    assert "  n0 -.- x0" in source and "  n1 -.- x0" in source
    assert re.search(r"linkStyle \d+,\d+,\d+,\d+ stroke:#d62728", source)
    assert all(MERMAID_LINE.fullmatch(line) for line in source.splitlines())


# --- the command -------------------------------------------------------------------------

@needs_dot
def test_graph_command_formats(tmp_path):
    for fmt, check in (("dot", lambda b: b.startswith(b"digraph lanes {")),
                       ("mermaid", lambda b: b"flowchart LR" in b),
                       ("svg", lambda b: ET.fromstring(b).tag.endswith("svg")),
                       ("png", lambda b: b.startswith(b"\x89PNG\r\n\x1a\n"))):
        out = tmp_path / f"g.{fmt}"
        r = lanes_cli("graph", EXAMPLE, "-f", fmt, "-o", out, "--by", "agent")
        assert r.returncode == 0, r.stderr
        assert check(out.read_bytes()), fmt
    r = lanes_cli("graph", EXAMPLE)
    assert r.returncode == 0 and r.stdout.startswith("digraph lanes {")


def test_graph_of_a_plan_file(tmp_path):
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(to_json(hostile_plan()), encoding="utf-8")
    r = lanes_cli("graph", plan_file, "-f", "mermaid")
    assert r.returncode == 0, r.stderr
    assert "flowchart LR" in r.stdout


def test_graph_of_a_workflow_with_errors_is_written_and_exits_1(tmp_path):
    wf = write(tmp_path, "w.yaml", CONFLICTING)
    r = lanes_cli("graph", wf, "-o", tmp_path / "g.dot")
    assert r.returncode == 1
    assert "error[E300]" in r.stderr
    assert 'label="t1 × t2\\nE300 write/write: src/api/a"' in (tmp_path / "g.dot").read_text()


def test_graph_of_an_unparsable_or_missing_file(tmp_path):
    bad = write(tmp_path, "bad.yaml", "workflow: [\n")
    r = lanes_cli("graph", bad, "-o", tmp_path / "g.dot")
    assert r.returncode == 1 and "E100" in r.stderr and not (tmp_path / "g.dot").exists()
    r = lanes_cli("graph", tmp_path / "missing.yaml")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def _path_without_dot(tmp_path: Path) -> str:
    """A PATH holding this Python but no Graphviz."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(sys.executable, bin_dir / "python3")
    return str(bin_dir)


def test_without_graphviz_svg_says_how_to_install_it_and_dot_still_works(tmp_path):
    env = {**os.environ, "PATH": _path_without_dot(tmp_path)}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "lanes", "graph", str(EXAMPLE), *args],
                              capture_output=True, text=True, env=env, timeout=60, check=False)

    r = run("-f", "svg", "-o", str(tmp_path / "g.svg"))
    assert r.returncode == 2
    assert "Graphviz 'dot' not found: install it (Debian/Ubuntu: apt-get install graphviz" in r.stderr
    assert not (tmp_path / "g.svg").exists()
    r = run("-f", "dot")
    assert r.returncode == 0 and r.stdout.startswith("digraph")


def test_compile_time_commands_never_run_a_workflow_command(tmp_path):
    marker = tmp_path / "ran"
    wf = write(tmp_path, "w.yaml", f"""
        workflow: quiet
        agents:
          a: {{domain: {{writes: ["out/**"]}}}}
        tasks:
          t: {{agent: a, run: "touch {marker}", rollback: "touch {marker}"}}
        gates:
          g: {{needs: [t], run: "touch {marker}"}}
        """)
    for args in (("graph", wf, "-f", "mermaid"), ("report", wf, "-o", tmp_path / "r.html"),
                 ("brief", wf, "-o", tmp_path / "briefs")):
        r = lanes_cli(*args)
        assert r.returncode == 0, r.stderr
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["briefs", "r.html", "w.yaml"]
