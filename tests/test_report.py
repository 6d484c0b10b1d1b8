"""The review page: content, escaping of every user string, the inlined SVG, and a real
browser (headless Chromium) that must render it without running anything."""
from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser
import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import sys

from helpers import lanes_cli, write
import pytest
from test_graph import (
    CONFLICTING,
    EXAMPLE,
    HOSTILE_GATE,
    HOSTILE_ID,
    HOSTILE_TEXT,
    agent,
    hostile_plan,
    needs_dot,
    node,
    plan_of,
)

from lanes.cmd_graph import render_graphviz
from lanes.compiler.report import PAGE_SCRIPT, SCRIPT_HASH, UnsafeSvg, render_report, report_dot, safe_svg
from lanes.dsl.diagnostics import Related, diag
from lanes.dsl.span import Span
from lanes.inputs import read_input

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Page(HTMLParser):
    """What a browser would build: elements with attributes, and text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return "".join(self.text)


def hostile_diagnostics():
    span = Span("w.yaml", 2, 5, 2, 9)
    return (diag("E300", f"tasks {HOSTILE_TEXT} clash", span, witness=HOSTILE_GATE,
                 related=[Related(f"'{HOSTILE_ID}' writes", Span("w.yaml", 1, 1, 1, 2))],
                 nodes=(HOSTILE_ID, "t-not-in-plan")),)


def hostile_page(svg=True) -> str:
    plan = hostile_plan()
    diags = hostile_diagnostics()
    picture = render_graphviz(report_dot(plan, diags), "svg") if svg else None
    return render_report(plan, diags, {"w.yaml": f"first\n  {HOSTILE_TEXT}\n"}, svg=picture,
                         graph_problem=None if svg else "Graphviz 'dot' not found")


def only_our_script(html: str) -> bool:
    """The page's one script is PAGE_SCRIPT, with no source, and the policy allows it alone."""
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.DOTALL)
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html).group(1)
    return scripts == [("", PAGE_SCRIPT)] and f"script-src '{SCRIPT_HASH}'" in policy \
        and "unsafe-inline'; img" in policy and policy.count("script-src") == 1 and "nonce" not in policy


def test_the_policy_hash_is_the_script_s_own():
    digest = base64.b64encode(hashlib.sha256(PAGE_SCRIPT.encode()).digest()).decode()
    assert SCRIPT_HASH == f"sha256-{digest}"


def test_page_shows_every_part_of_the_review():
    inp = read_input(str(EXAMPLE))
    html = render_report(inp.plan, inp.diagnostics, inp.sources, svg=None, graph_problem="no dot here")
    page = Page(html)
    ids = {a.get("id") for _, a in page.tags}
    assert {"summary", "diagnostics", "graph", "critical-path", "stages", "agents", "domains", "nodes"} <= ids
    text = page.all_text
    assert "12m" in text and "19m" in text and "36.8%" in text          # parallel, sequential, saved
    assert "None: every check passed." in text
    assert "No picture: no dot here" in text and "digraph lanes {" in text
    # the critical path in order, every agent with skills, the matrix marks
    path = re.search(r'id="critical-path">(.*?)</section>', html, re.DOTALL).group(1)
    assert [m for m in re.findall(r'<code class="id">([^<]+)</code>', path)] == list(inp.plan.critical_path)
    assert "fastapi" in text and "openapi" in text
    matrix = re.search(r'class="matrix">(.*?)</table>', html, re.DOTALL).group(1)
    row = re.search(r'<code class="id">scribe</code></td>(.*?)</tr>', matrix, re.DOTALL).group(1)
    assert re.findall(r'<td class="(\w*)">', row).count("W") == 1
    assert re.findall(r'<td class="(\w*)">', row).count("R") == 1


def test_diagnostics_carry_their_location_and_source_line(tmp_path):
    inp = read_input(str(write(tmp_path, "w.yaml", CONFLICTING)), allow_errors=True)
    html = render_report(inp.plan, inp.diagnostics, inp.sources)
    text = Page(html).all_text
    assert f"{tmp_path / 'w.yaml'}:8:3" in text
    assert "error[E300]" in text and "witness: src/api/a" in text
    assert "    8 |   t2: {agent: b, run: echo 2}\n      |   ^~" in text
    assert "2 errors" in text


