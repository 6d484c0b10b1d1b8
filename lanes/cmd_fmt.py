"""`lanes fmt FILE... [--to yaml|lanes] [-o OUT | -i] [--check] [--diff]`: print a workflow
canonically, in either form, or tell whether files are in canonical form.

Without `--to` the file keeps its own form (a canonical reformat); with it, the
workflow is converted. Every comment is kept, attached to the node it precedes or
follows (dsl/comments.py). Only a file that parses and builds is written: a file with
syntax or structure errors (E1xx) is reported, not guessed at. `--check` prints
nothing and exits 1 when a file is not in canonical form; `--diff` shows what the
formatter would change (unified diff); neither writes anything. `-i` rewrites each
file in place, atomically, and only when it changes. Never runs anything.

Before anything is printed or written, the result is read back: it must build the same
workflow and hold the same comments (as a multiset of texts); otherwise the file is
refused (exit 2, at the place of a comment that would be lost), never silently changed.
"""
from __future__ import annotations

import argparse
import difflib
import os
import stat
import sys
import tempfile
from typing import NamedTuple

from lanes.output import emit


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("fmt", help="print a workflow canonically, or convert it between the two forms")
    p.add_argument("files", nargs="+", metavar="FILE", help="workflow files (*.yaml, *.yml, *.lanes)")
    p.add_argument("--to", choices=("yaml", "lanes"), help="the form to write (default: the file's own)")
    p.add_argument("-o", "--output", metavar="OUT", help="write here (default: standard output)")
    p.add_argument("-i", "--in-place", action="store_true",
                   help="rewrite each file in place (atomically; a file that does not parse is left as it is)")
    p.add_argument("--check", action="store_true", help="exit 1 when a file is not in canonical form")
    p.add_argument("--diff", action="store_true", help="show what would change, as a unified diff")
    p.set_defaults(func=run)


class _Formatted(NamedTuple):
    status: int                 # 0, 1 (the file has errors), 2 (unreadable, or refused)
    old: str | None             # the file's text
    new: str | None             # its canonical form, comments included
    form: str | None            # the file's own form


def _refuse(path: str, line: int, column: int, why: str) -> None:
    from lanes.render import safe
    print(f"{safe(path)}:{line}:{column}: error: {safe(why)}; nothing written", file=sys.stderr)


def _canonical(path: str, to: str | None) -> _Formatted:
    """The file's text and its canonical form, with problems printed."""
    from lanes import api
    from lanes.dsl.fmt import Refusal, reformat
    from lanes.dsl.loader import form_of
    from lanes.inputs import print_unreadable
    from lanes.render import print_diagnostics
    loaded = api.load(path)
    source = loaded.source
    if loaded.unreadable or source is None:       # a file that could not be read has no source
        print_unreadable(path, loaded.unreadable or "cannot read")
        return _Formatted(2, None, None, None)
    if loaded.has_errors or loaded.workflow is None:
        print_diagnostics(loaded.diagnostics, {loaded.path: source.text}, sys.stderr, summary=True)
        return _Formatted(1, source.text, None, None)
    own = form_of(loaded.path, source.text)
    text = reformat(source.text, loaded.path, loaded.workflow, own, to or own)
    if isinstance(text, Refusal):
        _refuse(path, text.line, text.column, text.why)
        return _Formatted(2, source.text, None, own)
    return _Formatted(0, source.text, text, own)


def _in_place(path: str, text: str) -> int:
    """Replace the file with `text` atomically: a temporary file beside it (the target of a
    symbolic link: the link stays), its permission bits, flushed to disk, then renamed over it."""
    from lanes.render import safe
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
        if not stat.S_ISREG(st.st_mode):
            print(f"lanes: refusing to rewrite {safe(path)}: not a regular file", file=sys.stderr)
            return 2
        fd, tmp = tempfile.mkstemp(prefix=".lanes-fmt-", dir=os.path.dirname(real))
    except OSError as exc:
        print(f"lanes: cannot write {safe(path)}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
        try:
            os.fchown(fd, st.st_uid, st.st_gid)   # only root may give a file away; others keep theirs
        except OSError:
            pass
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, real)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        print(f"lanes: cannot write {safe(path)}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:                              # the rename itself survives a crash once the directory is synced
        dfd = os.open(os.path.dirname(real), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return 0


def _usage(args: argparse.Namespace) -> str | None:
    if args.in_place and args.output:
        return "-i rewrites each file in place: no -o with it"
    if args.in_place and (args.check or args.diff):
        return "--check and --diff write nothing: no -i with them"
    if args.output and (args.check or args.diff):
        return "--check and --diff write nothing: no -o with them"
    if len(args.files) > 1 and not (args.check or args.diff or args.in_place):
        return "fmt prints one file; several only with -i, --check or --diff"
    return None


def run(args: argparse.Namespace) -> int:
    problem = _usage(args)
    if problem:
        print(f"lanes: {problem}", file=sys.stderr)
        return 2
    if args.in_place:
        return max(_rewrite(path, args.to) for path in args.files)
    if not (args.check or args.diff):
        done = _canonical(args.files[0], args.to)
        return done.status if done.new is None else emit(args.output, done.new)
    worst = 0
    for path in args.files:
        done = _canonical(path, args.to)
        if done.new is None or done.old is None:
            worst = max(worst, done.status)
            continue
        if done.old != done.new:
            worst = max(worst, 1)
            if args.diff:
                sys.stdout.writelines(difflib.unified_diff(done.old.splitlines(keepends=True),
                                                           done.new.splitlines(keepends=True),
                                                           f"{path}", f"{path} (lanes fmt)"))
    return worst


def _rewrite(path: str, to: str | None) -> int:
    """One file of `-i`: untouched unless it parses, builds and reads back; written only when
    its canonical form differs. The form is the file's own (its name says it): `--to` another
    form is refused, since the file would keep a name that says otherwise."""
    done = _canonical(path, None)
    if done.new is None or done.old is None:
        return 2                      # did not parse or build, or refused: left as it is
    if to is not None and to != done.form:
        from lanes.render import safe
        print(f"lanes: refusing to convert {safe(path)} in place to the {to} form (it is in the {done.form} "
              f"form); write the conversion elsewhere with --to {to} -o FILE", file=sys.stderr)
        return 2
    return 0 if done.new == done.old else _in_place(path, done.new)
