"""The run loop: the scheduler decides, an executor runs, the store records.

Every transition is written before the loop moves on, so a runtime killed at any
moment can be resumed: `prepare_resume` ends the process groups it left behind,
keeps what succeeded (unless its digest changed) and resets the rest.
"""
from __future__ import annotations

from dataclasses import dataclass
import os
import signal
import subprocess
import time

from lanes.compiler.planfile import Plan
from lanes.runtime.dashboard import dashboard, write_dashboard
from lanes.runtime.executor import Launch, Outcome
from lanes.runtime.local import kill_group
from lanes.runtime.scheduler import (CANCELLED, FAILED, PENDING, RUNNING, SKIPPED, SUCCEEDED, WAITING,
                                     Scheduler)
from lanes.runtime.store import Store

DASHBOARD_EVERY_S = 0.1      # at most ten rewrites a second; the final state is always written


@dataclass(frozen=True)
class Options:
    jobs: int
    stages: bool = False
    keep_going: bool = False
    yes: bool = False


class Interrupted(Exception):
    pass


def _node_env(plan: Plan, node, run_id: str, attempt: int, brief_dir: str) -> tuple:
    env = dict(node.env)
    env.update(LANES_RUN_ID=run_id, LANES_TASK=node.id, LANES_AGENT=node.agent or "",
               LANES_ATTEMPT=str(attempt), LANES_WRITES="\n".join(node.writes),
               LANES_READS="\n".join(node.reads))
    if node.agent:
        agent = plan.agent_by_id.get(node.agent)
        if agent is not None:
            env = {**dict(agent.env), **env}
        env["LANES_BRIEF"] = os.path.join(brief_dir, f"{node.agent}.md")
    return tuple(sorted(env.items()))


def write_briefs(plan: Plan, brief_dir: str) -> None:
    from lanes.compiler.brief import render_brief
    os.makedirs(brief_dir, exist_ok=True)
    for a in plan.agents:
        with open(os.path.join(brief_dir, f"{a.id}.md"), "w", encoding="utf-8") as f:
            f.write(render_brief(plan, a.id))


