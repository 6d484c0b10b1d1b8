"""`lanes plan FILE [-o plan.json]`: the deterministic execution plan (SPEC section 5)."""
from __future__ import annotations

import os
import sys
import tempfile


def register(sub) -> None:
    p = sub.add_parser("plan", help="compile a workflow to its execution plan (JSON)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("-o", "--output", metavar="OUT", help="write the plan here (default: stdout)")
    p.set_defaults(func=run)


def write_atomically(path: str, text: str) -> None:
    """Write next to the target and rename, so a reader never sees half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".lanes-", dir=directory)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)          # mkstemp makes 0600; a plan is an ordinary file
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def run(args) -> int:
    # imported here: every `lanes` command parses all subcommands, so they start light
    import lanes.api as api
    from lanes.compiler.planfile import to_json
    from lanes.render import print_diagnostics
    comp = api.compile(args.file)
    if comp.loaded.unreadable:
        print(f"lanes: {comp.loaded.unreadable}", file=sys.stderr)
        return 2
    if comp.diagnostics:
        print_diagnostics(comp.diagnostics, comp.sources, sys.stderr, summary=True)
    if comp.has_errors or comp.plan is None:
        return 1
    text = to_json(comp.plan)
    if args.output:
        try:
            write_atomically(args.output, text)
        except OSError as exc:
            print(f"lanes: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    else:
        sys.stdout.write(text)
    return 0
