"""Pull mode: a run whose nodes lanes hands out to agents that ask, instead of running them.

A third driver of the same `Run`. Each operation (claim, heartbeat, complete) is one
exclusive transaction on the shared store: it reads the run as the store has it,
lets the run decide, and commits, all under the write lock, so any number of
concurrent claimers (processes, sessions, people) never get the same node twice,
and a refused operation changes nothing (it rolls back).

Leases: a claim holds its node until `lease_expires_at`; `heartbeat` extends it.
The first operation after a lease ran out puts that node back (its attempt ends as
`expired`; the next claim is attempt + 1) before it chooses. The token fences
out the stale holder: its `heartbeat` and `complete` are refused, even before
another claim took the node. An expired lease does not use up a retry;
`complete --failed` does, and a node with retries left is handed out again after
its backoff (the same time in every process: the jitter is seeded by the attempt).

Gates are handed out like tasks (to claimers without --agent). An approval gate's
claimer is its approver: completing it approves it. A failed rollback gate lists
the rollback commands (newest first) in the answer for its claimer to run (lanes
executes nothing in pull mode); the tasks are recorded as rolled back.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
import json
import os
import secrets
import socket
import time

from lanes.compiler.planfile import Plan, plan_from_dict, to_json
from lanes.runtime.executor import Outcome
from lanes.runtime.isolation import Allowed
from lanes.runtime.run import Options, Run, _jitter_rng
from lanes.runtime.states import FINAL, State
from lanes.runtime.store import Row, Store, StoreError, did_you_mean, iso
from lanes.runtime.workspace import WorkspaceError

DEFAULT_LEASE_S = 300.0
_FOLLOWED = frozenset({"claimed", "attempt-ok"})   # what `follow` applies without a rebuild
MAX_LEASE_S = 366 * 86400.0      # a year: longer is a mistake, not a lease


class PullError(StoreError):
    """A refused operation: unknown run, node or agent, a stale token, a run that is not pulled."""


def open_run(store: Store, plan: Plan, run_id: str, source_path: str | None, keep_going: bool = False,
             briefs: Mapping[str, str] | None = None, allowed: Allowed | None = None) -> None:
    """Create a run in pull mode, with the agents' briefs and its dashboard."""
    Run.create(store, plan, run_id, to_json(plan), source_path, "pull", Options(keep_going=keep_going),
               briefs or {}, allowed=allowed)


@lru_cache(maxsize=8)
def _plan(plan_json: str) -> tuple[Plan, dict[str, dict[str, object]]]:
    """A pull run's plan never changes: parsed once per process and text."""
    d = json.loads(plan_json)
    return plan_from_dict(d), {n["id"]: n for n in d["nodes"]}


