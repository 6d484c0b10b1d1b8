"""`lanes graph FILE -f dot|svg|png|mermaid [-o OUT] [--by stage|agent] [--full]` (SPEC section 6).

A workflow with errors still draws (conflicting pairs joined by red dashed edges):
the output is written and the exit status is 1, like a compiler that still prints
a listing. Only a file that cannot be parsed into a plan draws nothing. Never runs
a command from the workflow; svg and png run Graphviz's `dot` on our own DOT.
"""
from __future__ import annotations

import argparse
import sys

from lanes.inputs import read_input
from lanes.output import emit

FORMATS = ("dot", "svg", "png", "mermaid")
GRAPHVIZ_MISSING = ("Graphviz 'dot' not found: install it (Debian/Ubuntu: apt-get install graphviz; "
                    "macOS: brew install graphviz)")


class RenderError(Exception):
    """Graphviz is missing or failed; the message is for the user."""


def render_graphviz(dot_source: str, fmt: str) -> bytes:
    """Lay out DOT with Graphviz's `dot` program into svg or png bytes."""
    import graphviz
    try:
        image: bytes = graphviz.Source(dot_source).pipe(format=fmt, quiet=True)   # graphviz is untyped
        return image
    except graphviz.ExecutableNotFound:
        raise RenderError(GRAPHVIZ_MISSING) from None
    except graphviz.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise RenderError(f"Graphviz failed: {detail[-1] if detail else exc}") from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("graph", help="draw the workflow's graph (DOT, SVG, PNG or Mermaid)")
    p.add_argument("file", metavar="FILE", help="a workflow file or a plan.json")
    p.add_argument("-f", "--format", choices=FORMATS, default="dot", help="output format (default: dot)")
    p.add_argument("-o", "--output", metavar="OUT", help="write here (default: stdout)")
    p.add_argument("--by", choices=("stage", "agent"), default="stage",
                   help="clusters: one per stage (default) or one lane per agent")
    p.add_argument("--full", action="store_true",
                   help="draw every node even in a large graph (default: one box per agent per stage)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.format == "png" and not args.output and sys.stdout.isatty():
        print("lanes: png is binary: write it to a file with -o OUT", file=sys.stderr)
        return 2
    inp = read_input(args.file, allow_errors=True)
    if inp.plan is None:
        return inp.status
    from lanes.compiler.emit_dot import emit_dot
    from lanes.compiler.emit_mermaid import emit_mermaid
    from lanes.compiler.graph_model import COLLAPSE_ABOVE
    make = emit_mermaid if args.format == "mermaid" else emit_dot
    text = make(inp.plan, inp.diagnostics, by=args.by, full=args.full)
    data: bytes | str = text
    if args.format in ("svg", "png"):
        if args.full and len(inp.plan.nodes) > COLLAPSE_ABOVE:
            print(f"lanes: laying out {len(inp.plan.nodes)} nodes with Graphviz; this can take minutes",
                  file=sys.stderr)
        try:
            data = render_graphviz(text, args.format)
        except RenderError as exc:
            print(f"lanes: {exc}", file=sys.stderr)
            return 2
    return emit(args.output, data) or inp.status