class Driver:
    def __init__(self, plan: Plan, store: Store, run_id: str, options: Options, executor, progress) -> None:
        self.plan, self.store, self.run_id, self.opts = plan, store, run_id, options
        self.executor = executor
        self.progress = progress
        self.run_dir = store.run_dir(run_id)
        self.log_dir = os.path.join(self.run_dir, "logs")
        self.brief_dir = os.path.join(self.run_dir, "briefs")
        self.dashboard_path = os.path.join(self.run_dir, "dashboard.json")
        self.last_dashboard = 0.0
        self.interrupted = False
        self.seconds = {nid: r["seconds"] for nid, r in store.nodes(run_id).items()}
        os.makedirs(self.log_dir, exist_ok=True)

    # -- bookkeeping ------------------------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last_dashboard >= DASHBOARD_EVERY_S:
            self.last_dashboard = now
            write_dashboard(self.dashboard_path, dashboard(self.store.run(self.run_id),
                                                           self.store.nodes(self.run_id)))

    def _record_skips(self, sched: Scheduler, before: dict[str, str]) -> None:
        changes = [(n, s, {}) for n, s in sched.status.items()
                   if s in (SKIPPED, CANCELLED) and before.get(n) != s]
        for n, s, _ in changes:
            self.progress.event(f"{s} {n}")
        self.store.transitions(self.run_id, changes)

    # -- the loop -------------------------------------------------------------------------------

    def run(self, sched: Scheduler) -> bool:
        write_briefs(self.plan, self.brief_dir)
        old_int = signal.signal(signal.SIGINT, self._on_signal)
        old_term = signal.signal(signal.SIGTERM, self._on_signal)
        started = time.time()
        try:
            with self.progress:
                ok = self._loop(sched)
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
        status = "succeeded" if ok else ("cancelled" if self.interrupted else "failed")
        self.store.set_run(self.run_id, status=status, finished_at=time.time())
        self.refresh(force=True)
        self.wall = time.time() - started
        return ok

    def _on_signal(self, signum, frame) -> None:
        self.interrupted = True

    def _loop(self, sched: Scheduler) -> bool:
        by_id = self.plan.node_by_id
        while True:
            now = time.time()
            if self.interrupted:
                self._cancel_running(sched)
                return False
            if self.opts.yes or sched.waiting():
                self._approvals(sched)
            before = dict(sched.status)
            for nid in sched.next_launches(now):
                self._launch(sched, by_id[nid])
            newly_waiting = [n for n in sched.waiting() if before.get(n) != WAITING]
            for n in newly_waiting:
                self.store.transition(self.run_id, n, WAITING, started_at=time.time())
                self.progress.event(f"waiting {n}: {by_id[n].approve}  (lanes approve {self.run_id} {n})")
            if self.opts.yes and newly_waiting:
                continue
            self.progress.update(sched)
            if sched.done:
                break
            wake = sched.next_wake()
            timeout = 0.2 if wake is None else max(0.0, min(0.2, wake - time.time()))
            for outcome in self.executor.wait(timeout):
                self._finished(sched, outcome)
            self.refresh()
        before = dict(sched.status)
        for nid, s in sched.status.items():          # not started because the run stopped
            if s in (PENDING, "ready"):
                sched.cancel(nid)
        self._record_skips(sched, before)
        return not sched.failed_run and all(s == SUCCEEDED or (s == FAILED and by_id[n].is_gate)
                                            for n, s in sched.status.items())

    def _launch(self, sched: Scheduler, node) -> None:
        attempt = sched.attempts[node.id]
        now = time.time()
        self.store.transition(self.run_id, node.id, RUNNING, data={"attempt": attempt},
                              attempts=attempt, started_at=now, completed_at=None, exit_code=None,
                              error=None, pgid=None)
        self.progress.event(f"started {node.id}" + (f" ({node.agent}" if node.agent else " (gate")
                            + f", attempt {attempt})")
        self.executor.start(Launch(
            self.run_id, node.id, attempt, node.run, self.plan.workdir,
            _node_env(self.plan, node, self.run_id, attempt, self.brief_dir),
            os.path.join(self.log_dir, f"{node.id}.log"), node.timeout_s))

    def on_started(self, node_id: str, attempt: int, pgid: int | None) -> None:
        """Executors call this once the process group exists: recorded for crash recovery."""
        self.store.transition(self.run_id, node_id, RUNNING, event="spawned", data={"pgid": pgid},
                              pgid=pgid)

    def _finished(self, sched: Scheduler, o: Outcome) -> None:
        node = self.plan.node_by_id[o.node_id]
        if self.interrupted or sched.status.get(o.node_id) != RUNNING:
            return
        before = dict(sched.status)
        state = sched.finished(o.node_id, o.ok, time.time())
        seconds = o.finished_at - o.started_at
        self.seconds[o.node_id] = self.seconds.get(o.node_id, 0.0) + seconds
        outcome = "succeeded" if o.ok else (o.error or f"exit {o.exit_code}")
        self.store.transition(
            self.run_id, o.node_id, state, event=f"attempt-{'ok' if o.ok else 'failed'}",
            data={"attempt": o.attempt, "exit_code": o.exit_code, "error": o.error},
            attempt_row={"attempt": o.attempt, "started_at": o.started_at, "finished_at": o.finished_at,
                         "exit_code": o.exit_code, "outcome": outcome},
            completed_at=o.finished_at if state != PENDING else None, exit_code=o.exit_code,
            error=None if o.ok else outcome, seconds=self.seconds[o.node_id], pgid=None)
        if o.ok:
            self.progress.event(f"succeeded {o.node_id} in {seconds:.2f}s")
        elif state == PENDING:
            delay = sched.not_before[o.node_id] - time.time()
            self.progress.event(f"failed {o.node_id} ({outcome}); retry in {max(delay, 0):.1f}s")
        else:
            self.progress.event(f"failed {o.node_id} ({outcome})")
            if node.is_gate and node.on_fail == "rollback":
                self._rollback(node)
        self._record_skips(sched, before)
        self.refresh()

    def _approvals(self, sched: Scheduler) -> None:
        approved = self.store.approved(self.run_id)
        for gate in sched.waiting():
            if self.opts.yes or gate in approved:
                sched.approve(gate)
                now = time.time()
                self.store.transition(self.run_id, gate, SUCCEEDED, event="gate-approved",
                                      completed_at=now, approved=1)
                self.progress.event(f"approved {gate}" + (" (--yes)" if self.opts.yes else ""))

    def _cancel_running(self, sched: Scheduler) -> None:
        running = sched.running()
        self.executor.cancel_all()
        deadline = time.time() + 10
        left = set(running)
        while left and time.time() < deadline:
            for o in self.executor.wait(0.2):
                left.discard(o.node_id)
        for nid in running:
            sched.cancel(nid)
        self.store.transitions(self.run_id, [(n, CANCELLED, {"pgid": None, "completed_at": time.time()})
                                             for n in running], {"reason": "interrupted"})
        self.progress.event("interrupted: running tasks terminated and recorded as cancelled; "
                            f"continue with `lanes resume {self.run_id}`")

    # -- rollback -------------------------------------------------------------------------------

    def rollback_targets(self, gate) -> list[str]:
        """Succeeded tasks upstream of the gate since the previous gate, newest first."""
        by_id = self.plan.node_by_id
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
        rows = self.store.nodes(self.run_id)
        done = [t for t in tasks if rows[t]["status"] == SUCCEEDED and by_id[t].rollback]
        return sorted(done, key=lambda t: rows[t]["completed_at"] or 0, reverse=True)

    def _rollback(self, gate) -> None:
        for nid in self.rollback_targets(gate):
            node = self.plan.node_by_id[nid]
            log = os.path.join(self.log_dir, f"{nid}.rollback.log")
            self.progress.event(f"rollback {nid}: {node.rollback}")
            with open(log, "ab") as f:
                r = subprocess.run(["bash", "-c", node.rollback], cwd=self.plan.workdir, stdout=f,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, **dict(node.env), "LANES_RUN_ID": self.run_id,
                                        "LANES_TASK": nid, "LANES_ROLLBACK": "1"})
            self.store.event(self.run_id, nid, "rolled-back", {"gate": gate.id, "exit_code": r.returncode})


