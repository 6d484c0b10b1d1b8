"""Pull mode: a run whose nodes lanes hands out to agents that ask, instead of running them.

A third driver of the same scheduler. Each operation (claim, heartbeat, complete)
is one BEGIN IMMEDIATE transaction on the shared SQLite store: it rebuilds the
scheduler from the rows, decides, and writes, all under the write lock, so any
number of concurrent claimers (processes, sessions, people) never get the same
node twice, and a refused operation changes nothing (the transaction rolls back).

Leases: a claim holds its node until `lease_expires_at`; `heartbeat` extends it.
The first claim after a lease expired puts that node back (its attempt ends as
`expired`; the next claim is attempt + 1) before it chooses. The token fences
out the stale holder: its `heartbeat` and `complete` are refused. An expired
lease does not use up a retry; `complete --failed` does, and a node with retries
left is handed out again after its backoff.

Gates are handed out like tasks (to claimers without --agent). An approval gate's
claimer is its approver: completing it approves it. A failed rollback gate lists
the rollback commands (newest first) in the answer for the claimer to run;
lanes executes nothing in pull mode.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import time
from types import SimpleNamespace

from lanes.compiler.planfile import Plan, plan_from_dict, to_json
from lanes.dsl.diagnostics import did_you_mean
from lanes.runtime.dashboard import dashboard, write_dashboard
from lanes.runtime.driver import Driver, write_briefs
from lanes.runtime.scheduler import (CANCELLED, FAILED, FINAL, PENDING, READY, RUNNING, SKIPPED,
                                     SUCCEEDED, Scheduler)
from lanes.runtime.store import Store, StoreError, iso

DEFAULT_LEASE_S = 300.0
_plans: dict[str, tuple[Plan, dict[str, dict]]] = {}     # plan_json -> (plan, node dicts)


class PullError(StoreError):
    """A refused operation: unknown run or node, a stale token, a run that is not pulled."""


def open_run(store: Store, plan: Plan, run_id: str, source_path: str | None,
             keep_going: bool = False) -> None:
    """Create a run in pull mode, with the agents' briefs and its dashboard."""
    store.create_run(run_id, plan, to_json(plan), source_path, "pull", {"keep_going": keep_going})
    write_briefs(plan, os.path.join(store.run_dir(run_id), "briefs"))
    with store.transaction() as db:
        _write_dashboard(store, db, run_id)


def claim(store: Store, run_id: str, agent: str | None = None, worker: str | None = None,
          lease_s: float = DEFAULT_LEASE_S, now: float | None = None) -> dict:
    """The next node for this claimer, or why there is none (SPEC section 7, pull mode)."""
    now = time.time() if now is None else now
    worker = worker or socket.gethostname()
    with store.transaction() as db:
        run = _load(db, run_id)
        if agent is not None and agent not in run.plan.agent_by_id:
            raise PullError(f"run {run_id} has no agent '{agent}'{did_you_mean(agent, run.plan.agent_by_id)}")
        if run.row["status"] != "running":
            return {"node": None, "state": "finished"}
        expired = _reclaim_expired(db, run, now)
        sched = _scheduler(db, run, now)
        ready = sched.claimable(now, agent)
        if not ready:
            answer = _nothing(db, run, sched, agent, now)
            if expired or answer["state"] == "finished":
                _write_dashboard(store, db, run_id)
            return answer
        nid = ready[0]
        attempt = run.rows[nid]["attempts"] + 1
        token = secrets.token_hex(16)
        expires = now + lease_s
        db.execute("UPDATE nodes SET status=?, attempts=?, lease_token=?, lease_expires_at=?, worker=?, "
                   "started_at=?, completed_at=NULL, exit_code=NULL, error=NULL "
                   "WHERE run_id=? AND node_id=?",
                   (RUNNING, attempt, token, expires, worker, now, run_id, nid))
        db.execute("INSERT OR REPLACE INTO attempts VALUES (?,?,?,?,?,?,?,?)",
                   (run_id, nid, attempt, now, None, None, None, worker))
        _event(db, run_id, nid, "claimed", {"attempt": attempt, "worker": worker, "agent": agent,
                                             "lease_expires_at": iso(expires)}, now)
        _write_dashboard(store, db, run_id)
    node = run.plan.node_by_id[nid]
    answer = {"node": {**run.node_json[nid], "attempt": attempt}, "token": token,
              "lease_expires_at": iso(expires), "run_id": run_id, "workdir": run.plan.workdir}
    if node.agent:
        answer["brief"] = os.path.join(store.run_dir(run_id), "briefs", f"{node.agent}.md")
    return answer


def heartbeat(store: Store, run_id: str, node_id: str, token: str,
              lease_s: float = DEFAULT_LEASE_S, now: float | None = None) -> dict:
    now = time.time() if now is None else now
    with store.transaction() as db:
        run = _load(db, run_id)
        row = _leased(run, node_id, token, now)
        expires = now + lease_s
        db.execute("UPDATE nodes SET lease_expires_at=? WHERE run_id=? AND node_id=?",
                   (expires, run_id, node_id))
    return {"node": node_id, "attempt": row["attempts"], "lease_expires_at": iso(expires)}


