"""`lanes init [--form yaml|lanes] [-o FILE]`: a commented starter workflow.

The starter declares what a real workflow has (domains, agents with skills, tasks with
needs, a gate that rolls back) and checks clean: no error, no warning. It is created,
never replaced: an existing file (or anything else at that path) is left alone, exit 2.
"""
from __future__ import annotations

import argparse
import os
import sys

DEFAULT_FILE = {"yaml": "lanes.yaml", "lanes": "workflow.lanes"}

YAML_STARTER = """\
# A lanes workflow: agents work in parallel, each in its own domain, and `lanes check`
# proves before anything runs that tasks which may run at the same time never write the
# same file. Check it with `lanes check lanes.yaml`, draw it with `lanes graph`, run it
# with `lanes run`. Every field: `lanes schema workflow`.
workflow: starter
description: Build a small feature in two parallel lanes, tested before the docs

defaults:                       # for every task and gate unless it says otherwise
  timeout: 10m                  # durations: 90, 90s, 5m, 1h30m, 250ms
  retries: 1

# Domains: what each lane may write (exclusive) and read (shared). Patterns are globs
# relative to this file's directory: `src/**` is everything under src/.
domains:
  core: {writes: ["src/core/**"]}
  cli: {writes: ["src/cli/**"], reads: ["README.md"]}
  docs: {writes: ["docs/**"], reads: ["src/**"]}

# Agents: worker lanes. An agent runs one task at a time in its domain.
agents:
  engineer: {domain: core, skills: [python]}
  toolsmith: {domain: cli, skills: [python, cli]}
  writer: {domain: docs, skills: [docs]}

# Tasks: a command each, by an agent (`agent:`) or by skills (`requires:`); `needs` orders them.
tasks:
  core:
    agent: engineer
    # quoted: in plain YAML, ': ' would start a mapping and ' #' a comment
    run: 'mkdir -p src/core && echo "def add(a, b): return a + b" > src/core/calc.py'
    rollback: rm -f src/core/calc.py      # what a failed gate undoes
    estimate: 2m
  cli:
    requires: [cli]                       # routed: the agent with every listed skill
    run: mkdir -p src/cli && echo "print('hello')" > src/cli/main.py
    rollback: rm -f src/cli/main.py
    estimate: 2m
  docs:
    agent: writer
    needs: [integration]                  # only after the gate has passed
    run: 'mkdir -p docs && echo "# Starter" > docs/index.md'

# Gates: checkpoints. This one waits for both lanes and rolls them back if it fails.
gates:
  integration:
    needs: [core, cli]
    run: test -f src/core/calc.py && test -f src/cli/main.py
    on_fail: rollback                     # stop (default) | rollback | continue
"""

LANES_STARTER = """\
# A lanes workflow: agents work in parallel, each in its own domain, and `lanes check`
# proves before anything runs that tasks which may run at the same time never write the
# same file. Check it with `lanes check workflow.lanes`, draw it with `lanes graph`, run
# it with `lanes run`. `lanes fmt workflow.lanes --to yaml` shows the same in YAML.
workflow starter "Build a small feature in two parallel lanes, tested before the docs"

# for every task and gate unless it says otherwise (durations: 90, 90s, 5m, 1h30m, 250ms)
defaults { timeout 10m; retries 1 }

# Domains: what each lane may write (exclusive) and read (shared). Patterns are globs
# relative to this file's directory: "src/**" is everything under src/.
domain core { writes "src/core/**" }
domain cli { writes "src/cli/**"; reads "README.md" }
domain docs { writes "docs/**"; reads "src/**" }

# Agents: worker lanes. An agent runs one task at a time in its domain.
agent engineer { domain core; skills python }
agent toolsmith { domain cli; skills python, cli }
agent writer { domain docs; skills docs }

# Tasks: a command each, by an agent (`by`) or by skills (`requires`); `needs` orders them.
# `rollback` is what a failed gate undoes.
task core by engineer {
  run "mkdir -p src/core && echo \\"def add(a, b): return a + b\\" > src/core/calc.py"
  rollback "rm -f src/core/calc.py"
  estimate 2m
}
task cli requires cli {
  run "mkdir -p src/cli && echo \\"print('hello')\\" > src/cli/main.py"
  rollback "rm -f src/cli/main.py"
  estimate 2m
}
# only after the gate has passed
task docs by writer needs integration { run "mkdir -p docs && echo \\"# Starter\\" > docs/index.md" }

# Gates: checkpoints. This one waits for both lanes and rolls them back if it fails
# (on_fail: stop, the default, rollback or continue).
gate integration needs core, cli {
  run "test -f src/core/calc.py && test -f src/cli/main.py"
  on_fail rollback
}
"""

STARTERS = {"yaml": YAML_STARTER, "lanes": LANES_STARTER}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("init", help="write a commented starter workflow (never over an existing file)")
    p.add_argument("--form", choices=("yaml", "lanes"), help="the form to write (default: from -o's name, else yaml)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="the file to create (default: lanes.yaml, or workflow.lanes with --form lanes)")
    p.set_defaults(func=run)


def form_for(path: str | None, form: str | None) -> str:
    if form is not None:
        return form
    return "lanes" if path is not None and path.lower().endswith(".lanes") else "yaml"


def run(args: argparse.Namespace) -> int:
    form = form_for(args.output, args.form)
    path = args.output or DEFAULT_FILE[form]
    text = STARTERS[form].replace(f" {DEFAULT_FILE[form]}", f" {path}")     # the comments name the file
    try:
        # O_EXCL: created here or not at all, also when a link or a directory is in the way
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        print(f"lanes init: {path} already exists; not replaced (choose another name with -o)", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"lanes init: cannot create {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {path} ({form} form); next: lanes check {path}")
    return 0
