"""Pull mode: a run whose nodes lanes hands out to agents that ask, instead of running them.

A third driver of the same scheduler. Each operation (claim, heartbeat, complete)
is one BEGIN IMMEDIATE transaction on the shared SQLite store: it brings the
scheduler up to the store's state (following the event log from where this
process last was, or rebuilding it from the rows), decides, and writes, all under
the write lock, so any number of concurrent claimers (processes, sessions,
people) never get the same node twice, and a refused operation changes nothing
(it rolls back).

Leases: a claim holds its node until `lease_expires_at`; `heartbeat` extends it.
The first claim after a lease ran out puts that node back (its attempt ends as
`expired`; the next claim is attempt + 1) before it chooses. The token fences
out the stale holder: its `heartbeat` and `complete` are refused, even before
another claim took the node. An expired lease does not use up a retry;
`complete --failed` does, and a node with retries left is handed out again
after its backoff.

Gates are handed out like tasks (to claimers without --agent). An approval gate's
claimer is its approver: completing it approves it. A failed rollback gate lists
the rollback commands (newest first) in the answer for its claimer to run: lanes
executes nothing in pull mode. The dashboard file is rewritten as `lanes run`
rewrites it: at most every DASHBOARD_EVERY_S, and always when the run ends.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
import fcntl
import json
import os
import random
import secrets
import socket
import time
from typing import Iterator

from lanes.compiler.planfile import Plan, plan_from_dict, to_json
from lanes.dsl.diagnostics import did_you_mean
from lanes.runtime.dashboard import dashboard, write_dashboard
from lanes.runtime.driver import DASHBOARD_EVERY_S, rollback_targets, write_briefs
from lanes.runtime.scheduler import (CANCELLED, FAILED, FINAL, PENDING, READY, RUNNING, SKIPPED,
                                     SUCCEEDED, Scheduler)
from lanes.runtime.store import Store, StoreError, iso

DEFAULT_LEASE_S = 300.0


class PullError(StoreError):
    """A refused operation: unknown run, node or agent, a stale token, a run that is not pulled."""


def open_run(store: Store, plan: Plan, run_id: str, source_path: str | None,
             keep_going: bool = False) -> None:
    """Create a run in pull mode, with the agents' briefs and its dashboard."""
    store.create_run(run_id, plan, to_json(plan), source_path, "pull", {"keep_going": keep_going})
    write_briefs(plan, os.path.join(store.run_dir(run_id), "briefs"))
    with store.transaction() as db:
        _write_dashboard(store, db, run_id, force=True)


def claim(store: Store, run_id: str, agent: str | None = None, worker: str | None = None,
          lease_s: float = DEFAULT_LEASE_S, now: float | None = None) -> dict:
    """The next node for this claimer, or why there is none (SPEC section 7, pull mode)."""
    now = time.time() if now is None else now
    worker = worker or socket.gethostname()
    with _exclusive(store) as db:
        run = _load(db, store, run_id)
        if agent is not None and agent not in run.plan.agent_by_id:
            raise PullError(f"run {run_id} has no agent '{agent}'{did_you_mean(agent, run.plan.agent_by_id)}")
        if run.status != "running":
            return {"node": None, "state": "finished"}
        expired = _reclaim_expired(db, run, now)
        sched = _scheduler(db, run)
        ready = sched.claimable(now, agent, dict(sched.busy))
        if ready:
            answer = _hand_out(db, store, run, sched, ready[0], worker, agent, now + lease_s, now)
            _write_dashboard(store, db, run_id)
        else:
            answer = _nothing(db, run, sched, agent, now)
            if expired or answer["state"] == "finished":
                _write_dashboard(store, db, run_id, force=answer["state"] == "finished")
        seen = _last_event(db, run)
    _live[run.key] = (seen, sched)           # committed: this process's scheduler is current
    return answer