def complete(store: Store, run_id: str, node_id: str, token: str, failed: bool = False,
             now: float | None = None) -> dict:
    """Record the outcome of a leased attempt: success, a retry after backoff, or a failure
    that skips everything downstream."""
    now = time.time() if now is None else now
    with store.transaction() as db:
        run = _load(db, run_id)
        row = _leased(run, node_id, token, now)
        attempt = row["attempts"]
        sched = _scheduler(db, run, now)
        before = dict(sched.status)
        state = sched.finished(node_id, not failed, now)
        final = state in FINAL
        seconds = (row["seconds"] or 0.0) + max(0.0, now - (row["started_at"] or now))
        error = f"reported failed by {row['worker']}" if failed else None
        node = run.plan.node_by_id[node_id]
        approved = int(bool(node.approve) and state == SUCCEEDED)   # its claimer approved it
        db.execute("UPDATE nodes SET status=?, lease_token=NULL, lease_expires_at=NULL, completed_at=?, "
                   "error=?, seconds=?, approved=? WHERE run_id=? AND node_id=?",
                   (state, now if final else None, error, seconds, approved, run_id, node_id))
        db.execute("UPDATE attempts SET finished_at=?, outcome=? WHERE run_id=? AND node_id=? AND attempt=?",
                   (now, "failed" if failed else SUCCEEDED, run_id, node_id, attempt))
        _event(db, run_id, node_id, "attempt-failed" if failed else "attempt-ok",
               {"attempt": attempt, "worker": row["worker"]}, now)
        skipped = [n for n, s in sched.status.items() if s == SKIPPED and before.get(n) != SKIPPED]
        _set_states(db, run_id, [(n, SKIPPED) for n in skipped], {"after": node_id}, now)
        answer = {"node": node_id, "status": state, "attempt": attempt}
        if skipped:
            answer["skipped"] = skipped
        if state == PENDING:                 # the same time every later claim computes
            answer["retry_at"] = iso(_retry_at(run, node_id, sched.attempts[node_id], now))
        if state == FAILED and node.is_gate and node.on_fail == "rollback":
            answer["rollback"] = _rollback(store, run, node)
        answer["run"] = _finish_if_done(db, run, sched, now)
        _write_dashboard(store, db, run_id)
    return answer


# -- inside a transaction -------------------------------------------------------------------------

def _load(db, run_id: str) -> SimpleNamespace:
    row = db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
    if row is None:
        known = [r[0] for r in db.execute("SELECT run_id FROM runs")]
        raise PullError(f"no run '{run_id}'{did_you_mean(run_id, known)}")
    if row["mode"] != "pull":
        raise PullError(f"run {run_id} is executed by `lanes run`; only runs made with "
                        "`lanes open` hand out nodes")
    hit = _plans.get(row["plan_json"])
    if hit is None:                       # parsed once per process: claims come by the thousand
        d = json.loads(row["plan_json"])
        hit = (plan_from_dict(d), {n["id"]: n for n in d["nodes"]})
        if len(_plans) >= 8:
            _plans.clear()
        _plans[row["plan_json"]] = hit
    rows = {r["node_id"]: r for r in db.execute("SELECT * FROM nodes WHERE run_id=?", (run_id,))}
    options = json.loads(row["options"] or "{}")
    return SimpleNamespace(row=row, run_id=run_id, plan=hit[0], node_json=hit[1], rows=rows,
                           keep_going=bool(options.get("keep_going")))


def _leased(run, node_id: str, token: str, now: float):
    """The node's row when `token` holds a live lease on it; refused otherwise."""
    row = run.rows.get(node_id)
    if row is None:
        raise PullError(f"run {run.run_id} has no node '{node_id}'{did_you_mean(node_id, run.rows)}")
    if row["status"] != RUNNING or not row["lease_token"] or \
            not secrets.compare_digest(row["lease_token"], token):
        raise PullError(f"stale token for '{node_id}' in run {run.run_id}: this lease is not held "
                        f"(the node is {row['status']}, attempt {row['attempts']})")
    if row["lease_expires_at"] < now:
        raise PullError(f"the lease on '{node_id}' expired at {iso(row['lease_expires_at'])}; "
                        "the node goes back to the queue")
    return row


def _reclaim_expired(db, run, now: float) -> list[str]:
    """Put back the nodes whose lease ran out (their attempt ends as `expired`)."""
    expired = [r for r in run.rows.values() if r["status"] == RUNNING and r["lease_expires_at"] is not None
               and r["lease_expires_at"] < now]
    for r in expired:
        nid = r["node_id"]
        db.execute("UPDATE nodes SET status=?, lease_token=NULL, lease_expires_at=NULL "
                   "WHERE run_id=? AND node_id=?", (PENDING, run.run_id, nid))
        db.execute("UPDATE attempts SET finished_at=?, outcome='expired' "
                   "WHERE run_id=? AND node_id=? AND attempt=?",
                   (r["lease_expires_at"], run.run_id, nid, r["attempts"]))
        _event(db, run.run_id, nid, "lease-expired", {"attempt": r["attempts"], "worker": r["worker"]}, now)
    if expired:
        run.rows = {r["node_id"]: r for r in db.execute("SELECT * FROM nodes WHERE run_id=?", (run.run_id,))}
    return [r["node_id"] for r in expired]


