"""Our Mermaid is valid for GitHub: every example's, a conflicting workflow's, a hostile
plan's and a 200-task workflow's flowchart (by stage and by agent) parsed and rendered
by the real mermaid library in headless Chromium, with mermaid's default limits
(GitHub keeps them: 50,000 characters, 500 edges).

The library comes from npm: `npm install --prefix tests/.mermaid mermaid@11` (what
.ci/run does), or $LANES_MERMAID_JS names a mermaid.min.js. Without it these tests
fail, they do not skip."""
from __future__ import annotations

import html
import json
import os
from pathlib import Path
import re
import sys

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from gen_workflow import generate
from helpers import compile_text, lanes_cli
from test_graph import CONFLICTING, EXAMPLE, ROOT, hostile_plan
from test_report_browser import browse

from lanes.compiler.emit_mermaid import emit_mermaid
from lanes.compiler.graph_model import COLLAPSE_ABOVE

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
INSTALLED = Path(__file__).resolve().parent / ".mermaid" / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"

RUNNER = """
(async function () {
  var results = [];
  mermaid.initialize({startOnLoad: false, securityLevel: "strict"});
  var sources = JSON.parse(document.getElementById("sources").textContent);
  for (var i = 0; i < sources.length; i++) {
    var r = {name: sources[i][0]};
    try {
      r.parsed = !!(await mermaid.parse(sources[i][1]));
      var out = await mermaid.render("d" + i, sources[i][1]);
      var holder = document.createElement("div");
      holder.innerHTML = out.svg;
      r.nodes = holder.querySelectorAll("g.node").length;
      r.edges = holder.querySelectorAll("path.flowchart-link").length;
      r.error = holder.querySelector(".error-text") ? holder.querySelector(".error-text").textContent : null;
    } catch (e) {
      r.error = String(e && e.message || e);
    }
    results.push(r);
  }
  var pre = document.createElement("pre");
  pre.id = "results";
  pre.textContent = JSON.stringify(results);
  document.body.appendChild(pre);
})();
"""


def mermaid_js() -> Path:
    path = Path(os.environ.get("LANES_MERMAID_JS", INSTALLED))
    assert path.is_file(), (f"{path} is missing: run `npm install --prefix tests/.mermaid mermaid@11` "
                            "(or set LANES_MERMAID_JS)")
    return path


def render_all(sources: list[tuple[str, str]], tmp_path: Path) -> dict[str, dict]:
    """name -> {parsed, nodes, edges, error} as mermaid saw each source."""
    data = json.dumps(sources).replace("<", "\\u003c")          # cannot close the script element
    page = tmp_path / "mermaid.html"
    page.write_text(f"""<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<script src="{mermaid_js().as_uri()}"></script>
<script type="application/json" id="sources">{data}</script>
<script>{RUNNER}</script></body></html>""", encoding="utf-8")
    dom = browse(page, tmp_path)
    found = re.search(r'<pre id="results">(.*?)</pre>', dom, re.DOTALL)
    assert found, "mermaid did not run: " + dom[-500:]
    return {r["name"]: r for r in json.loads(html.unescape(found.group(1)))}


EDGE = re.compile(r"^  [ng]\d+ (-->|-\.-)", re.MULTILINE)      # an edge's line (emit_mermaid)


def sources_of(tmp_path: Path) -> list[tuple[str, str]]:
    out = []
    wf200 = tmp_path / "w200.yaml"
    wf200.write_text(generate(200)[0], encoding="utf-8")
    clash = tmp_path / "clash.yaml"
    clash.write_text(CONFLICTING, encoding="utf-8")
    for source in [*EXAMPLES, clash, wf200]:
        for by in ("stage", "agent"):
            r = lanes_cli("graph", source, "-o", tmp_path / "g.mmd", "--by", by)
            assert r.returncode in (0, 1), r.stderr
            out.append((f"{source.stem} by {by}", (tmp_path / "g.mmd").read_text(encoding="utf-8")))
    out.append(("hostile", emit_mermaid(hostile_plan(), by="stage")))
    return out


def test_mermaid_parses_and_renders_every_flowchart_we_write(tmp_path):
    sources = sources_of(tmp_path)
    for name, text in sources:                  # GitHub's (mermaid's) limits; edges: --> and conflicts' -.-
        assert len(text) < 50_000 and len(EDGE.findall(text)) < 500, name
    results = render_all(sources, tmp_path)
    assert set(results) == {name for name, _ in sources}
    bad = {name: r["error"] for name, r in results.items() if r.get("error") or not r.get("parsed")}
    assert not bad
    for name, text in sources:
        boxes = len(re.findall(r"^ +[ngx]\d+[\[({]", text, re.MULTILINE))
        links = len(EDGE.findall(text))
        assert results[name]["nodes"] == boxes and results[name]["edges"] == links, name


def test_a_large_workflow_is_summarised_in_mermaid_as_in_dot(tmp_path):
    comp = compile_text(tmp_path, "w.yaml", generate(200)[0])
    assert len(comp.plan.nodes) > COLLAPSE_ABOVE
    text = emit_mermaid(comp.plan, comp.diagnostics)
    assert "one box per agent lane and stage" in text.splitlines()[1]
    assert len(re.findall(r"^ +g\d+[({]", text, re.MULTILINE)) < len(comp.plan.nodes) / 2
    assert re.search(r'-->\|"#215;\d+"\|', text)                     # aggregated edges with counts
    assert "  class g" in text and " critical" in text


@pytest.mark.parametrize("by", ["stage", "agent"])
def test_the_fullstack_example_draws_every_node(tmp_path, by):
    r = lanes_cli("graph", EXAMPLE, "-f", "mermaid", "--by", by)
    assert r.returncode == 0
    assert len(re.findall(r"^ +n\d+[({]", r.stdout, re.MULTILINE)) == 7
