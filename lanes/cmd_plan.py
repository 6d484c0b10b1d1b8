"""`lanes plan FILE [-o plan.json]`: the deterministic execution plan (SPEC section 5)."""
from __future__ import annotations

import argparse
import sys

from lanes.output import emit


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("plan", help="compile a workflow to its execution plan (JSON)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("-o", "--output", metavar="OUT", help="write the plan here (default: stdout)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imported here: every `lanes` command parses all subcommands, so they start light
    from lanes import api
    from lanes.compiler.planfile import to_json
    from lanes.inputs import agents_of, print_unreadable
    from lanes.render import print_diagnostics
    comp = api.compile(args.file)
    if comp.loaded.unreadable:
        print_unreadable(args.file, comp.loaded.unreadable)
        return 2
    if comp.diagnostics:
        print_diagnostics(comp.diagnostics, comp.sources, sys.stderr, summary=True,
                          agent_of=agents_of(args.file, comp.model))
    if comp.has_errors or comp.plan is None:
        return 1
    return emit(args.output, to_json(comp.plan))
