"""`lanes fmt FILE... [--to yaml|lanes] [-o OUT] [--check] [--diff]`: print a workflow
canonically, in either form, or tell whether files are in canonical form.

Without `--to` the file keeps its own form (a canonical reformat); with it, the
workflow is converted. Only a file that parses and builds is written: a file with
syntax or structure errors (E1xx) is reported, not guessed at. `--check` prints
nothing and exits 1 when a file is not in canonical form; `--diff` shows what the
formatter would change (unified diff); neither writes anything. Never runs anything.
(There is no `-i` yet: the formatter does not keep comments, and rewriting a user's
file in place must not lose them.)
"""
from __future__ import annotations

import argparse
import difflib
import sys

from lanes.output import emit


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("fmt", help="print a workflow canonically, or convert it between the two forms")
    p.add_argument("files", nargs="+", metavar="FILE", help="workflow files (*.yaml, *.yml, *.lanes)")
    p.add_argument("--to", choices=("yaml", "lanes"), help="the form to write (default: the file's own)")
    p.add_argument("-o", "--output", metavar="OUT", help="write here (default: standard output)")
    p.add_argument("--check", action="store_true", help="exit 1 when a file is not in canonical form")
    p.add_argument("--diff", action="store_true", help="show what would change, as a unified diff")
    p.set_defaults(func=run)


def _canonical(path: str, to: str | None) -> tuple[int, str | None, str | None]:
    """(status, the file's text, its canonical form), with problems printed."""
    from lanes import api
    from lanes.dsl.fmt import to_lanes, to_yaml
    from lanes.dsl.loader import form_of
    from lanes.inputs import print_unreadable
    from lanes.render import print_diagnostics
    loaded = api.load(path)
    source = loaded.source
    if loaded.unreadable or source is None:       # a file that could not be read has no source
        print_unreadable(path, loaded.unreadable or "cannot read")
        return 2, None, None
    if loaded.has_errors or loaded.workflow is None:
        print_diagnostics(loaded.diagnostics, {loaded.path: source.text}, sys.stderr, summary=True)
        return 1, source.text, None
    form = to or form_of(loaded.path, source.text)
    return 0, source.text, (to_yaml if form == "yaml" else to_lanes)(loaded.workflow)


def run(args: argparse.Namespace) -> int:
    if len(args.files) > 1 and not (args.check or args.diff):
        print("lanes: fmt prints one file; several only with --check or --diff", file=sys.stderr)
        return 2
    if args.output and (args.check or args.diff):
        print("lanes: --check and --diff write nothing: no -o with them", file=sys.stderr)
        return 2
    if not (args.check or args.diff):
        status, _, text = _canonical(args.files[0], args.to)
        return status if text is None else emit(args.output, text)
    worst = 0
    for path in args.files:
        status, old, new = _canonical(path, args.to)
        if new is None or old is None:
            worst = max(worst, status)
            continue
        if old != new:
            worst = max(worst, 1)
            if args.diff:
                sys.stdout.writelines(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                                           f"{path}", f"{path} (lanes fmt)"))
    return worst
