"""The review page in a real browser (headless Chromium at 1,400 px): nothing cut off
for the examples, ids on one line, the graph fitted with zoom, tables that sort and
filter, and a 1,000-task page that renders. The page keeps its Content-Security-
Policy: the measuring script below is let in by adding its own hash, so the page's
script must run under the very policy the page ships with."""
from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import sys

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from gen_workflow import generate
from helpers import lanes_cli, write
from test_graph import CONFLICTING, ROOT

from lanes.inputs import read_input

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
WIDTH = 1400

# Runs after the page's own script; writes what it saw into <pre id="measured">.
MEASURE = """
(function () {
  var out = {}, doc = document.documentElement;
  out.script = doc.getAttribute("data-script");
  out.pageWidth = doc.scrollWidth;
  out.viewport = window.innerWidth;
  out.cut = [];
  document.querySelectorAll("section, .graph, td, th").forEach(function (el) {
    if (el.scrollWidth > el.clientWidth + 1 && !el.classList.contains("graph")) {
      out.cut.push((el.id || el.tagName) + ": " + el.textContent.slice(0, 60));
    }
  });
  out.brokenIds = [];
  document.querySelectorAll("code.id").forEach(function (el) {
    if (el.getClientRects().length > 1) { out.brokenIds.push(el.textContent); }
  });
  var box = document.querySelector(".graph"), svg = box && box.querySelector("svg");
  if (svg) {
    out.zoom = box.getAttribute("data-zoom");
    out.svgWidth = svg.getBoundingClientRect().width;
    out.boxWidth = box.clientWidth;
    out.svgNodes = svg.querySelectorAll("g.node").length;
    document.getElementById("zoom-in").click();
    out.zoomedWidth = svg.getBoundingClientRect().width;
    document.getElementById("fit-width").click();
    out.fittedAgain = svg.getBoundingClientRect().width;
  }
  var table = document.getElementById("nodes-table"), rows = table.tBodies[0].rows;
  out.rows = rows.length;
  var input = document.querySelector("input[data-filter='nodes-table']");
  input.value = "gate";
  input.dispatchEvent(new Event("input"));
  out.filtered = Array.prototype.filter.call(rows, function (r) { return !r.hidden; }).length;
  input.value = "";
  input.dispatchEvent(new Event("input"));
  var estimate = table.tHead.rows[0].cells[6];
  estimate.click();
  var keys = Array.prototype.map.call(table.tBodies[0].rows, function (r) {
    return Number(r.cells[6].getAttribute("data-sort"));
  });
  out.sortedUp = keys.every(function (k, i) { return i === 0 || keys[i - 1] <= k; });
  estimate.click();
  keys = Array.prototype.map.call(table.tBodies[0].rows, function (r) {
    return Number(r.cells[6].getAttribute("data-sort"));
  });
  out.sortedDown = keys.every(function (k, i) { return i === 0 || keys[i - 1] >= k; });
  var pre = document.createElement("pre");
  pre.id = "measured";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
"""


def with_measuring(html: str) -> str:
    """The page with MEASURE appended, its hash added to the page's own policy."""
    digest = base64.b64encode(hashlib.sha256(MEASURE.encode()).digest()).decode()
    policy = re.search(r"script-src ('sha256-[^']+')", html)
    assert policy, "the page's policy names its script by hash"
    html = html.replace(policy.group(0), f"{policy.group(0)} 'sha256-{digest}'", 1)
    return html.replace("</body>", f"<script>{MEASURE}</script></body>", 1)


def browse(page: Path, tmp_path: Path) -> str:
    """The DOM after the page's scripts ran, from headless Chromium at WIDTH px."""
    assert CHROMIUM, "these tests need Chromium (.ci/run installs it)"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
           f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={WIDTH},900",
           "--virtual-time-budget=5000", "--dump-dom", page.as_uri()]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    return out


def measured(source: Path, tmp_path: Path) -> dict:
    page = tmp_path / "r.html"
    r = lanes_cli("report", source, "-o", page)
    assert r.returncode in (0, 1), r.stderr
    test_page = tmp_path / "measured.html"
    test_page.write_text(with_measuring(page.read_text(encoding="utf-8")), encoding="utf-8")
    dom = browse(test_page, tmp_path)
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.DOTALL)
    assert found, "the measuring script did not run"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                      .replace("&amp;", "&"))


def rows_mentioning(source: Path, word: str) -> int:
    """The rows of the node table whose text holds `word` (what the filter must keep)."""
    plan = read_input(str(source), allow_errors=True).plan
    return sum(any(word in str(v).lower() for v in (n.id, n.kind, n.agent, n.needs, n.run, n.approve, n.rollback,
                                                   n.writes, n.reads, n.description, n.on_fail))
               for n in plan.nodes)


def assert_fits(m: dict) -> None:
    assert m["script"] == "ran" and m["zoom"] == "ready"
    assert m["viewport"] == WIDTH and m["pageWidth"] <= WIDTH, m
    assert m["cut"] == [] and m["brokenIds"] == []
    assert m["svgWidth"] <= m["boxWidth"] + 1                 # fitted, no sideways scrolling
    assert m["zoomedWidth"] > m["svgWidth"] or m["svgWidth"] < m["boxWidth"] - 1
    assert abs(m["fittedAgain"] - m["svgWidth"]) < 1
    assert m["sortedUp"] and m["sortedDown"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_at_1400_px_nothing_of_an_example_is_cut_off(example, tmp_path):
    m = measured(example, tmp_path)
    assert_fits(m)
    assert m["svgNodes"] >= 3 and m["rows"] >= 3
    assert m["filtered"] == rows_mentioning(example, "gate")


def test_a_conflicting_workflow_fits_too(tmp_path):
    m = measured(write(tmp_path, "w.yaml", CONFLICTING), tmp_path)
    assert_fits(m)
    assert m["svgNodes"] == 4 + 2                              # four nodes, two conflict labels


def test_a_thousand_task_report_renders(tmp_path):
    wf = tmp_path / "w.yaml"
    wf.write_text(generate(1000)[0], encoding="utf-8")
    m = measured(wf, tmp_path)
    assert m["script"] == "ran" and m["zoom"] == "ready"
    assert m["rows"] == 1009 and m["svgNodes"] > 20           # every node listed, the summary drawn
    assert m["pageWidth"] <= WIDTH and m["brokenIds"] == []
    assert m["svgWidth"] <= m["boxWidth"] + 1
    assert m["filtered"] == rows_mentioning(wf, "gate") == 6 and m["sortedUp"] and m["sortedDown"]
