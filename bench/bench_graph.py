"""Time `lanes graph` and `lanes report` end to end on generated workflows.

    python bench/bench_graph.py [TASKS ...] [--full] [--browser]

For each size (default 1,000 and 10,000 tasks, from bench/gen_workflow.py) prints the
wall time of the commands as a user runs them (reading and checking the workflow
included): the summary to SVG and PNG, by stage and by agent (goals: 1,000 tasks
under 5 s, 10,000 under 30 s), and the report. With --full also every node to
SVG. With --browser also how long headless Chromium takes to render the report
(goal: 1,000 tasks under 3 s), less the time it takes on an empty page.
"""
from __future__ import annotations

from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
import time

from gen_workflow import generate

from lanes.cmd_graph import FULL_MAX_NODES

GOALS = {1000: 5.0, 10_000: 30.0}       # seconds for the summary to SVG or PNG
REPORT_RENDER_GOAL = 3.0                # seconds for Chromium to render a 1,000-task report


def _lanes(*args: str | Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lanes", *map(str, args)], capture_output=True, text=True,
                          check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"lanes {' '.join(map(str, args))} failed: {proc.stderr.strip()[-500:]}")
    return elapsed


def _browser(page: Path, profile: Path) -> float:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("--browser needs chromium")
    start = time.perf_counter()
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={profile}", "--window-size=1400,900", "--dump-dom", page.as_uri()],
                   capture_output=True, check=True, timeout=300)
    return time.perf_counter() - start


def _line(label: str, seconds: float, goal: float | None = None) -> None:
    verdict = "" if goal is None else f"  (goal < {goal:g} s: {'met' if seconds < goal else 'MISSED'})"
    print(f"  {label:<34} {seconds:7.2f} s{verdict}", flush=True)


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv if a.isdigit()] or [1000, 10_000]
    with tempfile.TemporaryDirectory(prefix="lanes-bench-graph-") as tmp:
        out = Path(tmp)
        for n in sizes:
            wf = out / f"w{n}.yaml"
            wf.write_text(generate(n)[0], encoding="utf-8")
            goal = GOALS.get(n)
            print(f"{n:,} tasks ({wf.stat().st_size / 1e6:.1f} MB of YAML)")
            _line("lanes check", _lanes("check", wf, "--format", "json"))
            for by in ("stage", "agent"):
                for fmt in ("svg", "png"):
                    _line(f"summary to {fmt.upper()}, --by {by}", _lanes("graph", wf, "--by", by, "-o",
                                                                         out / f"g.{fmt}"), goal)
            _line("summary to Mermaid", _lanes("graph", wf, "-o", out / "g.mmd"))
            if "--full" in argv and n <= FULL_MAX_NODES:
                _line("--full to SVG", _lanes("graph", wf, "--full", "-o", out / "full.svg"))
            elif "--full" in argv:
                print(f"  --full to SVG: refused above {FULL_MAX_NODES:,} nodes (lanes graph exits 2)")
            page = out / f"r{n}.html"
            _line("lanes report", _lanes("report", wf, "-o", page))
            if "--browser" in argv:
                empty = out / "empty.html"
                empty.write_text("<!DOCTYPE html><title>x</title>", encoding="utf-8")
                base = min(_browser(empty, out / f"p{i}") for i in range(2))
                render = min(_browser(page, out / f"q{i}") for i in range(2)) - base
                _line(f"Chromium renders the report (less {base:.2f} s for an empty page)", render,
                      REPORT_RENDER_GOAL if n == 1000 else None)


if __name__ == "__main__":
    main(sys.argv[1:])