def _hand_out(db, store: Store, run: _Run, sched: Scheduler, nid: str, worker: str, agent: str | None,
              expires: float, now: float) -> dict:
    attempt = db.execute("SELECT attempts FROM nodes WHERE run_id=? AND node_id=?",
                         (run.run_id, nid)).fetchone()[0] + 1
    token = secrets.token_hex(16)
    db.execute("UPDATE nodes SET status=?, attempts=?, lease_token=?, lease_expires_at=?, worker=?, "
               "started_at=?, completed_at=NULL, exit_code=NULL, error=NULL WHERE run_id=? AND node_id=?",
               (RUNNING, attempt, token, expires, worker, now, run.run_id, nid))
    db.execute("INSERT OR REPLACE INTO attempts VALUES (?,?,?,?,?,?,?,?)",
               (run.run_id, nid, attempt, now, None, None, None, worker))
    _event(db, run.run_id, nid, "claimed", {"attempt": attempt, "worker": worker, "agent": agent,
                                            "lease_expires_at": iso(expires)}, now)
    sched.started(nid)
    answer = {"node": {**run.node_json[nid], "attempt": attempt}, "token": token,
              "lease_expires_at": iso(expires), "run_id": run.run_id, "workdir": run.plan.workdir}
    agent_of = run.plan.node_by_id[nid].agent
    if agent_of:
        answer["brief"] = os.path.join(store.run_dir(run.run_id), "briefs", f"{agent_of}.md")
    return answer


def heartbeat(store: Store, run_id: str, node_id: str, token: str,
              lease_s: float = DEFAULT_LEASE_S, now: float | None = None) -> dict:
    """Extend a live lease to `lease_s` from now."""
    now = time.time() if now is None else now
    with _exclusive(store) as db:
        run = _load(db, store, run_id)
        row = _leased(db, run, node_id, token, now)
        expires = now + lease_s
        db.execute("UPDATE nodes SET lease_expires_at=? WHERE run_id=? AND node_id=?",
                   (expires, run_id, node_id))
    return {"node": node_id, "attempt": row["attempts"], "lease_expires_at": iso(expires)}


def complete(store: Store, run_id: str, node_id: str, token: str, failed: bool = False,
             now: float | None = None) -> dict:
    """Record the outcome of a leased attempt: success, a retry after backoff, or a failure
    that skips everything downstream."""
    now = time.time() if now is None else now
    with _exclusive(store) as db:
        run = _load(db, store, run_id)
        row = _leased(db, run, node_id, token, now)
        attempt = row["attempts"]
        sched = _scheduler(db, run)
        before = dict(sched.status)
        sched.rng = _jitter_rng(run_id, node_id, sched.attempts[node_id])
        state = sched.finished(node_id, not failed, now)
        final = state in FINAL
        seconds = (row["seconds"] or 0.0) + max(0.0, now - (row["started_at"] or now))
        error = f"reported failed by {row['worker']}" if failed else None
        node = run.plan.node_by_id[node_id]
        approved = int(bool(node.approve) and state == SUCCEEDED)      # its claimer approved it
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
            answer["retry_at"] = iso(sched.not_before[node_id])
        if state == FAILED and node.is_gate and node.on_fail == "rollback":
            answer["rollback"] = _rollback(store, run, node)
        answer["run"] = _finish_if_done(db, run, sched, now)
        _write_dashboard(store, db, run_id, force=answer["run"] != "running")
        seen = _last_event(db, run)
    if not failed:                          # a failure is rebuilt from the rows, as in _scheduler
        _live[run.key] = (seen, sched)
    return answer


# -- inside a transaction -------------------------------------------------------------------------

