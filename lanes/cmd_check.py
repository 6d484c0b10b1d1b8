"""`lanes check FILE...`: every check, every diagnostic (SPEC section 4).

Exit 0 (warnings allowed), 1 errors, 2 a file that cannot be read: that one is
reported as E000 at line 1, column 1, in every format.
"""
from __future__ import annotations

import argparse
import gc
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lanes.dsl.diagnostics import Diagnostic

FORMATS = ("human", "json", "sarif", "github")


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a count (0 or more), got {text!r}")
    return n


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("check", help="check a workflow and report every problem")
    p.add_argument("files", nargs="+", metavar="FILE", help="a workflow file (*.yaml, *.yml, *.lanes)")
    p.add_argument("--format", choices=FORMATS, default="human", help="output format")
    p.add_argument("--max", type=_positive, metavar="N",
                   help="list only the first N diagnostics (N blocks in the human format); totals stay true")
    p.add_argument("--color", "--colour", choices=("auto", "always", "never"), default="auto",
                   help="colour the human format (auto: on a terminal, unless NO_COLOR; FORCE_COLOR forces it)")
    p.set_defaults(func=run)


def unreadable_diagnostic(path: str, why: str) -> Diagnostic:
    """E000 at line 1, column 1 of a file that cannot be read at all."""
    from lanes.dsl.diagnostics import diag
    from lanes.dsl.span import Span
    reason = why[len(path) + 2:] if why.startswith(f"{path}: ") else why
    return diag("E000", f"cannot read the workflow: {reason}", Span.point(path, 1, 1))


def run(args: argparse.Namespace) -> int:
    # Paused for the whole command: the modules imported here and the trees of a check
    # are many objects and no cycles, which the cyclic collector would only scan again
    # and again (a tenth of the imports' time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _check(args)
    finally:
        if collecting:
            gc.enable()


def _check(args: argparse.Namespace) -> int:
    # imported here: every `lanes` command parses all subcommands, so they start light
    from lanes import api
    from lanes.render import print_diagnostics, safe
    status = 0
    diagnostics: list[Diagnostic] = []
    sources: dict[str, str] = {}
    agent_of: dict[tuple[str, str], str | None] = {}
    for path in args.files:
        comp = api.check(path)
        # kept on args, which lives until the `lanes` program ends with os._exit (cli.py):
        # the last file's trees are not freed object by object on the way out (30 ms of a
        # check of 10k tasks); an earlier file's go when the next one's replace them
        args.last_compilation = comp
        if comp.loaded.unreadable:
            diagnostics.append(unreadable_diagnostic(path, comp.loaded.unreadable))
            status = 2
            continue
        diagnostics += comp.diagnostics
        sources.update(comp.sources)
        agent_of.update(comp.agent_of)
        if comp.has_errors:
            status = max(status, 1)
        elif args.format == "human" and not comp.diagnostics and comp.model is not None:
            m = comp.model
            tasks = sum(n.is_task for n in m.nodes)
            print(f"{safe(path)}: ok ({tasks} task{'s' * (tasks != 1)}, {len(m.nodes) - tasks} gate"
                  f"{'s' * (len(m.nodes) - tasks != 1)}, {len(m.agents)} agent{'s' * (len(m.agents) != 1)})")
    if args.format != "human" or diagnostics:
        print_diagnostics(diagnostics, sources, sys.stdout, args.format, summary=True, colour=args.color,
                          agent_of=agent_of, limit=args.max)
    return status