def _retry_at(run, node_id: str, failures: int, failed_at: float) -> float:
    """When a node that failed `failures` times may be handed out again: the backoff plus
    the spec's random jitter of up to 10%, drawn from the attempt itself so that every
    process computes the same time without storing it."""
    h = hashlib.sha256(f"{run.run_id}/{node_id}/{failures}".encode()).digest()
    return failed_at + run.plan.node_by_id[node_id].backoff.delay(failures) * (1 + h[0] / 255 * 0.1)


def _scheduler(db, run, now: float) -> Scheduler:
    """The scheduler of `lanes run`, rebuilt from the rows. Its attempt counts are the
    attempts that can use up retries (expired leases do not)."""
    failures = {r["node_id"]: (r["n"], r["last"]) for r in db.execute(
        "SELECT node_id, COUNT(*) AS n, MAX(finished_at) AS last FROM attempts "
        "WHERE run_id=? AND outcome='failed' GROUP BY node_id", (run.run_id,))}
    status = {nid: r["status"] for nid, r in run.rows.items()}
    attempts = {nid: failures.get(nid, (0, None))[0] + (status[nid] == RUNNING) for nid in status}
    not_before = {nid: _retry_at(run, nid, n, last) for nid, (n, last) in failures.items()
                  if status[nid] in (PENDING, READY) and last is not None}
    sched = Scheduler(run.plan, jobs=max(1, len(run.plan.nodes)), keep_going=run.keep_going,
                      status=status, attempts=attempts, not_before=not_before)
    by_id = run.plan.node_by_id
    for nid, s in status.items():                  # what `fail` decided when the failure came
        n = by_id[nid]
        if s == FAILED and not (n.is_gate and n.on_fail == "continue"):
            sched.failed_run = True
            if not run.keep_going or n.is_gate:
                sched.stopping = True
    return sched


def _nothing(db, run, sched: Scheduler, agent: str | None, now: float) -> dict:
    """No node to hand out: the run (or this agent's part of it) is over, or wait. A run
    that stopped after a failure hands out nothing more: its claimers may leave."""
    if sched.done:
        _finish_if_done(db, run, sched, now)
        return {"node": None, "state": "finished"}
    if sched.stopping or agent is not None and all(s in FINAL for nid, s in sched.status.items()
                                 if run.plan.node_by_id[nid].agent == agent):
        return {"node": None, "state": "finished"}
    answer = {"node": None, "state": "waiting"}
    wake = sched.next_wake()
    if wake is not None:
        answer["retry_at"] = iso(wake)
    return answer


def _finish_if_done(db, run, sched: Scheduler, now: float) -> str:
    """Close the run when nothing can happen any more; its status either way."""
    if not sched.done:
        return run.row["status"]
    by_id = run.plan.node_by_id
    leftover = [n for n, s in sched.status.items() if s in (PENDING, READY)]
    _set_states(db, run.run_id, [(n, CANCELLED) for n in leftover], {"reason": "the run stopped"}, now)
    for n in leftover:
        sched.status[n] = CANCELLED
    ok = all(s == SUCCEEDED or (s == FAILED and by_id[n].is_gate and by_id[n].on_fail == "continue")
             for n, s in sched.status.items())
    status = SUCCEEDED if ok else FAILED
    db.execute("UPDATE runs SET status=?, finished_at=? WHERE run_id=?", (status, now, run.run_id))
    _event(db, run.run_id, None, f"run-{status}", None, now)
    return status


def _rollback(store: Store, run, gate) -> list[dict]:
    # The driver's own rule (succeeded tasks upstream since the previous gate, newest first),
    # read through this transaction's connection.
    view = SimpleNamespace(plan=run.plan, store=store, run_id=run.run_id)
    targets = Driver.rollback_targets(view, gate)
    return [{"node": t, "run": run.plan.node_by_id[t].rollback} for t in targets]


def _set_states(db, run_id: str, changes: list[tuple[str, str]], data: dict | None, now: float) -> None:
    for nid, status in changes:
        db.execute("UPDATE nodes SET status=?, completed_at=? WHERE run_id=? AND node_id=?",
                   (status, now, run_id, nid))
        _event(db, run_id, nid, status, data, now)


def _event(db, run_id: str, node_id: str | None, kind: str, data: dict | None, now: float) -> None:
    db.execute("INSERT INTO events (run_id, at, node_id, kind, data) VALUES (?,?,?,?,?)",
               (run_id, now, node_id, kind, json.dumps(data) if data is not None else None))


def _write_dashboard(store: Store, db, run_id: str) -> None:
    """Written while the write lock is held, so concurrent claimers replace it in commit
    order and the file never goes back in time."""
    row = db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
    nodes = {r["node_id"]: r for r in db.execute("SELECT * FROM nodes WHERE run_id=?", (run_id,))}
    write_dashboard(os.path.join(store.run_dir(run_id), "dashboard.json"), dashboard(row, nodes))
