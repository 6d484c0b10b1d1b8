"""`lanes fmt FILE [--to yaml|lanes] [-o OUT]`: print a workflow canonically, in either form.

Without `--to` the file keeps its own form (a canonical reformat); with it, the
workflow is converted. Only a file that parses and builds is written: a file with
syntax or structure errors (E1xx) is reported, not guessed at. Never runs anything.
"""
from __future__ import annotations

import argparse
import sys

from lanes.output import emit


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("fmt", help="print a workflow canonically, or convert it between the two forms")
    p.add_argument("file", metavar="FILE", help="a workflow file (*.yaml, *.yml, *.lanes)")
    p.add_argument("--to", choices=("yaml", "lanes"), help="the form to write (default: the file's own)")
    p.add_argument("-o", "--output", metavar="OUT", help="write here (default: standard output)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imported here: every `lanes` command parses all subcommands, so they start light
    from lanes import api
    from lanes.dsl.fmt import to_lanes, to_yaml
    from lanes.dsl.loader import form_of
    from lanes.inputs import print_unreadable
    from lanes.render import print_diagnostics
    loaded = api.load(args.file)
    source = loaded.source
    if loaded.unreadable or source is None:       # a file that could not be read has no source
        print_unreadable(args.file, loaded.unreadable or "cannot read")
        return 2
    if loaded.has_errors or loaded.workflow is None:
        print_diagnostics(loaded.diagnostics, {loaded.path: source.text}, sys.stderr, summary=True)
        return 1
    form = args.to or form_of(loaded.path, source.text)
    return emit(args.output, (to_yaml if form == "yaml" else to_lanes)(loaded.workflow))