# -- resume -------------------------------------------------------------------------------------

def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def runtime_alive(run_row) -> bool:
    return run_row["pid"] is not None and run_row["pid"] != os.getpid() and _alive(run_row["pid"])


def prepare_resume(store: Store, run_id: str, plan: Plan, grace_s: float = 5.0) -> dict[str, str]:
    """End the process groups a dead runtime left, keep what succeeded (unless its digest
    changed, then it and its downstream rerun), reset the rest; returns the states."""
    store.ensure_nodes(run_id, plan)
    rows = store.nodes(run_id)
    for nid, r in rows.items():
        if r["status"] == RUNNING and r["pgid"]:
            kill_group(r["pgid"], grace_s)
            store.event(run_id, nid, "orphan-killed", {"pgid": r["pgid"]})
    changed = {n.id for n in plan.nodes if n.id in rows and rows[n.id]["digest"] != n.digest}
    stack = list(changed)
    while stack:
        nid = stack.pop()
        for d in plan.dependents[nid]:
            if d not in changed:
                changed.add(d)
                stack.append(d)
    states, changes = {}, []
    for n in plan.nodes:
        r = rows.get(n.id)
        keep = r is not None and r["status"] == SUCCEEDED and n.id not in changed
        states[n.id] = SUCCEEDED if keep else PENDING
        if not keep:
            changes.append((n.id, PENDING, {"attempts": 0, "pgid": None, "digest": n.digest,
                                            "agent": n.agent, "approved": 0}))
    store.transitions(run_id, changes, {"reason": "resume"})
    return states