class _Pulled(Run):
    """The run as the store has it now, inside an exclusive transaction."""

    def __init__(self, store: Store, run_id: str, allowed: Allowed | None = None) -> None:
        try:
            row = store.run(run_id)
        except StoreError as exc:
            raise PullError(str(exc)) from None
        if row["mode"] != "pull":
            raise PullError(f"run {run_id} is executed by `lanes run`; only runs made with "
                            "`lanes open` hand out nodes")
        plan, self.node_json = _plan(str(row["plan_json"]))
        keep_going = bool(json.loads(row["options"] or "{}").get("keep_going"))
        self.rows = store.nodes(run_id)
        super().__init__(store, run_id, plan, Options(keep_going=keep_going), row=row, rows=self.rows,
                         scheduler=False, allowed=allowed)
        self.status = str(row["status"])
        self.sched = self._scheduler_from_rows(self.rows)
        try:                                   # other processes rewrote the dashboard: throttle by its age
            age = time.time() - os.stat(self.dashboard_path).st_mtime
            self.last_dashboard = time.monotonic() - max(age, 0.0)
        except OSError:
            pass

    def follow(self, events: Sequence[Row]) -> bool:
        """Bring this run up to what other processes did since (claims and successes, the
        common case); False when something else happened: rebuild from the rows then."""
        if any(e["kind"] not in _FOLLOWED or e["node_id"] not in self.rows for e in events):
            return False
        for e in events:
            nid = str(e["node_id"])
            if e["kind"] == "claimed":
                self.sched.started(nid)
            else:
                self.sched.finished(nid, True, float(e["at"]))
        self.reread({str(e["node_id"]) for e in events})
        return True

    def reread(self, node_ids: set[str]) -> None:
        """The rows (and the view) of these nodes as the store has them now."""
        fresh = self.store.nodes_of(self.run_id, node_ids)
        self.rows.update(fresh)
        for nid, r in fresh.items():
            self.view[nid].update({k: r[k] for k in self.view[nid]})
            self.board.touch(nid)

    def lease_of(self, node_id: str, token: str, now: float) -> Row:
        """The node's row when `token` holds a live lease on it; refused otherwise."""
        row = self.rows.get(node_id)
        if row is None:
            raise PullError(f"run {self.run_id} has no node '{node_id}'{did_you_mean(node_id, self.rows)}")
        held = row["lease_token"]
        if row["status"] != State.RUNNING or not held or not secrets.compare_digest(str(held), token):
            raise PullError(f"stale token for '{node_id}' in run {self.run_id}: it holds no lease "
                            f"(the node is {row['status']}, attempt {row['attempts']})")
        if float(row["lease_expires_at"]) < now:
            raise PullError(f"the lease on '{node_id}' expired at {iso(row['lease_expires_at'])}; "
                            "the node goes back to the queue")
        return row

    def reclaim_expired(self, now: float) -> list[str]:
        """Put back the nodes whose lease ran out (their attempt ends as `expired`)."""
        out = []
        for r in self.store.expired_leases(self.run_id, now):
            nid, attempt = str(r["node_id"]), int(r["attempts"])
            self.note(nid, "lease-expired", {"attempt": attempt, "worker": r["worker"]},
                      {"attempt": attempt, "started_at": r["started_at"], "finished_at": r["lease_expires_at"],
                       "outcome": "expired", "worker": r["worker"]},
                      status=State.PENDING, lease_token=None, lease_expires_at=None)
            out.append(nid)
        if out:
            self.commit()
            self.rows = self.store.nodes(self.run_id)
            self.sched = self._scheduler_from_rows(self.rows)
        return out

    def hand_out(self, nid: str, worker: str, agent: str | None, lease_s: float, now: float) -> dict[str, object]:
        attempt = int(self.rows[nid]["attempts"]) + 1
        token = secrets.token_hex(16)
        expires = now + lease_s
        place = None
        if self.isolation is not None:         # its worktree, made before it is handed out
            try:
                place = self.isolation.enter(self.plan.node_by_id[nid], attempt)
            except (WorkspaceError, OSError) as exc:
                raise PullError(f"cannot prepare the worktree of '{nid}': {exc}") from None
        self.sched.started(nid)
        self.note(nid, "claimed", {"attempt": attempt, "worker": worker, "agent": agent,
                                   "lease_expires_at": iso(expires)},
                  {"attempt": attempt, "started_at": now, "worker": worker},
                  status=State.RUNNING, attempts=attempt, lease_token=token, lease_expires_at=expires,
                  worker=worker, started_at=now, completed_at=None, exit_code=None, error=None)
        answer: dict[str, object] = {"node": {**self.node_json[nid], "attempt": attempt}, "token": token,
                                     "lease_expires_at": iso(expires), "run_id": self.run_id,
                                     "workdir": self.plan.workdir}
        agent_of = self.plan.node_by_id[nid].agent
        if agent_of:
            answer["brief"] = os.path.join(self.brief_dir, f"{agent_of}.md")
        if place is not None:                  # work there: `complete` checks and merges it
            cwd, env = place
            answer["cwd"] = cwd
            answer.update({k.lower().removeprefix("lanes_"): v for k, v in env})    # worktree, base
        node = self.plan.node_by_id[nid]
        if node.prompt is not None:            # a coding agent's task: its prompt file, its session
            answer["env"] = dict(self.agent_env(node, attempt))
        return answer

    def finish_if_done(self, now: float) -> str:
        """Close the run when nothing can happen any more; its status either way."""
        if not self.sched.done:
            return self.status
        for nid, s in list(self.sched.status.items()):
            if s in (State.PENDING, State.READY):
                self.sched.cancel(nid)
                self.note(nid, "cancelled", {"reason": "the run stopped"}, status=State.CANCELLED,
                          completed_at=now)
        self.status = "succeeded" if self.succeeded() else "failed"
        self.close(self.status)
        return self.status


