"""`lanes graph FILE [-f dot|svg|png|mermaid] [-o OUT] [--by stage|agent] [--full]` (SPEC section 6).

A workflow with errors still draws (conflicting pairs joined through red labels):
the output is written and the exit status is 1, like a compiler that still prints
a listing. Only a file that cannot be parsed into a plan draws nothing. Without
`-f` the format follows the extension of `-o`. Never runs a command from the
workflow; svg and png run Graphviz's `dot` on our own DOT, bounded in size and
time, and a failure is exit 2 with Graphviz's message and no file.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

from lanes.inputs import read_input
from lanes.output import emit

FORMATS = ("dot", "svg", "png", "mermaid")
EXTENSIONS = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png", ".mmd": "mermaid",
              ".mermaid": "mermaid"}
GRAPHVIZ_MISSING = ("Graphviz 'dot' not found: install it (Debian/Ubuntu: apt-get install graphviz; "
                    "macOS: brew install graphviz)")
# Graphviz's layout grows faster than linearly. With every stage one rank, generated
# workflows (bench/gen_workflow.py, 1.5 needs per node) took to SVG here: 1,000 nodes
# 0.2 s, 3,000 1.7 s, 5,000 10 s, 10,000 44 s (PNG alike). Above these bounds (about
# 10 s) a --full picture is refused with advice; LAYOUT_TIMEOUT_S stops any other
# layout that runs away.
FULL_MAX_NODES = 5000
FULL_MAX_EDGES = 10_000
LAYOUT_TIMEOUT_S = 120


class RenderError(Exception):
    """Graphviz is missing or failed; the message is for the user."""


def render_graphviz(dot_source: str, fmt: str, timeout: float = LAYOUT_TIMEOUT_S) -> bytes:
    """Lay out DOT with Graphviz's `dot` program into svg or png bytes."""
    try:
        proc = subprocess.run(["dot", f"-T{fmt}"], input=dot_source.encode("utf-8"), capture_output=True,
                              timeout=timeout, check=False)
    except FileNotFoundError:
        raise RenderError(GRAPHVIZ_MISSING) from None
    except subprocess.TimeoutExpired:
        raise RenderError(f"Graphviz did not finish the layout in {timeout:g} s") from None
    if proc.returncode != 0 or not proc.stdout:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RenderError(f"Graphviz failed (exit {proc.returncode}): "
                          f"{detail[-1] if detail else 'no output'}")
    return proc.stdout


def too_big_to_lay_out(nodes: int, edges: int) -> str | None:
    """Why a --full picture of this size is refused, with what to do instead; None if it is not."""
    if nodes <= FULL_MAX_NODES and edges <= FULL_MAX_EDGES:
        return None
    return (f"--full with {nodes:,} nodes and {edges:,} edges is too big for Graphviz to lay out in "
            f"reasonable time (bound: {FULL_MAX_NODES:,} nodes, {FULL_MAX_EDGES:,} edges); drop --full "
            f"for the summary, or write the DOT (-f dot) and lay out a part of it yourself")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("graph", help="draw the workflow's graph (DOT, SVG, PNG or Mermaid)")
    p.add_argument("file", metavar="FILE", help="a workflow file or a plan.json")
    p.add_argument("-f", "--format", choices=FORMATS,
                   help="output format (default: from the extension of -o: .dot .gv .svg .png .mmd; else dot)")
    p.add_argument("-o", "--output", metavar="OUT", help="write here (default: stdout)")
    p.add_argument("--by", choices=("stage", "agent"), default="stage",
                   help="clusters: one per stage (default) or one lane per agent")
    p.add_argument("--full", action="store_true",
                   help="draw every node even above 60 (default: one box per agent lane and stage)")
    p.set_defaults(func=run)


def output_format(fmt: str | None, output: str | None) -> str | None:
    """-f, else the format of -o's extension, else dot; None for an extension we do not know."""
    if fmt:
        return fmt
    if not output:
        return "dot"
    return EXTENSIONS.get(os.path.splitext(output)[1].lower())


def run(args: argparse.Namespace) -> int:
    fmt = output_format(args.format, args.output)
    if fmt is None:
        known = ", ".join(EXTENSIONS)
        print(f"lanes: cannot tell the format of {args.output!r} from its extension ({known}): give -f",
              file=sys.stderr)
        return 2
    if fmt == "png" and not args.output and sys.stdout.isatty():
        print("lanes: png is binary: write it to a file with -o OUT", file=sys.stderr)
        return 2
    inp = read_input(args.file, allow_errors=True)
    if inp.plan is None:
        return inp.status
    from lanes.compiler.emit_dot import emit_dot
    from lanes.compiler.emit_mermaid import emit_mermaid
    if fmt in ("svg", "png") and args.full:
        why = too_big_to_lay_out(len(inp.plan.nodes), sum(len(n.needs) for n in inp.plan.nodes))
        if why:
            print(f"lanes: {why}", file=sys.stderr)
            return 2
    make = emit_mermaid if fmt == "mermaid" else emit_dot
    text = make(inp.plan, inp.diagnostics, by=args.by, full=args.full)
    data: bytes | str = text
    if fmt in ("svg", "png"):
        try:
            data = render_graphviz(text, fmt)
        except RenderError as exc:
            print(f"lanes: {exc}", file=sys.stderr)
            return 2
    return emit(args.output, data) or inp.status