@needs_dot
def test_hostile_strings_stay_text():
    html = hostile_page()
    page = Page(html)
    assert not [t for t, _ in page.tags if t in ("iframe", "object", "embed", "img", "link")]
    assert not [(t, k) for t, attrs in page.tags for k in attrs if k.startswith("on")]
    assert only_our_script(html) and "<img" not in html
    text = page.all_text
    for s in (HOSTILE_ID, HOSTILE_GATE, HOSTILE_TEXT, "w</title><script>document.title='pwned'</script>",
              "x/`y`/**", "<r>/**"):
        assert s in text, s
    # the page title element holds the hostile workflow name as text, not markup
    assert "<title>lanes report: w&lt;/title&gt;&lt;script&gt;" in html


def test_without_a_picture_the_dot_source_is_escaped_text():
    html = hostile_page(svg=False)
    assert "<svg" not in html
    assert "Graphviz &#39;dot&#39; not found" in html
    assert "digraph lanes {" in Page(html).all_text
    assert "<script>alert(1)" not in html


def test_page_fetches_nothing():
    html = hostile_page(svg=shutil.which("dot") is not None)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert not re.search(r"<(link|img|iframe)\b", html) and only_our_script(html)


@needs_dot
def test_safe_svg_accepts_graphviz_output_and_keeps_its_tooltips():
    svg = render_graphviz(report_dot(hostile_plan()), "svg")
    markup = str(safe_svg(svg))
    assert markup.startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in markup
    assert "xlink:title=" in markup and "&lt;script&gt;" in markup


@pytest.mark.parametrize("svg", [
    '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink"><a x:href="javascript:1"/></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><p>x</p></foreignObject></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><style>*{background:url(http://x)}</style></svg>',
    '<html><svg/></html>',
    '<svg',
])
def test_safe_svg_refuses_anything_else(svg):
    with pytest.raises(UnsafeSvg):
        safe_svg(svg)


def test_an_unsafe_svg_is_not_inlined():
    plan = plan_of([node("t")], [agent("a")])
    html = render_report(plan, (), {}, svg='<svg xmlns="http://www.w3.org/2000/svg" onload="x()"/>')
    assert not [t for t, attrs in Page(html).tags if t == "svg" or "onload" in attrs]
    assert "the SVG was not inlined (event handler attribute onload)" in html


def test_large_domain_matrices_are_listed_by_pattern():
    agents = [agent(f"a{i}", writes=[f"p{i}/**"], reads=["shared/**"]) for i in range(120)]
    plan = plan_of([node("t", agent="a0")], agents)
    html = render_report(plan)
    assert "listed by pattern" in html
    assert "<td><code>p7/**</code></td><td>a7</td><td></td>" in html


@needs_dot
def test_report_command(tmp_path):
    out = tmp_path / "r.html"
    r = lanes_cli("report", EXAMPLE, "-o", out)
    assert r.returncode == 0, r.stderr
    assert "<svg" in out.read_text(encoding="utf-8")
    wf = write(tmp_path, "w.yaml", CONFLICTING)
    r = lanes_cli("report", wf, "-o", out)
    assert r.returncode == 1 and "error[E300]" in r.stderr
    assert "E300 write/write: src/api/a" in out.read_text(encoding="utf-8")
    r = lanes_cli("report", EXAMPLE)
    assert r.returncode == 0 and r.stdout.startswith("<!DOCTYPE html>")