def _check_lease(lease_s: float) -> None:
    if not (0 < lease_s <= MAX_LEASE_S):
        raise PullError(f"a lease of {lease_s:g}s is out of range (more than 0, at most a year)")


class Puller:
    """A pull-mode client of one run. It keeps the run between its operations and follows
    the event log to what other processes did since, rebuilding from the rows only when
    something other than claims and successes happened; a `lanes work` worker keeps one.
    Each operation is one exclusive transaction: a refused one changes nothing, here or
    on disk."""

    def __init__(self, store: Store, run_id: str, allowed: Allowed | None = None) -> None:
        self.store, self.run_id, self.allowed = store, run_id, allowed
        self.run: _Pulled | None = None
        self.seen = 0

    @contextmanager
    def _operation(self) -> Iterator[_Pulled]:
        with self.store.exclusive():
            run = self.run
            if run is None or not run.follow(self.store.events(self.run_id, after=self.seen)):
                run = self.run = _Pulled(self.store, self.run_id, self.allowed)
            try:
                yield run
                changed = run.commit()
                run.reread(changed)
                self.seen = self.store.last_event(self.run_id)
            except BaseException:
                self.run = None                # a refused operation leaves nothing half-applied
                raise

    def claim(self, agent: str | None = None, worker: str | None = None, lease_s: float = DEFAULT_LEASE_S,
              now: float | None = None, approvals: bool = True) -> dict[str, object]:
        """The next node for this claimer, or why there is none (SPEC section 7, pull mode).
        `approvals=False` (an automatic worker) never takes an approval gate."""
        _check_lease(lease_s)
        now = time.time() if now is None else now
        worker = worker or socket.gethostname()
        with self._operation() as run:
            if agent is not None and agent not in run.plan.agent_by_id:
                raise PullError(f"run {self.run_id} has no agent '{agent}'"
                                f"{did_you_mean(agent, run.plan.agent_by_id)}")
            if run.status != "running":
                return {"node": None, "state": "finished"}
            expired = run.reclaim_expired(now)
            by_id = run.plan.node_by_id
            limit = 1 if approvals else len(by_id)
            ready = [n for n in run.sched.claimable(now, agent, dict(run.sched.busy), limit)
                     if approvals or by_id[n].approve is None][:1]
            answer = run.hand_out(ready[0], worker, agent, lease_s, now) if ready else _nothing(run, agent, now)
            run.refresh(force=bool(expired) or answer.get("state") == "finished")
        return answer

    def heartbeat(self, node_id: str, token: str, lease_s: float = DEFAULT_LEASE_S,
                  now: float | None = None) -> dict[str, object]:
        """Extend a live lease to `lease_s` from now."""
        _check_lease(lease_s)
        now = time.time() if now is None else now
        with self._operation() as run:
            row = run.lease_of(node_id, token, now)
            expires = now + lease_s
            run.note(node_id, None, lease_expires_at=expires)
        return {"node": node_id, "attempt": row["attempts"], "lease_expires_at": iso(expires)}

    def release(self, node_id: str, token: str, now: float | None = None) -> dict[str, object]:
        """Give a claimed node back unfinished (a worker that was stopped): it is handed out
        again at once, and the attempt uses up no retry."""
        now = time.time() if now is None else now
        with self._operation() as run:
            row = run.lease_of(node_id, token, now)
            attempt = int(row["attempts"])
            run.note(node_id, "released", {"attempt": attempt, "worker": row["worker"]},
                     {"attempt": attempt, "started_at": row["started_at"], "finished_at": now,
                      "outcome": "expired", "worker": row["worker"]},
                     status=State.PENDING, lease_token=None, lease_expires_at=None)
        return {"node": node_id, "status": State.PENDING, "attempt": attempt}

    def complete(self, node_id: str, token: str, failed: bool = False, now: float | None = None,
                 error: str | None = None) -> dict[str, object]:
        """Record the outcome of a leased attempt: success, a retry after backoff, or a failure
        that skips everything downstream."""
        now = time.time() if now is None else now
        with self._operation() as run:
            row = run.lease_of(node_id, token, now)
            attempt = int(row["attempts"])
            worker = str(row["worker"])
            node = run.plan.node_by_id[node_id]
            before = dict(run.sched.status)
            run.sched.rng = _jitter_rng(self.run_id, node_id, run.sched.attempts[node_id])
            started = float(row["started_at"] or now)
            if failed:
                error = error or f"reported failed by {worker}"
            run.finished(Outcome(node_id, attempt, 1 if failed else 0, False, False, error if failed else None,
                                 started, now), worker, leased=True)
            state = run.sched.status[node_id]
            run.note(node_id, None, lease_token=None, lease_expires_at=None,
                     approved=int(bool(node.approve) and state == State.SUCCEEDED))   # its claimer approved it
            answer: dict[str, object] = {"node": node_id, "status": state, "attempt": attempt}
            skipped = [n for n, s in run.sched.status.items()
                       if s == State.SKIPPED and before.get(n) != State.SKIPPED]
            if skipped:
                answer["skipped"] = skipped
            if state == State.PENDING:
                answer["retry_at"] = iso(run.sched.not_before[node_id])
            if run.rollbacks:
                answer["rollback"] = _delegate_rollbacks(run, now)
            answer["run"] = run.finish_if_done(now)
            run.refresh(force=answer["run"] != "running")
        return answer


