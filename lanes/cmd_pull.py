"""Pull mode (SPEC section 7): `lanes open`, `lanes claim`, `lanes heartbeat`, `lanes complete`.

Answers are one JSON object on stdout; a refusal (unknown run or node, stale
token, expired lease) is a message on stderr with exit status 1 and changes nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from lanes.runtime.store import StoreError

STATE_HELP = "state directory (default: .lanes/ in the current directory)"


def _lease(text: str) -> float:
    from lanes.dsl.durations import parse_duration
    seconds = parse_duration(text)
    if seconds is None or seconds <= 0:
        raise argparse.ArgumentTypeError(f"not a duration: '{text}' (like 90s, 5m, 1h)")
    return seconds


def register(sub) -> None:
    o = sub.add_parser("open", help="create a run whose nodes agents claim (pull mode)")
    o.add_argument("file", metavar="FILE|plan.json")
    o.add_argument("--run-id", metavar="ID")
    o.add_argument("--keep-going", action="store_true",
                   help="after a failure, keep handing out what does not depend on it")
    o.add_argument("--state", metavar="DIR", default=".lanes", help=STATE_HELP)
    o.set_defaults(func=open_cmd)

    c = sub.add_parser("claim", help="take the next ready node of a pull-mode run (JSON)")
    c.add_argument("run_id", metavar="RUN_ID")
    c.add_argument("--agent", metavar="A", help="only this agent's tasks (its lane is respected)")
    c.add_argument("--worker", metavar="NAME", help="who holds the lease (default: the host name)")
    c.add_argument("--lease", type=_lease, default="5m", metavar="DURATION", help="lease length (default 5m)")
    c.add_argument("--state", metavar="DIR", default=".lanes", help=STATE_HELP)
    c.set_defaults(func=claim_cmd)

    h = sub.add_parser("heartbeat", help="extend the lease on a claimed node")
    h.add_argument("run_id", metavar="RUN_ID")
    h.add_argument("node", metavar="NODE")
    h.add_argument("--token", required=True, metavar="T")
    h.add_argument("--lease", type=_lease, default="5m", metavar="DURATION", help="new lease length from now")
    h.add_argument("--state", metavar="DIR", default=".lanes", help=STATE_HELP)
    h.set_defaults(func=heartbeat_cmd)

    d = sub.add_parser("complete", help="record the outcome of a claimed node")
    d.add_argument("run_id", metavar="RUN_ID")
    d.add_argument("node", metavar="NODE")
    d.add_argument("--token", required=True, metavar="T")
    d.add_argument("--failed", action="store_true", help="the attempt failed (downstream is skipped)")
    d.add_argument("--state", metavar="DIR", default=".lanes", help=STATE_HELP)
    d.set_defaults(func=complete_cmd)


def _existing_store(state: str):
    """The store in `state`, never created by a claim: a typo in --state is an error."""
    from lanes.runtime.store import Store
    if not os.path.exists(os.path.join(state, "state.db")):
        print(f"lanes: no lanes state in {state} (use --state DIR)", file=sys.stderr)
        return None
    return Store(state)


def _answer(operation) -> int:
    try:
        answer = operation()
    except StoreError as exc:
        print(f"lanes: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(answer), flush=True)
    return 0


def open_cmd(args) -> int:
    from lanes.cmd_run import new_run_id
    from lanes.inputs import read_input
    from lanes.runtime.pull import open_run
    from lanes.runtime.store import Store

    inp = read_input(args.file)
    if inp.plan is None:
        return inp.status
    run_id = args.run_id or new_run_id()
    try:
        open_run(Store(args.state), inp.plan, run_id, inp.source_path, keep_going=args.keep_going)
    except StoreError as exc:
        print(f"lanes: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"lanes: cannot write state in {args.state}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"run {run_id}")
    print(f"claim its nodes with: lanes claim {run_id}" +
          (f" --state {args.state}" if args.state != ".lanes" else ""), file=sys.stderr)
    return 0


def claim_cmd(args) -> int:
    from lanes.runtime.pull import claim
    store = _existing_store(args.state)
    if store is None:
        return 1
    return _answer(lambda: claim(store, args.run_id, agent=args.agent, worker=args.worker,
                                 lease_s=args.lease))


def heartbeat_cmd(args) -> int:
    from lanes.runtime.pull import heartbeat
    store = _existing_store(args.state)
    if store is None:
        return 1
    return _answer(lambda: heartbeat(store, args.run_id, args.node, args.token, lease_s=args.lease))


def complete_cmd(args) -> int:
    from lanes.runtime.pull import complete
    store = _existing_store(args.state)
    if store is None:
        return 1
    return _answer(lambda: complete(store, args.run_id, args.node, args.token, failed=args.failed))
