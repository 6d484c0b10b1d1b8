"""Resume after a crash or a stop: is the run's runtime still alive, and what a dead
one left behind (process groups to end, nodes to keep or rerun)."""
from __future__ import annotations

import os

from lanes.compiler.planfile import Plan
from lanes.runtime.local import group_alive, kill_group, orphan_groups
from lanes.runtime.scheduler import CANCELLED, PENDING, RUNNING, SUCCEEDED
from lanes.runtime.store import Store, change, process_start


def runtime_alive(run_row) -> bool:
    """Is the runtime that owns this run still running (the same process: pid and start time)?"""
    pid = run_row["pid"]
    if not pid or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    start = process_start(pid)
    recorded = run_row["pid_start"] if "pid_start" in run_row.keys() else None
    if start is None:                          # no /proc: trust the pid
        return True
    if recorded is not None and start != recorded:
        return False                           # the pid now belongs to another process
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def prepare_resume(store: Store, run_id: str, plan: Plan, grace_s: float = 5.0) -> dict[str, str]:
    """End the process groups a dead runtime left, keep what succeeded (unless its digest
    changed, then it and its downstream rerun), reset the rest; returns the states."""
    store.ensure_nodes(run_id, plan)
    rows = store.nodes(run_id)
    gone = [nid for nid in rows if nid not in plan.node_by_id]
    if gone:
        store.forget_nodes(run_id, gone)
    groups = {r["pgid"]: nid for nid, r in rows.items() if r["status"] in (RUNNING, CANCELLED) and r["pgid"]}
    for pgid in orphan_groups(run_id):
        groups.setdefault(pgid, None)
    for pgid, nid in groups.items():
        if group_alive(pgid):
            kill_group(pgid, grace_s)
            store.event(run_id, nid, "orphan-killed", {"pgid": pgid})
    changed = {n.id for n in plan.nodes if rows[n.id]["digest"] != n.digest}
    stack = list(changed)
    while stack:
        for d in plan.dependents[stack.pop()]:
            if d not in changed:
                changed.add(d)
                stack.append(d)
    states, changes = {}, []
    for n in plan.nodes:
        keep = rows[n.id]["status"] == SUCCEEDED and n.id not in changed
        states[n.id] = SUCCEEDED if keep else PENDING
        if not keep:
            changes.append(change(n.id, PENDING, {"reason": "resume"}, status=PENDING, pgid=None,
                                  digest=n.digest, agent=n.agent, approved=0, started_at=None,
                                  completed_at=None, exit_code=None, error=None))
    store.apply(run_id, changes)
    return states