@contextmanager
def _exclusive(store: Store) -> Iterator:
    """One pull operation at a time per state directory, then its transaction. SQLite's own
    busy handler polls with sleeps of up to 100 ms, so under many claimers the write lock
    sat free while they all slept; a blocking flock hands it over at once, in order. The
    transaction is still what makes the operation atomic (the lock only queues)."""
    with open(os.path.join(store.dir, "pull.lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            with store.transaction() as db:
                yield db
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@dataclass(frozen=True)
class _Compiled:
    """What a run's plan gives every operation; built once per process and run."""
    plan: Plan
    node_json: dict[str, dict]       # node id -> the node as plan.json has it


_compiled: dict[tuple, _Compiled] = {}


# (store, run, started_at) -> (the last event applied, the scheduler in that state): what this
# process saw at the end of its last operation on the run
_live: dict[tuple, tuple[int, Scheduler]] = {}


@dataclass(frozen=True)
class _Run:
    key: tuple
    run_id: str
    status: str
    keep_going: bool
    plan: Plan
    node_json: dict[str, dict]


def _load(db, store: Store, run_id: str) -> _Run:
    row = db.execute("SELECT mode, status, options, started_at FROM runs WHERE run_id=?", (run_id,)).fetchone()
    if row is None:
        known = [r[0] for r in db.execute("SELECT run_id FROM runs")]
        raise PullError(f"no run '{run_id}' in {store.dir}{did_you_mean(run_id, known)}")
    if row["mode"] != "pull":
        raise PullError(f"run {run_id} is executed by `lanes run`; only runs made with "
                        "`lanes open` hand out nodes")
    key = (store.path, run_id, row["started_at"])    # a pull run's plan never changes
    c = _compiled.get(key)
    if c is None:
        d = json.loads(db.execute("SELECT plan_json FROM runs WHERE run_id=?", (run_id,)).fetchone()[0])
        plan = plan_from_dict(d)
        c = _Compiled(plan, {n["id"]: n for n in d["nodes"]})
        if len(_compiled) >= 8:
            _compiled.clear()
        _compiled[key] = c
    keep_going = bool(json.loads(row["options"] or "{}").get("keep_going"))
    return _Run(key, run_id, row["status"], keep_going, c.plan, c.node_json)


def _leased(db, run: _Run, node_id: str, token: str, now: float):
    """The node's row when `token` holds a live lease on it; refused otherwise."""
    row = db.execute("SELECT status, attempts, lease_token, lease_expires_at, worker, started_at, seconds "
                     "FROM nodes WHERE run_id=? AND node_id=?", (run.run_id, node_id)).fetchone()
    if row is None:
        raise PullError(f"run {run.run_id} has no node '{node_id}'{did_you_mean(node_id, run.plan.node_by_id)}")
    if row["status"] != RUNNING or not row["lease_token"] or \
            not secrets.compare_digest(row["lease_token"], token):
        raise PullError(f"stale token for '{node_id}' in run {run.run_id}: it holds no lease "
                        f"(the node is {row['status']}, attempt {row['attempts']})")
    if row["lease_expires_at"] < now:
        raise PullError(f"the lease on '{node_id}' expired at {iso(row['lease_expires_at'])}; "
                        "the node goes back to the queue")
    return row


def _reclaim_expired(db, run: _Run, now: float) -> list[str]:
    """Put back the nodes whose lease ran out (their attempt ends as `expired`)."""
    expired = db.execute("SELECT node_id, attempts, lease_expires_at, worker FROM nodes "
                         "WHERE run_id=? AND status=? AND lease_expires_at<?", (run.run_id, RUNNING, now)).fetchall()
    for nid, attempt, expires, worker in expired:
        db.execute("UPDATE nodes SET status=?, lease_token=NULL, lease_expires_at=NULL "
                   "WHERE run_id=? AND node_id=?", (PENDING, run.run_id, nid))
        db.execute("UPDATE attempts SET finished_at=?, outcome='expired' "
                   "WHERE run_id=? AND node_id=? AND attempt=?", (expires, run.run_id, nid, attempt))
        _event(db, run.run_id, nid, "lease-expired", {"attempt": attempt, "worker": worker}, now)
    return [r[0] for r in expired]


def _jitter_rng(run_id: str, node_id: str, failures: int) -> random.Random:
    """The scheduler draws the spec's backoff jitter from its rng; seeded by the attempt,
    every process computes the same retry time without storing it."""
    return random.Random(f"{run_id}/{node_id}/{failures}")


def _scheduler(db, run: _Run) -> Scheduler:
    """The scheduler of `lanes run` in the state the store describes. This process's
    scheduler from its last operation follows the event log from there when only claims
    and successes happened since (its own `started` and `finished`); anything else (a
    failure, an expired lease, a first operation) rebuilds it from the rows."""
    hit = _live.pop(run.key, None)             # popped: a failed operation leaves nothing stale
    if hit is not None:
        seen, sched = hit
        news = db.execute("SELECT node_id, kind, at FROM events WHERE run_id=? AND seq>? ORDER BY seq",
                          (run.run_id, seen)).fetchall()
        if all(kind in ("claimed", "attempt-ok") for _, kind, _ in news):
            for nid, kind, at in news:
                if kind == "claimed":
                    sched.started(nid)
                else:
                    sched.finished(nid, True, at)
            return sched
    return _rebuild(db, run)


def _last_event(db, run: _Run) -> int:
    return db.execute("SELECT MAX(seq) FROM events WHERE run_id=?", (run.run_id,)).fetchone()[0]


def _rebuild(db, run: _Run) -> Scheduler:
    """The scheduler rebuilt from the rows through its own events: leased nodes are
    `started`, nodes waiting out a backoff are started and `finished` as failed at the
    time they failed. Its attempt counts are the attempts that use up retries (expired
    leases do not)."""
    failures = {r[0]: (r[1], r[2]) for r in db.execute(
        "SELECT node_id, COUNT(*), MAX(finished_at) FROM attempts "
        "WHERE run_id=? AND outcome='failed' GROUP BY node_id", (run.run_id,))}
    status = dict(db.execute("SELECT node_id, status FROM nodes WHERE run_id=?", (run.run_id,)).fetchall())
    backoff = [nid for nid in failures if status[nid] == PENDING]
    for nid in backoff:                     # not queued on construction: they wait for their time
        status[nid] = RUNNING
    sched = Scheduler(run.plan, jobs=max(1, len(run.plan.nodes)), keep_going=run.keep_going, status=status,
                      attempts={nid: n for nid, (n, _) in failures.items()})
    for nid in backoff:
        sched.rng = _jitter_rng(run.run_id, nid, failures[nid][0])
        sched.finished(nid, False, failures[nid][1])
    for nid, s in status.items():
        if s == RUNNING:
            sched.started(nid)              # its lane and slot are held; attempts + 1
    by_id = run.plan.node_by_id
    for nid, s in status.items():                  # what `fail` decided when the failure came
        n = by_id[nid]
        if s == FAILED and not (n.is_gate and n.on_fail == "continue"):
            sched.failed_run = True
            if not run.keep_going or n.is_gate:
                sched.stopping = True
    return sched


def _nothing(db, run: _Run, sched: Scheduler, agent: str | None, now: float) -> dict:
    """No node to hand out: the run (or this agent's part of it) is over, or wait. A run
    that stopped after a failure hands out nothing more: its claimers may leave."""
    if sched.done:
        _finish_if_done(db, run, sched, now)
        return {"node": None, "state": "finished"}
    if sched.stopping or agent is not None and all(
            s in FINAL for nid, s in sched.status.items() if run.plan.node_by_id[nid].agent == agent):
        return {"node": None, "state": "finished"}
    answer = {"node": None, "state": "waiting"}
    wake = sched.next_wake()
    if wake is not None:
        answer["retry_at"] = iso(wake)
    return answer


def _finish_if_done(db, run: _Run, sched: Scheduler, now: float) -> str:
    """Close the run when nothing can happen any more; its status either way."""
    if not sched.done:
        return run.status
    by_id = run.plan.node_by_id
    leftover = [n for n, s in sched.status.items() if s in (PENDING, READY)]
    _set_states(db, run.run_id, [(n, CANCELLED) for n in leftover], {"reason": "the run stopped"}, now)
    for n in leftover:
        sched.cancel(n)
    ok = all(s == SUCCEEDED or (s == FAILED and by_id[n].is_gate and by_id[n].on_fail == "continue")
             for n, s in sched.status.items())
    status = SUCCEEDED if ok else FAILED
    db.execute("UPDATE runs SET status=?, finished_at=? WHERE run_id=?", (status, now, run.run_id))
    _event(db, run.run_id, None, f"run-{status}", None, now)
    return status


def _rollback(store: Store, run: _Run, gate) -> list[dict]:
    """The driver's rule, read through this transaction's connection."""
    return [{"node": t, "run": run.plan.node_by_id[t].rollback}
            for t in rollback_targets(run.plan, store.nodes(run.run_id), gate)]


def _set_states(db, run_id: str, changes: list[tuple[str, str]], data: dict | None, now: float) -> None:
    for nid, status in changes:
        db.execute("UPDATE nodes SET status=?, completed_at=? WHERE run_id=? AND node_id=?",
                   (status, now, run_id, nid))
        _event(db, run_id, nid, status, data, now)


def _event(db, run_id: str, node_id: str | None, kind: str, data: dict | None, now: float) -> None:
    db.execute("INSERT INTO events (run_id, at, node_id, kind, data) VALUES (?,?,?,?,?)",
               (run_id, now, node_id, kind, json.dumps(data) if data is not None else None))


def _write_dashboard(store: Store, db, run_id: str, force: bool = False) -> None:
    """Written while the write lock is held, so concurrent claimers replace it in commit
    order and it never goes back in time; throttled like `lanes run`'s."""
    path = os.path.join(store.run_dir(run_id), "dashboard.json")
    if not force:
        try:
            if time.time() - os.stat(path).st_mtime < DASHBOARD_EVERY_S:
                return
        except OSError:
            pass
    row = db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
    nodes = {r["node_id"]: r for r in db.execute("SELECT * FROM nodes WHERE run_id=?", (run_id,))}
    write_dashboard(path, dashboard(row, nodes))
