"""`lanes check FILE...`: every check, every diagnostic, sorted by position."""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lanes.dsl.diagnostics import Diagnostic


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("check", help="check a workflow and report every problem")
    p.add_argument("files", nargs="+", metavar="FILE", help="a workflow file (*.yaml, *.yml, *.lanes)")
    p.add_argument("--format", choices=("human", "json"), default="human", help="output format")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imported here: every `lanes` command parses all subcommands, so they start light
    import lanes.api as api
    from lanes.render import print_diagnostics
    status = 0
    diagnostics: list[Diagnostic] = []
    sources: dict[str, str] = {}
    for path in args.files:
        comp = api.check(path)
        if comp.loaded.unreadable:
            print(f"lanes: {comp.loaded.unreadable}", file=sys.stderr)
            status = 2
            continue
        diagnostics += comp.diagnostics
        sources.update(comp.sources)
        if comp.has_errors:
            status = max(status, 1)
        elif args.format == "human" and not comp.diagnostics and comp.model is not None:
            m = comp.model
            tasks = sum(n.is_task for n in m.nodes)
            print(f"{path}: ok ({tasks} task{'s' * (tasks != 1)}, {len(m.nodes) - tasks} gate"
                  f"{'s' * (len(m.nodes) - tasks != 1)}, {len(m.agents)} agent{'s' * (len(m.agents) != 1)})")
    if args.format == "json":
        print_diagnostics(diagnostics, sources, sys.stdout, "json")
    elif diagnostics:
        print_diagnostics(diagnostics, sources, sys.stdout, summary=True)
    return status
