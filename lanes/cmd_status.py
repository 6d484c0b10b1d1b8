"""`lanes status [RUN_ID]`, `lanes logs RUN_ID NODE`, `lanes approve RUN_ID GATE`."""
from __future__ import annotations

import json
import os
import sys


def register(sub) -> None:
    s = sub.add_parser("status", help="the state of a run (default: the latest)")
    s.add_argument("run_id", nargs="?", metavar="RUN_ID")
    s.add_argument("--format", choices=("human", "json"), default="human")
    s.add_argument("--state", metavar="DIR", default=".lanes", help="state directory (default: .lanes)")
    s.set_defaults(func=status)
    lg = sub.add_parser("logs", help="print the log of a node")
    lg.add_argument("run_id", metavar="RUN_ID")
    lg.add_argument("node", metavar="NODE")
    lg.add_argument("--state", metavar="DIR", default=".lanes", help="state directory (default: .lanes)")
    lg.set_defaults(func=logs)
    a = sub.add_parser("approve", help="approve a gate that waits for a person")
    a.add_argument("run_id", metavar="RUN_ID")
    a.add_argument("gate", metavar="GATE")
    a.add_argument("--state", metavar="DIR", default=".lanes", help="state directory (default: .lanes)")
    a.set_defaults(func=approve)


def _open(args):
    from lanes.runtime.store import Store
    if not os.path.exists(os.path.join(args.state, "state.db")):
        print(f"lanes: no lanes state in {args.state} (use --state DIR)", file=sys.stderr)
        return None
    return Store(args.state)


def _run_row(store, run_id: str):
    from lanes.runtime.store import StoreError
    try:
        return store.run(run_id)
    except StoreError as exc:
        print(f"lanes: {exc}", file=sys.stderr)
        return None


def _clock(iso_time: str | None) -> str:
    return iso_time[11:19] if iso_time else "-"


def status(args) -> int:
    from lanes.runtime.dashboard import dashboard
    from lanes.runtime.resume import runtime_alive
    from lanes.runtime.store import iso
    store = _open(args)
    if store is None:
        return 1
    run_id = args.run_id or store.latest_run()
    if run_id is None:
        print(f"lanes: no runs in {store.dir}", file=sys.stderr)
        return 1
    row = _run_row(store, run_id)
    if row is None:
        return 1
    data = dashboard(row, store.nodes(run_id))
    if args.format == "json":
        print(json.dumps(data, indent=2))
        return 0
    state = row["status"]
    if state == "running" and row["mode"] == "run" and not runtime_alive(row):
        state = f"interrupted (its runtime is gone: lanes resume {run_id})"
    print(f"run {run_id}  workflow {row['workflow']}  {state}  started {iso(row['started_at'])}")
    width = max([len(n) for n in data["tasks"]] + [4])
    print(f"  {'state':<9}  {'node':<{width}}  {'agent':<14}  attempts  started   completed")
    for nid, t in data["tasks"].items():
        print(f"  {t['status']:<9}  {nid:<{width}}  {t['agent'] or '(gate)':<14}  {t['attempts']:>8}  "
              f"{_clock(t['started_at']):<8}  {_clock(t['completed_at'])}")
    print("  " + ", ".join(f"{k} {v}" for k, v in data["counts"].items() if v))
    return 0


def logs(args) -> int:
    from lanes.dsl.diagnostics import did_you_mean
    store = _open(args)
    if store is None or _run_row(store, args.run_id) is None:
        return 1
    nodes = store.nodes(args.run_id)
    if args.node not in nodes:
        print(f"lanes: run {args.run_id} has no node '{args.node}'{did_you_mean(args.node, nodes)}",
              file=sys.stderr)
        return 1
    path = os.path.join(store.run_dir(args.run_id), "logs", f"{args.node}.log")
    try:
        with open(path, "rb") as f:
            sys.stdout.buffer.write(f.read())
    except FileNotFoundError:               # the log is created by the first byte of output
        if nodes[args.node]["attempts"] == 0:
            print(f"lanes: {args.node} has not run yet", file=sys.stderr)
            return 1
    return 0


def approve(args) -> int:
    from lanes.runtime.store import StoreError
    store = _open(args)
    if store is None or _run_row(store, args.run_id) is None:
        return 1
    try:
        store.approve(args.run_id, args.gate)
    except StoreError as exc:
        print(f"lanes: {exc}", file=sys.stderr)
        return 1
    print(f"approved {args.gate} in run {args.run_id}")
    return 0
