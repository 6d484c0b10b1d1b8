"""`lanes brief FILE [AGENT] [-o DIR] [--template FILE]`: one Markdown brief per agent.

Unlike `graph` and `report`, a workflow with errors gets no briefs: a brief tells
an agent that its domain was proved safe, which is then not true. Without `-o`
the briefs go to stdout; with it, each to DIR/AGENT.md.
"""
from __future__ import annotations

import argparse
import os
import re
import sys

from lanes.inputs import read_input
from lanes.output import emit

# an agent id becomes a file name: a hand-written plan.json could hold "../x"
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("brief", help="write each agent's Markdown brief")
    p.add_argument("file", metavar="FILE", help="a workflow file or a plan.json")
    p.add_argument("agent", nargs="?", metavar="AGENT", help="only this agent (default: every agent)")
    p.add_argument("-o", "--output", metavar="DIR", help="write DIR/AGENT.md for each agent (default: stdout)")
    p.add_argument("--template", metavar="FILE",
                   help="a jinja2 template of your own (rendered in a sandbox)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imported here: every `lanes` command parses all subcommands, so they start light
    from lanes.compiler.brief import BriefError, render_brief, render_briefs
    from lanes.output import write_stdout
    from lanes.render import safe
    if args.template:
        from lanes.dsl.source import read_regular
        found, problem = read_regular(args.template, 0)
        if found is None:
            why = (problem or "").removeprefix(f"{args.template}: ")
            print(f"lanes: {safe(args.template)}: no such template file" if why == "no such file" else
                  f"lanes: template {safe(args.template)}: {safe(why)}", file=sys.stderr)
            return 2
    inp = read_input(args.file)
    if inp.plan is None:
        return inp.status
    try:
        if args.agent is not None:
            briefs = {args.agent: render_brief(inp.plan, args.agent, args.template)}
        else:
            briefs = render_briefs(inp.plan, args.template)
    except BriefError as exc:
        print(f"lanes: {safe(str(exc))}", file=sys.stderr)
        return 1
    if not args.output:
        write_stdout("\n".join(briefs.values()))
        return 0
    bad = [a for a in briefs if not _FILE_NAME.match(a)]
    if bad:
        print(f"lanes: agent id {bad[0]!r} cannot be a file name; print its brief without -o",
              file=sys.stderr)
        return 2
    try:
        os.makedirs(args.output, exist_ok=True)
    except OSError as exc:
        print(f"lanes: cannot create {safe(args.output)}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for agent, text in briefs.items():
        path = os.path.join(args.output, f"{agent}.md")
        status = emit(path, text)
        if status:
            return status
        print(safe(path))
    return 0