def test_report_without_graphviz_still_writes_the_page(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(sys.executable, bin_dir / "python3")
    out = tmp_path / "r.html"
    r = subprocess.run([sys.executable, "-m", "lanes", "report", str(EXAMPLE), "-o", str(out)],
                       capture_output=True, text=True, timeout=60, env={**os.environ, "PATH": str(bin_dir)},
                       check=False)
    assert r.returncode == 0, r.stderr
    assert "warning: Graphviz 'dot' not found" in r.stderr
    assert "digraph lanes {" in out.read_text(encoding="utf-8")


# --- a real browser --------------------------------------------------------------------

def dump_dom(page: Path, tmp_path: Path) -> str:
    """The live DOM after scripts (if any) ran, from headless Chromium (needed: .ci/run installs it)."""
    assert CHROMIUM, "this test needs Chromium: apt-get install chromium"
    profile = tmp_path / "chromium-profile"
    cmd = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-extensions", "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
           "--virtual-time-budget=2000", "--dump-dom", page.as_uri()]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        # an alert() from an injected script blocks a headless page: that is a failure too
        pytest.fail(f"Chromium did not finish {page.name} (a script's dialog blocks it?)")
    finally:
        try:                     # the browser's helper processes share its process group
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    return out


@needs_dot
def test_chromium_renders_the_page_and_runs_no_injected_script(tmp_path):
    html = hostile_page()
    # Without the Content-Security-Policy, escaping alone must keep the page inert; a
    # script of ours proves that this browser does run scripts that are really there.
    bare = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    assert bare != html
    control = "<script>document.body.setAttribute('data-control', 'ran')</script></body>"
    pages = {"real": html, "bare": bare.replace("</body>", control)}
    for name, text in pages.items():
        (tmp_path / f"{name}.html").write_text(text, encoding="utf-8")
    for name in pages:
        dom = dump_dom(tmp_path / f"{name}.html", tmp_path)
        assert "<svg" in dom and "</svg>" in dom, name
        title = re.search(r"<title>(.*?)</title>", dom, re.DOTALL).group(1)
        assert title == "lanes report: w&lt;/title&gt;&lt;script&gt;document.title='pwned'&lt;/script&gt;"
        assert "pwned" not in re.sub(r"&lt;script&gt;document\.title='pwned'", "", dom)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
        page = Page(dom)
        assert not [(t, k) for t, attrs in page.tags for k in attrs if k.startswith("on")]
        assert not [t for t, _ in page.tags if t in ("img", "iframe")]
        assert HOSTILE_GATE in page.all_text and HOSTILE_TEXT in page.all_text
        assert ('data-control="ran"' in dom) == (name == "bare")


@needs_dot
def test_the_page_has_one_legend_and_conflicts_grouped_by_pair_of_agents(tmp_path):
    inp = read_input(str(write(tmp_path, "w.yaml", CONFLICTING)), allow_errors=True)
    svg = render_graphviz(report_dot(inp.plan, inp.diagnostics), "svg")
    html = render_report(inp.plan, inp.diagnostics, inp.sources, svg=svg)
    legend = re.search(r'<ul class="legend">(.*?)</ul>', html, re.DOTALL).group(1)
    assert "bold: critical path" in legend and "red dashed: a conflict" in legend
    assert "bold: critical path" not in svg.decode()           # the picture leaves it to the page
    rows = re.search(r'<section id="conflicts">.*?<tbody>(.*?)</tbody>', html, re.DOTALL).group(1)
    groups = re.findall(r'<td><code class="id">(\w+)</code> and <code class="id">(\w+)</code></td>\s*'
                        r'<td data-sort="(\d+)">', rows)
    assert groups == [("a", "b", "1"), ("b", "c", "1")]
    assert "<code>src/api/a</code>" in rows and "<code>docs/a</code>" in rows
    assert "they may run at the same time" not in rows          # the patterns, not the why


def test_the_report_shows_each_agent_tasks_command_line_and_prompt(tmp_path):
    """A reviewer reads exactly what will run (SPEC section 9): the plan's command, escaped."""
    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "agents.html"
    r = lanes_cli("report", root / "examples" / "agents.yaml", "-o", out)
    assert r.returncode == 0, r.stderr
    page = out.read_text()
    assert "claude runs:</span> <code>claude -p --output-format stream-json --verbose" in page
    assert "--sandbox workspace-write" in page and "&lt; &#34;$LANES_PROMPT&#34;" in page
    assert "Implement contracts/openapi.yaml in src/api/" in page