def claim(store: Store, run_id: str, agent: str | None = None, worker: str | None = None,
          lease_s: float = DEFAULT_LEASE_S, now: float | None = None,
          allowed: Allowed | None = None) -> dict[str, object]:
    """One claim (see Puller.claim)."""
    return Puller(store, run_id, allowed).claim(agent, worker, lease_s, now)


def heartbeat(store: Store, run_id: str, node_id: str, token: str,
              lease_s: float = DEFAULT_LEASE_S, now: float | None = None) -> dict[str, object]:
    return Puller(store, run_id).heartbeat(node_id, token, lease_s, now)


def complete(store: Store, run_id: str, node_id: str, token: str, failed: bool = False,
             now: float | None = None, allowed: Allowed | None = None) -> dict[str, object]:
    return Puller(store, run_id, allowed).complete(node_id, token, failed, now)


def _delegate_rollbacks(run: _Pulled, now: float) -> list[dict[str, object]]:
    """Pull mode runs nothing: the claimer of the failed gate is told what to undo, and
    the tasks are recorded as rolled back."""
    out = []
    while run.rollbacks:
        row = run.rollbacks.popleft()
        nid = str(row["node_id"])
        run.record_rollback({**row, "status": "delegated", "started_at": now})
        run.sched.rolled_back(nid)
        run.note(nid, "rolled-back", {"gate": row["gate"], "delegated": True}, status=State.ROLLED_BACK)
        out.append({"node": nid, "run": row["command"]})
    return out


def _nothing(run: _Pulled, agent: str | None, now: float) -> dict[str, object]:
    """No node to hand out: the run (or this agent's part of it) is over, or wait. A run
    that stopped after a failure hands out nothing more: its claimers may leave."""
    sched = run.sched
    if sched.done:
        run.finish_if_done(now)
        return {"node": None, "state": "finished"}
    if sched.stopping or agent is not None and all(
            s in FINAL for nid, s in sched.status.items() if run.plan.node_by_id[nid].agent == agent):
        return {"node": None, "state": "finished"}
    answer: dict[str, object] = {"node": None, "state": "waiting"}
    wake = sched.next_wake()
    if wake is not None:
        answer["retry_at"] = iso(wake)
    return answer
