"""`lanes work [RUN_ID] [--agent A] [--worker NAME] [--lease 5m]`: a pull-mode worker (SPEC
section 9). Exit 0 when the run finished and succeeded, 1 when it failed, 128 + the
signal when one stopped the worker (its node is given back)."""
from __future__ import annotations

import argparse
import sys
import time

from lanes.cmd_pull import _lease
from lanes.state import add_state, open_store, pick_run


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    w = sub.add_parser("work", help="serve a pull-mode run: claim, run, complete, until it is finished")
    w.add_argument("run_id", nargs="?", metavar="RUN_ID", help="default: the latest unfinished run")
    w.add_argument("--agent", metavar="A", help="only this agent's tasks")
    w.add_argument("--worker", metavar="NAME", help="who holds the leases (default: host:pid)")
    w.add_argument("--lease", type=_lease, default="5m", metavar="DURATION", help="lease length (default 5m)")
    add_state(w)
    w.set_defaults(func=work)


def work(args: argparse.Namespace) -> int:
    from lanes.enforce import allowed_by
    from lanes.runtime.pull import PullError
    from lanes.runtime.store import StoreError
    from lanes.runtime.work import Worker
    store = open_store(args)
    if store is None:
        return 1
    run_id = pick_run(store, args.run_id, unfinished=True)
    if run_id is None:
        return 1

    def say(text: str) -> None:
        print(time.strftime("[%H:%M:%S] ") + text, flush=True)

    worker = Worker(store, run_id, args.agent, args.worker, args.lease, allowed_by, say)
    try:
        tally = worker.serve()
    except PullError as exc:
        print(f"lanes: {exc}", file=sys.stderr)
        return 1
    except StoreError as exc:
        print(f"lanes: run {run_id}: the state store failed: {exc}", file=sys.stderr)
        return 1
    if tally.signal is not None:
        print(f"lanes: worker stopped; its node was given back to run {run_id}", file=sys.stderr)
        return 128 + tally.signal
    print(f"run {run_id} {tally.run_status}: this worker ran {tally.ran} node(s), {tally.failed} failed")
    return 0 if tally.run_status == "succeeded" else 1
