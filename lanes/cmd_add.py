"""`lanes add [RUN_ID] FILE`: more tasks (and gates) for a run that is not finished (SPEC section 10).

FILE is a workflow file of either form. Its tasks and gates are admitted only if the
whole run with them passes every check of section 4 (compiler/plan_extend.py says
exactly how); otherwise nothing is added, exit 1, with the diagnostics and their
witnesses. The check and the insert are one exclusive transaction on the store, so
concurrent `lanes add` calls are serialised (the second is checked against the first's
nodes) and a crash leaves nothing half-added. A running `lanes run` takes the new nodes
up within ADDITIONS_POLL_S; pull-mode claimers and `lanes work` workers at their next claim.
"""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from lanes.state import add_state, open_store, pick_run

if TYPE_CHECKING:
    import sqlite3

    from lanes.dsl.diagnostics import Diagnostic
    from lanes.runtime.store import Addition


class _Refused(Exception):
    """The addition does not pass the checks: the transaction rolls back."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("refused")
        self.diagnostics = diagnostics


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("add", help="add the tasks and gates of a file to a run that is not finished")
    p.add_argument("args", nargs="+", metavar="[RUN_ID] FILE",
                   help="the run (default: the latest unfinished one) and the workflow file to add")
    p.add_argument("--format", choices=("human", "json"), default="human", help="how to print diagnostics")
    add_state(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lanes import api
    from lanes.cmd_check import unreadable_diagnostic
    from lanes.compiler.plan_extend import extend_plan
    from lanes.compiler.planfile import from_json, to_json
    from lanes.render import print_diagnostics, safe
    from lanes.runtime.store import Addition, StoreError

    if len(args.args) > 2:
        print("lanes add: expected [RUN_ID] FILE", file=sys.stderr)
        return 2
    *given, path = args.args
    loaded = api.load(path)
    if loaded.unreadable is not None:
        print_diagnostics([unreadable_diagnostic(path, loaded.unreadable)], {}, sys.stdout, args.format,
                          summary=True)
        return 2
    sources = {loaded.source.path: loaded.source.text} if loaded.source is not None else {}
    workflow, source = loaded.workflow, loaded.source
    if workflow is None or source is None or any(d.is_error for d in loaded.diagnostics):
        print_diagnostics(list(loaded.diagnostics), sources, sys.stdout, args.format, summary=True)
        return 1
    store = open_store(args)
    if store is None:
        return 2
    run_id = pick_run(store, given[0] if given else None, unfinished=True)
    if run_id is None:
        return 2
    warnings: list[Diagnostic] = list(loaded.diagnostics)

    def extend(row: sqlite3.Row, nodes: dict[str, sqlite3.Row]) -> Addition:
        plan = from_json(str(row["plan_json"]))
        succeeded = {nid for nid, r in nodes.items() if r["status"] == "succeeded"}
        extended, diags = extend_plan(plan, workflow, source, succeeded, run_id)
        if extended is None:
            raise _Refused([*loaded.diagnostics, *diags])
        warnings.extend(diags)
        ids = frozenset(extended.node_by_id) - frozenset(plan.node_by_id)
        return Addition(extended, to_json(extended), ids, source.path)

    try:
        added = store.add_nodes(run_id, extend)
    except _Refused as exc:
        print_diagnostics(exc.diagnostics, sources, sys.stdout, args.format, summary=True)
        print(f"lanes add: nothing added to run {run_id}", file=sys.stderr)
        return 1
    except StoreError as exc:
        print(f"lanes add: {exc}", file=sys.stderr)
        return 1
    if warnings or args.format != "human":
        print_diagnostics(warnings, sources, sys.stdout, args.format, summary=True)
    ids = [n.id for n in added.plan.nodes if n.id in added.ids]
    print(f"added {len(ids)} node{'s' * (len(ids) != 1)} to run {run_id}: " + ", ".join(safe(i) for i in ids),
          file=sys.stderr if args.format != "human" else sys.stdout)
    return 0
