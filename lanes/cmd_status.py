"""`lanes status [RUN_ID]`, `lanes logs [RUN_ID] NODE`, `lanes approve|reject RUN_ID GATE`."""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys

from lanes.state import add_state, open_store, pick_run


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("status", help="the state of a run (default: the latest)")
    s.add_argument("run_id", nargs="?", metavar="RUN_ID")
    s.add_argument("--format", choices=("human", "json"), default="human")
    add_state(s)
    s.set_defaults(func=status)
    lg = sub.add_parser("logs", help="print the log of a node (default run: the latest)")
    lg.add_argument("ids", nargs="+", metavar="[RUN_ID] NODE")
    lg.add_argument("--attempt", type=int, metavar="N", help="only attempt N")
    lg.add_argument("--raw", action="store_true", help="a coding agent's output as it printed it")
    add_state(lg)
    lg.set_defaults(func=logs)
    for name, verb in (("approve", "approve"), ("reject", "reject")):
        a = sub.add_parser(name, help=f"{verb} a gate that waits for a person")
        a.add_argument("run_id", metavar="RUN_ID")
        a.add_argument("gate", metavar="GATE")
        a.add_argument("--by", metavar="NAME", help="who decides (default: the user name)")
        a.add_argument("--note", metavar="TEXT", help="why")
        add_state(a)
        a.set_defaults(func=approve if name == "approve" else reject)


def _clock(iso_time: object) -> str:
    return str(iso_time)[11:19] if iso_time else "-"


def status(args: argparse.Namespace) -> int:
    from lanes.runtime.report import run_report
    store = open_store(args)
    if store is None:
        return 1
    run_id = pick_run(store, args.run_id)
    if run_id is None:
        return 1
    data = run_report(store, run_id)
    if args.format == "json":
        print(json.dumps(data, indent=2))
        return 0
    print(f"run {run_id}  workflow {data['workflow']}  {data['state']}  started {data['started_at']}")
    width = max([len(n) for n in data["tasks"]] + [4])
    print(f"  {'state':<11}  {'node':<{width}}  {'agent':<14}  attempts  started   completed")
    for nid, t in data["tasks"].items():
        extra = ""
        if t.get("decision"):
            d = t["decision"]
            extra = f"  {d['decision']}" + (f" by {d['by']}" if d.get("by") else "") + \
                (f": {d['note']}" if d.get("note") else "")
        elif t.get("error") and t["status"] != "succeeded":
            extra = f"  ({t['error']})"
        if "changed_paths" in t:
            extra += f"  {t['changed_paths']} changed path{'s' if t['changed_paths'] != 1 else ''}"
        print(f"  {t['status']:<11}  {nid:<{width}}  {t['agent'] or '(gate)':<14}  {t['attempts']:>8}  "
              f"{_clock(t['started_at']):<8}  {_clock(t['completed_at'])}{extra}")
    for rb in data["rollbacks"]:
        code = "-" if rb["exit_code"] is None else rb["exit_code"]
        print(f"  rollback of {rb['node']} (gate {rb['gate']}): {rb['status']}, exit {code}: "
              f"{rb['command']}  log {rb['log']}")
    print("  " + ", ".join(f"{k} {v}" for k, v in data["counts"].items() if v))
    if data["costs"]["total_usd"]:
        print(f"  cost ${data['costs']['total_usd']:.4f}: "
              + ", ".join(f"{a} ${c:.4f}" for a, c in data["costs"]["by_agent"].items()))
    return 0


def _split_ids(args: argparse.Namespace) -> tuple[str | None, str] | None:
    if len(args.ids) > 2:
        print("lanes: logs takes [RUN_ID] NODE", file=sys.stderr)
        return None
    return (args.ids[0], args.ids[1]) if len(args.ids) == 2 else (None, args.ids[0])


def logs(args: argparse.Namespace) -> int:
    from lanes.runtime.report import log_sections
    from lanes.runtime.store import StoreError, did_you_mean
    ids = _split_ids(args)
    store = open_store(args)
    if ids is None or store is None:
        return 1 if store is None else 2
    run_id = pick_run(store, ids[0])
    if run_id is None:
        return 1
    node = ids[1]
    nodes = store.nodes(run_id)
    if node not in nodes:
        print(f"lanes: run {run_id} has no node '{node}'{did_you_mean(node, nodes)}", file=sys.stderr)
        return 1
    try:
        sections = log_sections(store, run_id, node, raw=args.raw)
    except StoreError as exc:
        print(f"lanes: {exc}", file=sys.stderr)
        return 1
    if args.attempt is not None:
        sections = [s for s in sections if s.attempt == args.attempt]
        if not sections:
            print(f"lanes: {node} has no attempt {args.attempt} in run {run_id}", file=sys.stderr)
            return 1
    if not sections:
        print(f"lanes: {node} has not run yet", file=sys.stderr)
        return 1
    out = sys.stdout.buffer
    sys.stdout.flush()
    for s in sections:           # headers as `tail` prints them: only when there are several
        if len(sections) > 1:
            out.write(s.header.encode() + b"\n")
        out.write(s.text)
        if s.text and not s.text.endswith(b"\n"):
            out.write(b"\n")
    out.flush()
    return 0


def _decide(args: argparse.Namespace, decision: str) -> int:
    from lanes.runtime.store import StoreError
    store = open_store(args)
    if store is None or pick_run(store, args.run_id) is None:
        return 1
    by = args.by or os.environ.get("LANES_USER") or _user()
    try:
        store.decide(args.run_id, args.gate, decision, by, args.note)
    except StoreError as exc:
        print(f"lanes: {exc}", file=sys.stderr)
        return 1
    print(f"{decision} {args.gate} in run {args.run_id} (by {by})")
    return 0


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def approve(args: argparse.Namespace) -> int:
    return _decide(args, "approved")


def reject(args: argparse.Namespace) -> int:
    return _decide(args, "rejected")


