"""`lanes fmt FILE --to yaml|lanes [-o OUT]`: convert a workflow between the two forms."""
from __future__ import annotations

import sys

import lanes.api as api
from lanes.cmd_plan import write_atomically
from lanes.dsl.fmt import to_lanes, to_yaml
from lanes.render import print_diagnostics


def register(sub) -> None:
    p = sub.add_parser("fmt", help="convert a workflow to the YAML or the grammar form")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--to", choices=("yaml", "lanes"), required=True, help="the form to write")
    p.add_argument("-o", "--output", metavar="OUT", help="write here (default: stdout)")
    p.set_defaults(func=run)


def run(args) -> int:
    loaded = api.load(args.file)
    if loaded.unreadable:
        print(f"lanes: {loaded.unreadable}", file=sys.stderr)
        return 2
    if loaded.has_errors or loaded.workflow is None:
        # only what the file says is converted: a file that does not parse is not guessed at
        print_diagnostics(loaded.diagnostics, {loaded.path: loaded.source.text}, sys.stderr, summary=True)
        return 1
    text = (to_yaml if args.to == "yaml" else to_lanes)(loaded.workflow)
    if args.output:
        try:
            write_atomically(args.output, text)
        except OSError as exc:
            print(f"lanes: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    else:
        sys.stdout.write(text)
    return 0
