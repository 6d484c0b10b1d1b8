"""`lanes report FILE [-o report.html]`: the review page (SPEC section 6).

Like `lanes graph`, a workflow with errors still gets its page (the diagnostics
are the point of it): the page is written and the exit status is 1. Without
Graphviz the page shows the DOT source instead of the picture, with a warning.
"""
from __future__ import annotations

import argparse
import sys

from lanes.cmd_graph import RenderError, render_graphviz
from lanes.inputs import read_input
from lanes.output import emit


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="write a self-contained HTML page for reviewing a workflow")
    p.add_argument("file", metavar="FILE", help="a workflow file or a plan.json")
    p.add_argument("-o", "--output", metavar="OUT", help="write here (default: stdout)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imported here: every `lanes` command parses all subcommands, so they start light
    from lanes.compiler.report import render_report, report_dot
    inp = read_input(args.file, allow_errors=True)
    if inp.plan is None:
        return inp.status
    svg, problem = None, None
    try:
        svg = render_graphviz(report_dot(inp.plan, inp.diagnostics), "svg")
    except RenderError as exc:
        problem = str(exc)
        print(f"lanes: warning: {problem}; the page shows the DOT source instead", file=sys.stderr)
    page = render_report(inp.plan, inp.diagnostics, inp.sources or {}, svg=svg, graph_problem=problem)
    return emit(args.output, page) or inp.status
