"""`lanes diff [RUN_ID] [TASK]`, `lanes land [RUN_ID] [--into BRANCH]`, `lanes clean RUN_ID`:
the git side of a worktree run (SPEC section 8)."""
from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from lanes.state import add_state, open_store, pick_run

if TYPE_CHECKING:
    import sqlite3

    from lanes.runtime.store import Store
    from lanes.runtime.workspace import Workspaces


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser("diff", help="the change of a worktree run, or of one of its tasks (git diff)")
    d.add_argument("ids", nargs="*", metavar="[RUN_ID] [TASK]")
    add_state(d)
    d.set_defaults(func=diff)
    la = sub.add_parser("land", help="bring a finished worktree run's branch into yours")
    la.add_argument("run_id", nargs="?", metavar="RUN_ID", help="default: the latest run")
    la.add_argument("--into", metavar="BRANCH", help="default: the branch checked out")
    add_state(la)
    la.set_defaults(func=land)
    c = sub.add_parser("clean", help="remove what a worktree run left (worktrees, task branches)")
    c.add_argument("run_id", metavar="RUN_ID")
    add_state(c)
    c.set_defaults(func=clean)


def _workspaces(args: argparse.Namespace, run_id: str | None) -> tuple[Store, sqlite3.Row, Workspaces] | None:
    """(store, run row, Workspaces) of a worktree run, or None after saying why."""
    from lanes.runtime.workspace import WorkspaceError, Workspaces
    store = open_store(args)
    if store is None:
        return None
    rid = pick_run(store, run_id)
    if rid is None:
        return None
    row = store.run(rid)
    plan = json.loads(row["plan_json"])
    if not any(n.get("workspace") == "worktree" for n in plan["nodes"]):
        print(f"lanes: run {rid} is not a worktree run (workspace: shared): it has no branch", file=sys.stderr)
        return None
    try:
        return store, row, Workspaces(plan["workdir"], store.run_dir(rid), rid)
    except WorkspaceError as exc:
        print(f"lanes: {exc}", file=sys.stderr)
        return None


def diff(args: argparse.Namespace) -> int:
    from lanes.runtime.workspace import WorkspaceError
    if len(args.ids) > 2:
        print("lanes: diff takes [RUN_ID] [TASK]", file=sys.stderr)
        return 2
    run_id, task = (args.ids + [None, None])[:2]
    if len(args.ids) == 1:              # a run id, or a task of the latest run
        store = open_store(args)
        if store is None:
            return 1
        if not store.has_run(args.ids[0]):
            run_id, task = None, args.ids[0]
    found = _workspaces(args, run_id)
    if found is None:
        return 1
    store, row, ws = found
    if task is not None and task not in store.nodes(row["run_id"]):
        print(f"lanes: run {row['run_id']} has no task '{task}'", file=sys.stderr)
        return 1
    try:
        sys.stdout.write(ws.diff(task))
    except WorkspaceError as exc:
        print(f"lanes: {exc}", file=sys.stderr)
        return 1
    return 0


def _busy(row: sqlite3.Row) -> str | None:
    from lanes.runtime.run import runtime_alive
    if row["status"] == "running" and (row["mode"] == "pull" or runtime_alive(row)):
        return f"run {row['run_id']} is still running"
    return None


def land(args: argparse.Namespace) -> int:
    from lanes.runtime.workspace import WorkspaceError
    found = _workspaces(args, args.run_id)
    if found is None:
        return 1
    _, row, ws = found
    if row["status"] != "succeeded":
        why = _busy(row) or f"run {row['run_id']} {row['status']}"
        print(f"lanes: {why}: only a run that succeeded is landed (its branch {ws.branch} stays for "
              "inspection: lanes diff)", file=sys.stderr)
        return 1
    try:
        commit = ws.land(args.into)
    except WorkspaceError as exc:
        print(f"lanes: {exc}", file=sys.stderr)
        return 1
    print(f"landed {ws.branch} into {args.into or 'the current branch'} at {commit[:12]}")
    return 0


def clean(args: argparse.Namespace) -> int:
    from lanes.runtime.workspace import WorkspaceError
    found = _workspaces(args, args.run_id)
    if found is None:
        return 1
    _, row, ws = found
    busy = _busy(row)
    if busy:
        print(f"lanes: {busy}; clean it once it has finished", file=sys.stderr)
        return 1
    try:
        ws.clean()
    except WorkspaceError as exc:
        print(f"lanes: {exc}", file=sys.stderr)
        return 1
    print(f"cleaned run {row['run_id']}: its worktrees and task branches are gone; {ws.branch} stays")
    return 0
