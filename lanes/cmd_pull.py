"""Pull mode (SPEC section 7): `lanes open`, `lanes claim`, `lanes heartbeat`, `lanes complete`.

Answers are one JSON object on stdout; a refusal (unknown run or node, stale
token, expired lease) is a message on stderr with exit status 1 and changes nothing.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
import json
import sys

from lanes.runtime.store import Store, StoreError
from lanes.state import add_state, open_store

MAX_LEASE_S = 366 * 86400


def _lease(text: str) -> float:
    from lanes.dsl.durations import parse_duration
    seconds = parse_duration(text)
    if seconds is None or seconds <= 0:
        raise argparse.ArgumentTypeError(f"not a duration: '{text}' (like 90s, 5m, 1h)")
    if seconds > MAX_LEASE_S:
        raise argparse.ArgumentTypeError(f"'{text}' is longer than a year; a lease is renewed with "
                                         "`lanes heartbeat`, so give the time one step may take")
    return float(seconds)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    o = sub.add_parser("open", help="create a run whose nodes agents claim (pull mode)")
    o.add_argument("file", metavar="FILE|plan.json")
    o.add_argument("--run-id", metavar="ID")
    o.add_argument("--keep-going", action="store_true",
                   help="after a failure, keep handing out what does not depend on it")
    add_state(o)
    o.set_defaults(func=open_cmd)

    c = sub.add_parser("claim", help="take the next ready node of a pull-mode run (JSON)")
    c.add_argument("run_id", metavar="RUN_ID")
    c.add_argument("--agent", metavar="A", help="only this agent's tasks (its lane is respected)")
    c.add_argument("--worker", metavar="NAME", help="who holds the lease (default: the host name)")
    c.add_argument("--lease", type=_lease, default="5m", metavar="DURATION", help="lease length (default 5m)")
    add_state(c)
    c.set_defaults(func=claim_cmd)

    h = sub.add_parser("heartbeat", help="extend the lease on a claimed node")
    h.add_argument("run_id", metavar="RUN_ID")
    h.add_argument("node", metavar="NODE")
    h.add_argument("--token", required=True, metavar="T")
    h.add_argument("--lease", type=_lease, default="5m", metavar="DURATION", help="new lease length from now")
    add_state(h)
    h.set_defaults(func=heartbeat_cmd)

    d = sub.add_parser("complete", help="record the outcome of a claimed node")
    d.add_argument("run_id", metavar="RUN_ID")
    d.add_argument("node", metavar="NODE")
    d.add_argument("--token", required=True, metavar="T")
    d.add_argument("--failed", action="store_true", help="the attempt failed (downstream is skipped)")
    add_state(d)
    d.set_defaults(func=complete_cmd)


def _answer(operation: Callable[[], object]) -> int:
    try:
        answer = operation()
    except StoreError as exc:
        print(f"lanes: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(answer), flush=True)
    return 0


def open_cmd(args: argparse.Namespace) -> int:
    from lanes.cmd_run import briefs_written, create_run
    from lanes.runtime.run import Options
    opened = create_run(args, "pull", Options(keep_going=args.keep_going))
    if isinstance(opened, int):
        return opened
    r, briefs = opened
    if not briefs_written(r, briefs):
        return 1
    print(f"claim its nodes with: lanes claim {r.run_id}" +
          (f" --state {r.store.dir}" if args.state else ""), file=sys.stderr)
    return 0


def _with_store(args: argparse.Namespace, op: Callable[[Store], object]) -> int:
    """(claims and completes of a worktree run enforce the tasks' writes: lanes.enforce)"""
    store = open_store(args)
    if store is None:
        return 1
    return _answer(lambda: op(store))


def claim_cmd(args: argparse.Namespace) -> int:
    from lanes.enforce import allowed_by
    from lanes.runtime.pull import claim
    return _with_store(args, lambda s: claim(s, args.run_id, agent=args.agent, worker=args.worker,
                                             lease_s=args.lease, allowed=allowed_by))


def heartbeat_cmd(args: argparse.Namespace) -> int:
    from lanes.runtime.pull import heartbeat
    return _with_store(args, lambda s: heartbeat(s, args.run_id, args.node, args.token, lease_s=args.lease))


def complete_cmd(args: argparse.Namespace) -> int:
    from lanes.enforce import allowed_by
    from lanes.runtime.pull import complete
    return _with_store(args, lambda s: complete(s, args.run_id, args.node, args.token, failed=args.failed,
                                                allowed=allowed_by))
