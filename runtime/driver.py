"""The run loop: the scheduler decides, an executor runs, the store records.

Each turn of the loop collects the attempts that ended, lets the scheduler decide
what follows (retries, skips, new launches), starts the new processes and commits
all of it, process groups included, in one transaction before it waits again
(committing first would put the commit between one task's end and the next start,
and the process group in a second one). So the state on disk is always one the run
really passed through, at most one turn old: a runtime killed at any moment is
resumed by lanes.runtime.resume, which ends the process groups it left behind
(those of the last turn, not yet on record, are found by the LANES_RUN_ID in their
environment), keeps what succeeded (unless its digest changed) and resets the rest.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import os
import signal
import threading
import time

from lanes.compiler.planfile import Plan
from lanes.runtime.dashboard import LiveDashboard, write_dashboard
from lanes.runtime.executor import Launch, Outcome
from lanes.runtime.scheduler import (CANCELLED, FAILED, FINAL, PENDING, RUNNING, SKIPPED, SUCCEEDED, WAITING,
                                     Scheduler)
from lanes.runtime.store import Change, Store, change

DASHBOARD_EVERY_S = 0.2      # at most five rewrites a second; the final state is always written
APPROVAL_POLL_S = 0.2        # how often a run with a waiting gate looks for `lanes approve`
IDLE_WAKE_S = 0.2            # the loop wakes at least this often (signals, pgids, approvals)
ROLLBACK = ".rollback"        # executor key of a task's rollback: ids have no dot, so no node has it


@dataclass(frozen=True)
class Options:
    jobs: int
    stages: bool = False
    keep_going: bool = False
    yes: bool = False


def _node_env(plan: Plan, node, run_id: str, attempt: int, brief_dir: str) -> tuple:
    """What lanes adds to a command's environment: the agent's env, the node's env, and
    the LANES_* variables of SPEC section 7."""
    env = dict(plan.agent_by_id[node.agent].env) if node.agent in plan.agent_by_id else {}
    env.update(node.env)
    env.update(LANES_RUN_ID=run_id, LANES_TASK=node.id, LANES_AGENT=node.agent or "",
               LANES_ATTEMPT=str(attempt), LANES_WRITES="\n".join(node.writes),
               LANES_READS="\n".join(node.reads))
    if node.agent:
        env["LANES_BRIEF"] = os.path.join(brief_dir, f"{node.agent}.md")
    return tuple(env.items())


def write_briefs(plan: Plan, brief_dir: str) -> None:
    """`briefs/AGENT.md` for every agent, what LANES_BRIEF points at (raises BriefError)."""
    from lanes.compiler.brief import render_briefs
    briefs = render_briefs(plan)
    os.makedirs(brief_dir, exist_ok=True)
    for agent_id, text in briefs.items():
        with open(os.path.join(brief_dir, f"{agent_id}.md"), "w", encoding="utf-8") as f:
            f.write(text)


def rollback_targets(plan: Plan, rows, gate) -> list[str]:
    """The tasks a failed rollback gate undoes: those upstream of it that succeeded since
    the previous gate (the walk stops at gates) and have a `rollback`, newest first.
    `rows`: node id -> a mapping with "status" and "completed_at"."""
    by_id = plan.node_by_id
    seen, stack, tasks = set(), list(gate.needs), []
    while stack:
        nid = stack.pop()
        if nid in seen:
            continue
        seen.add(nid)
        n = by_id[nid]
        if n.is_gate:
            continue                      # an earlier gate: what lies behind it was checked
        tasks.append(nid)
        stack.extend(n.needs)
    done = [t for t in tasks if rows[t]["status"] == SUCCEEDED and by_id[t].rollback]
    return sorted(done, key=lambda t: rows[t]["completed_at"] or 0, reverse=True)


def in_a_new_thread(fn, *args):
    """fn(*args) in a thread of its own, waited for here; its exception is raised here.
    The run loop starts this way because the kernel schedules a thread by its recent
    past: one that has just spent ~100 ms of CPU on start-up (imports, parsing, briefs)
    is for a while let wait behind the commands it starts. Measured on this project's
    Linux 6.18 machines: a loop starting 1,000 `true` takes 0.43 s in a new thread and
    0.55-0.64 s in a thread that first computed for 100 ms; `lanes run` of them 0.96 ->
    0.90 s. Signals still reach the main thread's handlers: it waits in `join`, which
    they interrupt."""
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = fn(*args)
        except BaseException as exc:          # noqa: BLE001 - handed over to the caller
            result["error"] = exc

    thread = threading.Thread(target=target, name="lanes-run-loop", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


class Driver:
    """Runs one plan to its end with one executor; `run(scheduler)` -> whether it succeeded.
    `interrupted` tells whether a signal stopped it; `wall` is its duration in seconds.
    The executor may be set after construction (it is built with `on_started`)."""

    def __init__(self, plan: Plan, store: Store, run_id: str, options: Options, executor, progress) -> None:
        self.plan, self.store, self.run_id, self.opts = plan, store, run_id, options
        self.executor = executor
        self.progress = progress
        self.run_dir = store.run_dir(run_id)
        self.log_dir = os.path.join(self.run_dir, "logs")
        self.brief_dir = os.path.join(self.run_dir, "briefs")
        self.dashboard_path = os.path.join(self.run_dir, "dashboard.json")
        run = store.run(run_id)
        self.run_row = {"run_id": run_id, "workflow": run["workflow"], "started_at": run["started_at"],
                        "status": "running"}
        rows = store.nodes(run_id)
        # what the dashboard, the summary and rollbacks read, kept beside the store
        self.view = {n.id: {k: rows[n.id][k] for k in ("status", "agent", "attempts", "started_at",
                                                       "completed_at", "seconds", "error")}
                     for n in plan.nodes}
        self.board = LiveDashboard(self.run_row, self.view)
        self.changes: list[Change] = []
        self.launching: dict[str, int] = {}   # node -> index in `changes` of its launch
        self.rollbacks: deque = deque()       # (gate, task) still to undo, in order
        self.undoing: tuple[str, str] | None = None   # (gate, task) whose rollback runs now
        self.spawned: deque = deque()       # (node, attempt, pgid), appended by executors
        self.dirty = True
        self.last_dashboard = 0.0
        self.last_approval_poll = 0.0
        self.interrupted = False
        self.wall = 0.0
        self.busy_s = 0.0                   # summed attempt time in this session
        self._down_cache: dict[str, set[str]] = {}
        os.makedirs(self.log_dir, exist_ok=True)

    # -- recording ------------------------------------------------------------------------------

    def _note(self, node_id: str, event: str | None, data: dict | None = None, attempt: dict | None = None,
              **fields) -> None:
        """Queue one transition for the next commit and show it in the view at once."""
        self.changes.append(change(node_id, event, data, attempt, **fields))
        view = self.view[node_id]
        for k, v in fields.items():
            if k in view:
                view[k] = v
        self.board.touch(node_id)
        self.dirty = True

    def _commit(self, run_fields: dict | None = None) -> None:
        if self.changes or run_fields:
            self.store.apply(self.run_id, self.changes, run_fields)
            self.changes = []
            self.launching.clear()

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or (self.dirty and now - self.last_dashboard >= DASHBOARD_EVERY_S):
            self.last_dashboard = now
            self.dirty = False
            write_dashboard(self.dashboard_path, self.board.text())

    def on_started(self, node_id: str, attempt: int, pgid: int | None) -> None:
        """Executors call this (from any thread) once the process group exists; the loop
        records it for crash recovery."""
        if pgid is not None:
            self.spawned.append((node_id, attempt, pgid))

    # -- the loop -------------------------------------------------------------------------------

    def run(self, sched: Scheduler) -> bool:
        old_int = signal.signal(signal.SIGINT, self._on_signal)
        old_term = signal.signal(signal.SIGTERM, self._on_signal)
        started = time.time()
        try:
            with self.progress:
                ok = in_a_new_thread(self._loop, sched)
                self.progress.update(sched, force=True)     # the last frame shows the end
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
        status = "succeeded" if ok else ("cancelled" if self.interrupted else "failed")
        self.run_row["status"] = status
        self._commit({"status": status, "finished_at": time.time()})
        self.refresh(force=True)
        self.wall = time.time() - started
        return ok

    def _on_signal(self, signum, frame) -> None:
        self.interrupted = True

    def _loop(self, sched: Scheduler) -> bool:
        while not self.interrupted:
            if sched.waiting_set:
                self._approvals(sched)
            before_waiting = set(sched.waiting_set)
            launches = [self._launch(sched, nid) for nid in sched.next_launches(time.time())]
            newly_waiting = sched.waiting_set - before_waiting
            for gate in sorted(newly_waiting, key=sched.rank.__getitem__):
                self._note(gate, WAITING, status=WAITING, started_at=time.time())
                self.progress.event(f"waiting {gate}: {self.plan.node_by_id[gate].approve}  "
                                    f"(lanes approve {self.run_id} {gate})")
            for launch in launches:
                self.executor.start(launch)
            if launches and hasattr(os, "sched_yield"):
                # the kernel starts a command on our CPU: let it run its start-up before our
                # bookkeeping (measured here: starts 370 -> 280 us, and no tail of 1 ms ones)
                os.sched_yield()
            self._record_spawned(sched)             # the launches and their process groups:
            self._commit()                         # one transaction, before the next wait
            if self.opts.yes and newly_waiting:
                continue
            self.progress.update(sched)
            self.progress.flush()
            if sched.done and self.undoing is None:
                break
            self.refresh()
            outcomes = self.executor.wait(self._timeout(sched))
            self._record_spawned(sched, {o.node_id for o in outcomes})
            for o in outcomes:
                if o.node_id.endswith(ROLLBACK):
                    self._rolled_back(o)
                else:
                    self._finished(sched, o)
        if self.interrupted:
            self._cancel_running(sched)
        self._cancel_unstarted(sched)
        by_id = self.plan.node_by_id
        return not self.interrupted and not sched.failed_run and all(
            s == SUCCEEDED or (s == FAILED and by_id[n].is_gate) for n, s in sched.status.items())

    def _timeout(self, sched: Scheduler) -> float:
        timeout = IDLE_WAKE_S
        wake = sched.next_wake()
        if wake is not None:
            timeout = min(timeout, max(0.0, wake - time.time()))
        if self.dirty:
            timeout = min(timeout, max(0.0, DASHBOARD_EVERY_S - (time.monotonic() - self.last_dashboard)))
        return timeout

    def _launch(self, sched: Scheduler, node_id: str) -> Launch:
        node = self.plan.node_by_id[node_id]
        attempt = sched.attempts[node_id]
        self.launching[node_id] = len(self.changes)
        self._note(node_id, RUNNING, {"attempt": attempt}, status=RUNNING, attempts=attempt,
                   started_at=time.time(), completed_at=None, exit_code=None, error=None)
        self.progress.event(f"started {node_id} ({node.agent or 'gate'}, attempt {attempt})")
        return Launch(self.run_id, node_id, attempt, node.run, self.plan.workdir,
                      _node_env(self.plan, node, self.run_id, attempt, self.brief_dir),
                      os.path.join(self.log_dir, f"{node_id}.log"), node.timeout_s)

    def _record_spawned(self, sched: Scheduler, ended: set[str] = frozenset()) -> None:
        """Record the process groups of what runs (not of what already ended: its end is
        recorded in the same commit), in the change that launched it when that is still
        to be committed."""
        while self.spawned:
            node_id, attempt, pgid = self.spawned.popleft()
            if node_id in ended or sched.status.get(node_id) != RUNNING or sched.attempts[node_id] != attempt:
                continue
            i = self.launching.pop(node_id, None)
            if i is not None and i < len(self.changes) and self.changes[i].node_id == node_id:
                c = self.changes[i]
                self.changes[i] = Change(node_id, c.fields + (("pgid", pgid),), c.event, c.data, c.attempt)
            else:
                self._note(node_id, None, pgid=pgid)

    def _finished(self, sched: Scheduler, o: Outcome) -> None:
        if sched.status.get(o.node_id) != RUNNING or sched.attempts[o.node_id] != o.attempt:
            return
        node = self.plan.node_by_id[o.node_id]
        before = None if o.ok else {n: sched.status[n] for n in self._downstream(o.node_id)}
        state = sched.finished(o.node_id, o.ok, time.time())
        seconds = o.finished_at - o.started_at
        total = (self.view[o.node_id]["seconds"] or 0.0) + seconds
        self.busy_s += seconds
        outcome = "succeeded" if o.ok else (o.error or f"exit {o.exit_code}")
        self._note(o.node_id, f"attempt-{'ok' if o.ok else 'failed'}",
                   {"attempt": o.attempt, "exit_code": o.exit_code, "error": o.error, "status": state},
                   {"attempt": o.attempt, "started_at": o.started_at, "finished_at": o.finished_at,
                    "exit_code": o.exit_code, "outcome": outcome},
                   status=state, completed_at=o.finished_at if state != PENDING else None,
                   exit_code=o.exit_code, error=None if o.ok else outcome, seconds=total, pgid=None)
        if o.ok:
            self.progress.event(f"succeeded {o.node_id} in {seconds:.2f}s")
            return
        if state == PENDING:
            delay = sched.not_before[o.node_id] - time.time()
            self.progress.event(f"failed {o.node_id} ({outcome}); retry in {max(delay, 0):.1f}s")
            return
        self.progress.event(f"failed {o.node_id} ({outcome})")
        for n, s in before.items():
            if sched.status[n] == SKIPPED and s != SKIPPED:
                self._note(n, SKIPPED, {"after": o.node_id}, status=SKIPPED)
                self.progress.event(f"skipped {n} (after {o.node_id})")
        if node.is_gate and node.on_fail == "rollback":
            self._commit()                     # the failure is on record before anything is undone
            self._rollback(node)

    def _downstream(self, node_id: str) -> set[str]:
        """Everything downstream of a node: what its failure may skip."""
        if node_id not in self._down_cache:
            seen, stack = set(), list(self.plan.dependents[node_id])
            while stack:
                d = stack.pop()
                if d not in seen:
                    seen.add(d)
                    stack.extend(self.plan.dependents[d])
            self._down_cache[node_id] = seen
        return self._down_cache[node_id]

    def _approvals(self, sched: Scheduler) -> None:
        if self.opts.yes:
            approved = set(sched.waiting_set)
        else:
            now = time.monotonic()
            if now - self.last_approval_poll < APPROVAL_POLL_S:
                return
            self.last_approval_poll = now
            approved = self.store.approved(self.run_id)
        for gate in sched.waiting():
            if gate in approved:
                sched.approve(gate)
                self._note(gate, "gate-approved", {"by": "--yes" if self.opts.yes else "lanes approve"},
                           status=SUCCEEDED, completed_at=time.time(), approved=1)
                self.progress.event(f"approved {gate}" + (" (--yes)" if self.opts.yes else ""))

    def _cancel_running(self, sched: Scheduler) -> None:
        """Ctrl-C or SIGTERM: terminate every running process group; what ends on its own
        meanwhile keeps its outcome, the rest is recorded as cancelled."""
        running = set(sched.running())
        self.rollbacks.clear()                 # a rollback under way is cancelled like a task
        self.executor.cancel_all()
        deadline = time.time() + getattr(self.executor, "grace_s", 5.0) + 5
        while (running or self.undoing) and time.time() < deadline:
            self._record_spawned(sched)
            for o in self.executor.wait(0.2):
                if o.node_id.endswith(ROLLBACK) and self.undoing:
                    self._rolled_back(o, go_on=False)
                if o.node_id not in running:
                    continue
                running.discard(o.node_id)
                self.busy_s += o.finished_at - o.started_at
                if o.ok and o.error is None:
                    self._finished(sched, o)
                    continue
                self._note(o.node_id, CANCELLED, {"reason": "interrupted"},
                           {"attempt": o.attempt, "started_at": o.started_at, "finished_at": o.finished_at,
                            "exit_code": o.exit_code, "outcome": "cancelled"},
                           status=CANCELLED, completed_at=o.finished_at, exit_code=o.exit_code,
                           error="cancelled", pgid=None)
                sched.cancel(o.node_id)
        for nid in running:                    # did not end in time: the pgid stays for resume
            sched.cancel(nid)
            self._note(nid, CANCELLED, {"reason": "interrupted"}, status=CANCELLED, completed_at=time.time(),
                       error="cancelled")
        self.progress.event("interrupted: running tasks terminated and recorded as cancelled; "
                            f"continue with `lanes resume {self.run_id}`")

    def _cancel_unstarted(self, sched: Scheduler) -> None:
        """A stopped run: what never started (or waited for an approval) is cancelled."""
        for nid, s in list(sched.status.items()):
            if s not in FINAL and s != RUNNING:
                sched.cancel(nid)
                self._note(nid, CANCELLED, {"reason": "run stopped"}, status=CANCELLED)
                self.progress.event(f"cancelled {nid}")

    # -- rollback -------------------------------------------------------------------------------

    def rollback_targets(self, gate) -> list[str]:
        """See `rollback_targets`, from the store (pull mode calls this with its own view)."""
        return rollback_targets(self.plan, self.store.nodes(self.run_id), gate)

    def _rollback(self, gate) -> None:
        """Queue the rollbacks a failed gate asks for and start the first: they run one at a
        time, newest task first, through the executor (on the cluster with Dask) while the
        loop goes on reaping and recording."""
        self.rollbacks.extend((gate.id, nid) for nid in rollback_targets(self.plan, self.view, gate))
        self._next_rollback()

    def _next_rollback(self) -> None:
        if self.undoing is not None or not self.rollbacks:
            return
        gate_id, nid = self.rollbacks.popleft()
        node = self.plan.node_by_id[nid]
        self.undoing = (gate_id, nid)
        self.progress.event(f"rollback {nid}: {node.rollback}")
        env = _node_env(self.plan, node, self.run_id, 0, self.brief_dir) + (("LANES_ROLLBACK", "1"),
                                                                            ("LANES_GATE", gate_id))
        self.executor.start(Launch(self.run_id, nid + ROLLBACK, 0, node.rollback, self.plan.workdir, env,
                                   self._rollback_log(nid), node.timeout_s))

    def _rollback_log(self, node_id: str) -> str:
        return os.path.join(self.log_dir, f"{node_id}.rollback.log")

    def _rolled_back(self, o: Outcome, go_on: bool = True) -> None:
        """A rollback command ended: on record (an event of its task), then the next one."""
        gate_id, nid = self.undoing
        self.undoing = None
        self._note(nid, "rolled-back", {"gate": gate_id, "exit_code": o.exit_code, "error": o.error})
        if not o.ok:
            why = o.error or f"exit {o.exit_code}"
            self.progress.event(f"rollback of {nid} failed ({why}); see {self._rollback_log(nid)}")
        if go_on:
            self._next_rollback()
