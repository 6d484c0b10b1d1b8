"""The one owner of a run's state: every driver changes a run through a `Run`.

A `Run` holds the plan, the scheduler that decides, the in-memory view of the
nodes (what the dashboard, the summary and rollbacks read) and the batch of
transitions not yet committed. The local loop and the Dask loop (lanes.runtime.driver)
ask it what to start and tell it what ended; the pull-mode operations
(lanes.runtime.pull) do the same inside one exclusive transaction each.

The durability rule of SPEC section 7 lives here, in one place: a batch is
committed before anything that depends on it starts. `launches()` commits before
it hands out a command that needs a success not yet committed, and before every
rollback (a gate's failure and the rollbacks it plans are on disk before the first
one runs). Every other transition is grouped and committed at most GROUP_S later
(`commit_due`). An attempt's number must be on disk before its command starts (so
a crash never lets two attempts share a LANES_ATTEMPT): each launch is first
appended to the run's `launched` journal, one write per turn, which resume reads.
SQLite's WAL with synchronous=NORMAL and that append survive the death of the
process alike (the page cache keeps both); a commit per launch would cost a
transaction on every turn of the loop.

Resume (`Run.resume`): the process groups the dead runtime left are ended (found
by the run's key, unique across state directories), unfinished rollbacks are run
first (a finished one never again), then what had not succeeded reruns, and so do
rolled-back tasks, nodes whose digest changed, and everything downstream of them.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from operator import itemgetter
import os
import random
import sqlite3
import time
from typing import TYPE_CHECKING, NamedTuple, Protocol

from lanes.compiler.planfile import Plan, PlanNode, from_json as plan_from_json
from lanes.runtime.dashboard import LiveDashboard, Writer, write_dashboard
from lanes.runtime.executor import Launch, Outcome
from lanes.runtime.git import WorkspaceError
from lanes.runtime.isolation import Allowed, Isolation, worktree_run
from lanes.runtime.scheduler import Scheduler
from lanes.runtime.states import FINAL, State
from lanes.runtime.store import Batch, Change, Row, Store, StoreError, change, process_start

if TYPE_CHECKING:
    from lanes.runtime.agent_output import AgentResult

GROUP_S = 0.02               # other commits are grouped for at most 20 ms (SPEC section 7)
DASHBOARD_EVERY_S = 0.2      # at most five rewrites a second; the final state is always written
ADDITIONS_POLL_S = 0.05     # how often a run loop looks for tasks `lanes add` added
APPROVAL_POLL_S = 0.2        # how often a waiting gate looks for `lanes approve` / `lanes reject`
ROLLBACK = ".rollback"       # executor key suffix of a rollback: ids hold no dot, so no node has it
RESET = "(git) reset"        # the command of a worktree rollback row: done by lanes, not a shell
JOURNAL = "launched"         # runs/RUN_ID/launched: "NODE ATTEMPT" per launch, appended before it starts
VIEW_FIELDS = ("status", "agent", "attempts", "started_at", "completed_at", "seconds", "error",
               "decision", "decided_by", "decision_note", "waited_s", "changed", "merge_before", "cost_usd")
_STATE = {s.value: s for s in State}     # State(text), without the Enum call
FINAL_CHARS = 2000           # of an agent's final message kept per attempt
TAIL_LINES = 5               # of a failed attempt's output shown where the failure is reported


class Options(NamedTuple):
    jobs: int | None = None       # None: no limit beyond the agent lanes
    stages: bool = False
    keep_going: bool = False
    yes: bool = False


class Observer(Protocol):
    def event(self, text: str) -> None: ...


class _Silent:
    def event(self, text: str) -> None:
        pass


def new_run_key() -> str:
    """The run's identity across state directories (its id is only unique within one)."""
    return os.urandom(16).hex()


def runtime_alive(run_row: Row) -> bool:
    """Is the runtime that owns this run still running (the same process: pid and start time)?"""
    pid = run_row["pid"]
    if not isinstance(pid, int) or not pid or pid == os.getpid():
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


def not_resumable(row: Row) -> str | None:
    """Why `lanes resume` must not take this run over (None: it may)."""
    if row["mode"] != "run":
        return f"run {row['run_id']} is a pull-mode run; its agents claim tasks with `lanes claim`"
    if runtime_alive(row):
        return f"run {row['run_id']} is in progress (runtime pid {row['pid']})"
    return None


def up_to_date(store: Store, run_id: str, plan: Plan) -> bool:
    """The run succeeded and the plan has not changed since: resuming has nothing to do."""
    nodes = store.nodes(run_id)
    return store.run(run_id)["status"] == "succeeded" and set(nodes) == set(plan.node_by_id) and all(
        r["status"] == State.SUCCEEDED and r["digest"] == plan.node_by_id[nid].digest for nid, r in nodes.items())


def downstream(plan: Plan, roots: Iterable[str]) -> set[str]:
    """The roots and everything that depends on them."""
    out = set(roots)
    stack = list(out)
    while stack:
        for d in plan.dependents[stack.pop()]:
            if d not in out:
                out.add(d)
                stack.append(d)
    return out


def upstream_since_gate(plan: Plan, gate: PlanNode) -> list[str]:
    """The tasks upstream of a gate since the previous gate (the walk stops at gates)."""
    by_id = plan.node_by_id
    seen: set[str] = set()
    stack, tasks = list(gate.needs), []
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
    return tasks


def rollback_targets(plan: Plan, status: Mapping[str, object], completed: Mapping[str, float | None],
                     gate: PlanNode) -> list[str]:
    """The tasks a failed rollback gate undoes: those upstream of it that succeeded since
    the previous gate and have a `rollback`, newest first."""
    by_id = plan.node_by_id
    done = [t for t in upstream_since_gate(plan, gate) if status[t] == State.SUCCEEDED and by_id[t].rollback]
    return sorted(done, key=lambda t: completed[t] or 0.0, reverse=True)


def _created_view(plan: Plan) -> dict[str, dict[str, object]]:
    """The view of a run `Store.create_run` has just written: each node pending with no
    attempt, every other column at its default (tests/test_run_view.py holds this to
    what the database gives back)."""
    blank: dict[str, object] = dict.fromkeys(VIEW_FIELDS)
    blank.update(status="pending", attempts=0, seconds=0.0, waited_s=0.0, cost_usd=0.0)
    return {n.id: {**blank, "agent": n.agent} for n in plan.nodes}


def briefs_dir(run_dir: str) -> str:
    """Where a run's agents' briefs are: `AGENT.md` each."""
    return os.path.join(run_dir, "briefs")


def _view_of(plan: Plan, rows: Mapping[str, Row]) -> dict[str, dict[str, object]]:
    """The dashboard's fields of each node's row. An sqlite3.Row finds a column by name
    with a scan of its columns, so rows of the store are read by position."""
    first = next((r for r in rows.values() if type(r) is sqlite3.Row), None)
    pick = itemgetter(*map(first.keys().index, VIEW_FIELDS)) if first is not None else None
    view = {}
    for n in plan.nodes:
        r = rows[n.id]
        view[n.id] = (dict(zip(VIEW_FIELDS, pick(r))) if pick is not None and type(r) is sqlite3.Row
                      else {k: r[k] for k in VIEW_FIELDS})
    return view


class Run:
    """One run of one plan. `Run.create` makes a new one, `Run.resume` takes a stopped one
    over, `Run.attach` (pull mode) reads one that other processes also change."""

    def __init__(self, store: Store, run_id: str, plan: Plan, options: Options,
                 observer: Observer | None = None, row: Row | None = None,
                 rows: Mapping[str, Row] | None = None, scheduler: bool = True,
                 allowed: Allowed | None = None, created: bool = False) -> None:
        self.store, self.run_id, self.plan, self.opts = store, run_id, plan, options
        self.observer: Observer = observer or _Silent()
        if row is None:
            row = store.run(run_id)
        self.run_key = str(row["run_key"] or "")
        self.plan_version = int(row["plan_version"] or 0) if "plan_version" in row.keys() else 0
        self.last_look = time.monotonic()     # for tasks that `lanes add` adds
        self.mode = str(row["mode"])
        self.run_dir = store.run_dir(run_id)
        self.log_dir = os.path.join(self.run_dir, "logs")
        self.brief_dir = briefs_dir(self.run_dir)
        self.dashboard_path = os.path.join(self.run_dir, "dashboard.json")
        self.run_row: dict[str, object] = {"run_id": run_id, "workflow": row["workflow"],
                                           "started_at": row["started_at"], "status": row["status"]}
        self.view: dict[str, dict[str, object]]
        if rows is None and created:
            self.view = _created_view(plan)          # what create_run just wrote, not read back
            rows = self.view
        else:
            if rows is None:
                rows = store.nodes(run_id)
            self.view = _view_of(plan, rows)
        self.rollback_view: dict[tuple[int, int], dict[str, object]] = {
            (int(r["round"]), int(r["ord"])): dict(r) for r in store.rollbacks(run_id)}
        self.board = LiveDashboard(self.run_row, self.view, self.rollback_view)
        self.batch = Batch()
        self.first_uncommitted: float | None = None
        # env() of an agent's tasks, all but the task's own LANES_* variables
        self.agent_envs: dict[str | None, tuple[tuple[str, str], ...]] = {}
        self.offsets: dict[tuple[str, int], int] = {}   # (node, attempt) -> where its log output begins
        self.uncommitted_ok: set[str] = set()     # successes (and passed gates) not yet on disk
        self.deferred: list[tuple[Outcome, State, float]] = []   # ends whose record waits (`finished`)
        # launches not yet recorded: node -> (attempt, at, log offset, agent, process group once started)
        self.starts: dict[str, tuple[int, float, int, str | None, int | None]] = {}
        self.journal: int | None = None           # the `launched` journal, opened at the first launch
        self.rollbacks: deque[dict[str, object]] = deque()   # rollback rows still to run, in order
        self.undoing: dict[str, object] | None = None        # the rollback row whose command runs
        self.waiting_since: dict[str, float] = {}
        self.last_dashboard = 0.0
        self.writer: Writer | None = None
        self.last_poll = 0.0
        self.dirty = True
        self.busy_s = 0.0                  # summed attempt time in this session
        self.host = os.uname().nodename           # gethostname(), without loading socket
        self.spent = 0.0 if created else sum(_number(v["cost_usd"]) for v in self.view.values())
        self.isolation: Isolation | None = None
        if worktree_run(plan):
            if allowed is None:
                raise StoreError("a worktree run needs the matcher of its tasks' writes (internal: allowed=)")
            try:
                self.isolation = Isolation(plan, self.run_dir, run_id, allowed)
            except WorkspaceError as exc:
                raise StoreError(f"workspace: worktree: {exc}") from None
        if scheduler:                          # (pull mode builds its own from the rows)
            self.sched = self._scheduler_from_rows(rows, fresh=True)

    # -- opening --------------------------------------------------------------------------------

    @classmethod
    def create(cls, store: Store, plan: Plan, run_id: str, plan_text: str, source_path: str | None,
               mode: str, options: Options, briefs: Mapping[str, str] | None,
               observer: Observer | None = None, allowed: Allowed | None = None) -> Run:
        """A new run, with the agents' briefs (rendered by the caller from the plan; None:
        the caller writes them into `briefs_dir` before the first launch). A worktree run
        creates its integration branch at HEAD (`allowed`: the matcher of a task's writes,
        which worktree mode enforces)."""
        store.create_run(run_id, new_run_key(), plan, plan_text, source_path, mode,
                         {"jobs": options.jobs, "stages": options.stages, "keep_going": options.keep_going})
        run = cls(store, run_id, plan, options, observer, allowed=allowed, created=True)
        run.write_briefs(briefs)
        if run.isolation is not None:
            try:
                base = run.isolation.begin()
            except WorkspaceError as exc:
                raise StoreError(f"workspace: worktree: {exc}") from None
            store.event(run_id, None, "integration-branch", {"branch": run.isolation.ws.branch, "base": base})
        run.refresh(force=True)
        return run

    @classmethod
    def resume(cls, store: Store, run_id: str, plan: Plan, options: Options, briefs: Mapping[str, str] | None,
               end_groups: Callable[[str, Iterable[int]], list[int]],
               observer: Observer | None = None, allowed: Allowed | None = None) -> Run:
        """Take over a stopped run (the caller has made this process its runtime with
        `store.take_over`): end what the dead runtime left running (`end_groups(run_key,
        recorded_pgids)` returns the groups it ended), finish its unfinished rollbacks,
        keep what succeeded unless its digest changed or it was rolled back, rerun the rest."""
        if not store.run(run_id)["run_key"]:
            store.set_run_key(run_id, new_run_key())
        store.ensure_nodes(run_id, plan)
        rows = store.nodes(run_id)
        gone = [nid for nid in rows if nid not in plan.node_by_id]
        if gone:
            store.forget_nodes(run_id, gone)
        run = cls(store, run_id, plan, options, observer, allowed=allowed)
        run.write_briefs(briefs)
        if run.isolation is not None:
            try:
                run.isolation.begin()          # the integration branch exists: kept as it is
            except WorkspaceError as exc:
                raise StoreError(f"workspace: worktree: {exc}") from None
        recorded = [int(r["pgid"]) for r in rows.values()
                    if r["status"] in (State.RUNNING, State.CANCELLED, State.WAITING) and r["pgid"]]
        for pgid in end_groups(run.run_key, recorded):
            store.event(run_id, None, "orphan-killed", {"pgid": pgid})
        undo = [dict(r) for r in store.rollbacks(run_id)
                if r["status"] in ("pending", "running", "cancelled") and r["node_id"] in plan.node_by_id]
        run.rollbacks.extend(undo)
        changed = {n.id for n in plan.nodes if rows[n.id]["digest"] != n.digest}
        again = {n.id for n in plan.nodes if rows[n.id]["status"] == State.ROLLED_BACK}
        again |= {str(r["node_id"]) for r in undo}
        rerun = downstream(plan, changed | again)
        batch = Batch()
        if run.isolation is not None:          # merged just before a crash: its work is in, keep it
            for n in plan.nodes:
                r = rows[n.id]
                if not n.is_gate and r["status"] != State.SUCCEEDED and n.id not in rerun and \
                        n.workspace == "worktree" and run.isolation.merged(n.id):
                    batch.changes.append(change(n.id, "merged-before-crash", None, status=State.SUCCEEDED,
                                                completed_at=time.time()))
            store.apply(run_id, batch)
            rows = store.nodes(run_id)
            batch = Batch()
        for nid, attempt in _journal_attempts(os.path.join(run.run_dir, JOURNAL)).items():
            if nid in rows and attempt > int(rows[nid]["attempts"]):     # started, never recorded
                batch.changes.append(change(nid, "attempt-lost", {"attempt": attempt},
                                            {"attempt": attempt, "outcome": "lost: the runtime died first"},
                                            attempts=attempt))
        for n in plan.nodes:
            r = rows[n.id]
            keep = r["status"] == State.SUCCEEDED and n.id not in rerun
            undone_later = n.id in again and r["status"] == State.SUCCEEDED
            if keep or undone_later:
                continue               # a task still to be rolled back stays succeeded until it is
            batch.changes.append(change(n.id, "reset", {"reason": "resume", "was": r["status"]},
                                        status=State.PENDING, pgid=None, digest=n.digest, agent=n.agent,
                                        approved=0, started_at=None, completed_at=None, exit_code=None,
                                        error=None, decision=None, decided_by=None, decision_note=None,
                                        decided_at=None, lease_token=None, lease_expires_at=None))
        store.apply(run_id, batch)
        rows = store.nodes(run_id)
        for nid, r in rows.items():
            if nid in run.view:
                run.view[nid].update({k: r[k] for k in VIEW_FIELDS})
                run.board.touch(nid)
        status = {nid: (State.SUCCEEDED if r["status"] == State.SUCCEEDED and nid not in rerun else State.PENDING)
                  for nid, r in rows.items() if nid in plan.node_by_id}
        attempts = {nid: int(r["attempts"]) for nid, r in rows.items() if nid in plan.node_by_id}
        run.sched = Scheduler(plan, options.jobs, options.stages, options.keep_going, status=status,
                              attempts=attempts, tries_before=dict(attempts))
        run.sched.halted = run.over_budget()
        if run.sched.halted and plan.max_budget_usd is not None:
            run.observer.event(f"budget already spent: ${run.spent:.2f} of ${plan.max_budget_usd:.2f}; no agent "
                               "task starts (resume with a higher max_budget_usd)")
        run.run_row["status"] = "running"
        run.refresh(force=True)
        return run

    def write_briefs(self, briefs: Mapping[str, str] | None) -> None:
        """`briefs/AGENT.md` for every agent, what LANES_BRIEF points at (None: the caller's)."""
        if briefs is None:
            return
        os.makedirs(self.brief_dir, exist_ok=True)
        for agent_id, text in briefs.items():
            with open(os.path.join(self.brief_dir, f"{agent_id}.md"), "w", encoding="utf-8") as f:
                f.write(text)

    def _scheduler_from_rows(self, rows: Mapping[str, Row], fresh: bool = False) -> Scheduler:
        """The scheduler in the state the rows describe, for pull mode (where other processes
        change the run between operations): leased nodes hold their lane, nodes waiting
        out a backoff are started and failed at the time they failed, failures stop the
        run as `fail` decided when they came."""
        plan = self.plan
        status = {nid: _STATE.get(r["status"]) or State(str(r["status"])) for nid, r in rows.items()
                  if nid in plan.node_by_id}
        if fresh:
            sched = Scheduler(plan, self.opts.jobs, self.opts.stages, self.opts.keep_going, status=status)
            sched.halted = self.over_budget()
            return sched
        failures = self.store.failures(self.run_id)
        backoff = [nid for nid in failures if status.get(nid) == State.PENDING]
        for nid in backoff:                     # not queued on construction: they wait for their time
            status[nid] = State.RUNNING
        sched = Scheduler(plan, None, self.opts.stages, self.opts.keep_going, status=status,
                          attempts={nid: n for nid, (n, _) in failures.items()})
        sched.halted = self.over_budget()
        for nid in backoff:
            sched.rng = _jitter_rng(self.run_id, nid, failures[nid][0])
            sched.finished(nid, False, failures[nid][1])
        for nid, s in status.items():
            if s == State.RUNNING and nid not in backoff:
                sched.started(nid)              # its lane and slot are held; attempts + 1
        by_id = plan.node_by_id
        for nid, s in status.items():
            n = by_id[nid]
            if s == State.FAILED and not (n.is_gate and n.on_fail == "continue"):
                sched.failed_run = True
                if not self.opts.keep_going or n.is_gate:
                    sched.stopping = True
        return sched

    # -- recording ------------------------------------------------------------------------------

    def note(self, node_id: str, event: str | None, data: Mapping[str, object] | None = None,
             attempt: Mapping[str, object] | None = None, /, **fields: object) -> None:
        """Queue one transition for the next commit and show it in the view at once."""
        self.batch.changes.append(Change(node_id, fields, event, data, attempt))
        view = self.view[node_id]
        for k, v in fields.items():
            if k in view:
                view[k] = v
        self.board.touch(node_id)
        self.dirty = True
        if self.first_uncommitted is None:
            self.first_uncommitted = time.monotonic()

    def record_rollback(self, row: dict[str, object]) -> None:
        """Queue a rollback row (planned, started, ended) for the next commit and the view."""
        self.batch.rollbacks.append(row)
        self.rollback_view[(int(str(row["round"])), int(str(row["ord"])))] = row
        self._dirtied()

    def _dirtied(self) -> None:
        self.dirty = True
        if self.first_uncommitted is None:
            self.first_uncommitted = time.monotonic()

    def commit(self) -> set[str]:
        """Put every queued transition on disk, in one transaction; the nodes it changed."""
        self.record_deferred()
        changed: set[str] = set()
        if self.batch:
            batch, self.batch = self.batch, Batch()
            self.store.apply(self.run_id, batch)
            changed = {c.node_id for c in batch.changes}
        self.first_uncommitted = None
        self.uncommitted_ok.clear()
        return changed

    def commit_due(self) -> float | None:
        """Seconds until the queued transitions must be committed (None: nothing queued)."""
        if self.first_uncommitted is None:
            return None
        return max(0.0, self.first_uncommitted + GROUP_S - time.monotonic())

    def commit_if_due(self) -> None:
        due = self.commit_due()
        if due is not None and due <= 0:
            self.commit()

    def refresh(self, force: bool = False) -> None:
        """Rewrite the dashboard (at most every DASHBOARD_EVERY_S unless forced): in the
        background while a driver runs the loop (`background`), else at once."""
        now = time.monotonic()
        self.record_deferred()
        if force or (self.dirty and now - self.last_dashboard >= DASHBOARD_EVERY_S):
            self.last_dashboard = now
            self.dirty = False
            if self.writer is not None:
                self.writer.put(self.board.text())
                self._writer_error(self.writer)
                return
            try:
                write_dashboard(self.dashboard_path, self.board.text())
            except OSError as exc:
                self.observer.event(f"cannot write {self.dashboard_path}: {exc.strerror or exc}")

    def _writer_error(self, writer: Writer) -> None:
        """Say so when a write in the background failed (as a failed write at once does)."""
        exc = writer.take_error()
        if exc is not None:
            self.observer.event(f"cannot write {self.dashboard_path}: {exc.strerror or exc}")

    def background(self) -> None:
        """Dashboard writes from here on happen in a thread of their own (until `close`)."""
        if self.writer is None:
            self.writer = Writer(self.dashboard_path)

    def dashboard_due(self) -> float | None:
        if not self.dirty:
            return None
        return max(0.0, DASHBOARD_EVERY_S - (time.monotonic() - self.last_dashboard))

    # -- what to start ----------------------------------------------------------------------------

    def log_path(self, node_id: str) -> str:
        return f"{self.log_dir}/{node_id}.log"        # os.path.join's result (an id is one name)

    def rollback_log(self, node_id: str) -> str:
        return os.path.join(self.log_dir, f"{node_id}.rollback.log")

    def env(self, node: PlanNode, attempt: int) -> tuple[tuple[str, str], ...]:
        """What lanes adds to a command's environment: the agent's env, the node's env, and
        the LANES_* variables of SPEC section 7 (LANES_RUN_KEY finds its processes)."""
        base = self.agent_envs.get(node.agent) if not node.env else None
        if base is None:               # (the common case: the agent's, made once)
            base = self._env_of(node, node.env)
            if not node.env:
                self.agent_envs[node.agent] = base
        return (*base, ("LANES_TASK", node.id), ("LANES_WRITES", "\n".join(node.writes)),
                ("LANES_READS", "\n".join(node.reads)), ("LANES_ATTEMPT", str(attempt)))

    def _env_of(self, node: PlanNode, node_env: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        """The agent's env, the node's, and the run's LANES_* variables (not the task's own)."""
        agent = self.plan.agent_by_id.get(node.agent or "")
        env = dict(agent.env) if agent else {}
        env.update(node_env)
        for own in ("LANES_TASK", "LANES_WRITES", "LANES_READS", "LANES_ATTEMPT"):
            env.pop(own, None)
        env.update(LANES_RUN_ID=self.run_id, LANES_RUN_KEY=self.run_key, LANES_AGENT=node.agent or "")
        if node.agent:
            env["LANES_BRIEF"] = os.path.join(self.brief_dir, f"{node.agent}.md")
        return tuple(env.items())

    def launches(self, now: float | None = None) -> list[Launch]:
        """What to start now (tasks and run gates; approval gates start waiting instead, and
        rollbacks run one at a time before anything else), committed before it is returned."""
        now = time.time() if now is None else now
        if self.rolling_back:
            out = self._next_rollback(now)
        else:
            out = []
            while True:
                self._decisions(now)
                before = set(self.sched.waiting_set)
                out += [x for nid in self.sched.next_launches(now) if (x := self._launch(nid, now)) is not None]
                newly = sorted(self.sched.waiting_set - before, key=self.sched.rank.__getitem__)
                for gate in newly:
                    self.waiting_since[gate] = now
                    self.note(gate, "waiting", status=State.WAITING, started_at=now)
                    self.observer.event(f"waiting {gate}: {self.plan.node_by_id[gate].approve}  "
                                        f"(lanes approve {self.run_id} {gate}, or lanes reject)")
                    if self.opts.yes:
                        self._decide(gate, "approved", "--yes", None, now)
                if not (self.opts.yes and newly) or self.rolling_back:
                    break                       # with --yes, go on with what the approvals released
        if out:
            self._journal(out)
            by_id = self.plan.node_by_id
            if self.rolling_back or any(u in self.uncommitted_ok for launch in out
                                        for u in by_id[launch.node_id].needs):
                self.commit()
        return out

    def _journal(self, launches: list[Launch]) -> None:
        lines = "".join(f"{x.node_id} {x.attempt}\n" for x in launches if not x.node_id.endswith(ROLLBACK))
        if not lines:
            return
        if self.journal is None:
            self.journal = os.open(os.path.join(self.run_dir, JOURNAL), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(self.journal, lines.encode())
        except OSError as exc:       # the journal is what keeps attempt numbers apart: commit instead
            self.observer.event(f"cannot append to {JOURNAL}: {exc.strerror or exc}; recording each launch")
            self.commit()

    def _launch(self, node_id: str, now: float) -> Launch | None:
        node = self.plan.node_by_id[node_id]
        attempt = self.sched.attempts[node_id]
        cwd: str = self.plan.workdir
        extra: tuple[tuple[str, str], ...] = ()
        if self.isolation is not None:
            try:
                place = self.isolation.enter(node, attempt)
            except (WorkspaceError, OSError) as exc:
                self._not_launched(node_id, attempt, now, f"cannot prepare its worktree: {exc}")
                return None
            if place is not None:
                cwd, extra = place
        if node.prompt is not None:
            try:
                extra += self.agent_env(node, attempt)
            except OSError as exc:
                self._not_launched(node_id, attempt, now, f"cannot write its prompt file: {exc}")
                return None
        log = self.log_path(node_id)
        offset = 0                             # a first attempt has no log yet (the journal
        if attempt > 1:                        # keeps attempt numbers unique across crashes)
            try:
                offset = os.stat(log).st_size
            except OSError:
                pass
        self.offsets[(node_id, attempt)] = offset
        self.starts[node_id] = (attempt, now, offset, node.agent, None)    # recorded once it runs
        return Launch(self.run_id, node_id, attempt, node.command or node.run or "true", cwd,
                      self.env(node, attempt) + extra, log, node.timeout_s)

    def _not_launched(self, node_id: str, attempt: int, now: float, error: str) -> None:
        """An attempt that could not be set up: started and failed at once (a retry may follow)."""
        self.note(node_id, "started", {"attempt": attempt}, {"attempt": attempt, "started_at": now},
                  status=State.RUNNING, attempts=attempt, started_at=now)
        self.finished(Outcome(node_id, attempt, None, False, False, error, now, time.time()))

    # -- coding agents ----------------------------------------------------------------------------

    def agent_env(self, node: PlanNode, attempt: int) -> tuple[tuple[str, str], ...]:
        """A coding-agent attempt's prompt file (`LANES_PROMPT`) and, for a retry, the tool's
        session to resume (`LANES_SESSION`, which the plan's command uses where the tool can)."""
        folder = os.path.join(self.run_dir, "prompts")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{node.id}.{attempt}.md")
        with open(path, "w", encoding="utf-8") as f:
            f.write(node.prompt or "")
        env: tuple[tuple[str, str], ...] = (("LANES_PROMPT", path),)
        if attempt > 1:
            self.commit()                      # the last attempt's session is in the batch
        session = self.store.last_session(self.run_id, node.id) if attempt > 1 else None
        if session:
            env += (("LANES_SESSION", session),)
        return env

    def agent_result(self, o: Outcome) -> AgentResult:
        """What the tool reported in this attempt's part of the log."""
        start = self._log_offset(o.node_id, o.attempt)
        try:
            with open(self.log_path(o.node_id), "rb") as f:
                f.seek(start if isinstance(start, int) else 0)
                text = f.read(64 << 20)
        except OSError:
            text = b""
        from lanes.runtime.agent_output import parse_agent_output  # agent tasks only
        return parse_agent_output(text, self.plan.node_by_id[o.node_id].runner)

    def over_budget(self) -> bool:
        """What the run has spent has reached its `max_budget_usd`: no agent task starts."""
        budget = self.plan.max_budget_usd
        return budget is not None and self.spent >= budget

    @property
    def budget_spent(self) -> bool:
        """The budget stopped the agent tasks (the scheduler's `halted`, which only it sets)."""
        return self.sched.halted

    def _check_budget(self) -> None:
        budget = self.plan.max_budget_usd
        if budget is not None and self.spent >= budget and not self.sched.halted:
            self.sched.halted = True
            self.batch.run_events.append(("budget-reached", {"spent_usd": round(self.spent, 6), "budget_usd": budget}))
            self.observer.event(f"budget reached: ${self.spent:.2f} of ${budget:.2f}; no more agent tasks start "
                                f"(running ones finish; resume with a higher max_budget_usd)")

    def started(self, node_id: str, attempt: int, pgid: int | None) -> None:
        """An executor started a command (pgid for crash recovery), committed with the next
        batch: with the record of its start when that is still to be made."""
        if pgid is not None and self.sched.status.get(node_id) == State.RUNNING and \
                self.sched.attempts[node_id] == attempt:
            pending = self.starts.get(node_id)
            if pending is not None:
                self.starts[node_id] = (*pending[:4], pgid)
                return
            self.batch.changes.append(Change(node_id, {"pgid": pgid}, None, None, None))   # no view shows it
            self._dirtied()

    # -- outcomes ---------------------------------------------------------------------------------

    def finished(self, o: Outcome, worker: str | None = None, leased: bool = False, defer: bool = False) -> None:
        """An attempt ended: its record, the retry or the cascade it causes, the rollbacks a
        failed rollback gate plans (all in the batch; `launches` commits it first). An
        outcome of an attempt that is not the node's current one is dropped, unless
        `leased` (pull mode: the lease's token proved it current; expired leases are
        attempts that use up no retry, so the numbers differ).

        With `defer` (the run loop), a plain command's success only tells the scheduler
        here; its record and its event line wait in `deferred` until the loop has started
        what the end lets start (`record_deferred`): on an idle machine a process wakes
        slowly, and this is most of what stood between one task's end and the next start.
        A launch that needs the success still finds it on disk first: `launches` commits,
        and `commit` records what was deferred."""
        if o.node_id.endswith(ROLLBACK):
            self._rollback_finished(o)
            return
        sched = self.sched
        if sched.status.get(o.node_id) != State.RUNNING or \
                (not leased and sched.attempts[o.node_id] != o.attempt):
            return
        node = self.plan.node_by_id[o.node_id]
        ok, error = o.ok, o.error
        place: dict[str, object] = {}          # node columns this end sets
        extra: dict[str, object] = {}          # attempt columns
        if node.prompt is not None:
            result = self.agent_result(o)
            if o.ok and result.error:
                ok, error = False, f"agent: {result.error}"
            extra = {"session_id": result.session_id, "turns": result.turns, "cost_usd": result.cost_usd,
                     "final": (result.final_message or "")[:FINAL_CHARS] or None}
            if result.cost_usd:
                place["cost_usd"] = _number(self.view[o.node_id]["cost_usd"]) + result.cost_usd
                self.spent += result.cost_usd
                self._check_budget()
        if self.isolation is not None:
            v = self.isolation.verdict(node, o.attempt, ok)
            ok, error = v.ok, v.error or error
            place.update(changed=v.changed, merge_before=v.before)
            if v.error:
                self.batch.changes.append(change(o.node_id, v.error[:4], {"attempt": o.attempt, "error": v.error}))
        before = None if ok else {n: sched.status[n] for n in downstream(self.plan, [o.node_id])}
        state = sched.finished(o.node_id, ok, o.finished_at)
        if state == State.SUCCEEDED or (state == State.FAILED and node.is_gate and node.on_fail == "continue"):
            self.uncommitted_ok.add(o.node_id)
        seconds = o.finished_at - o.started_at
        total = _number(self.view[o.node_id]["seconds"]) + seconds
        self.busy_s += seconds
        if defer and ok and not (place or extra or o.log_error):    # a plain command's success
            self.deferred.append((o, state, total))
            self._dirtied()                    # (its 20 ms to be on disk run from now)
            return
        self.record_deferred()                 # (what follows may read the view: rollbacks do)
        outcome = "succeeded" if ok else (error or f"exit {o.exit_code}")
        self._attempt_end(o, ok, state, outcome, total, worker or self.host, place, extra)
        if o.log_error:
            self.batch.changes.append(change(o.node_id, "output-lost", {"attempt": o.attempt, "error": o.log_error}))
            self.observer.event(f"{o.node_id}: {o.log_error}")
        if ok:
            self.observer.event(f"succeeded {o.node_id} in {seconds:.2f}s")
            return
        tail = self._last_lines(o)
        if state == State.PENDING:
            delay = sched.not_before[o.node_id] - o.finished_at
            self.observer.event(f"failed {o.node_id} ({outcome}); retry in {max(delay, 0):.1f}s; "
                                f"log {self.log_path(o.node_id)}{tail}")
            return
        self.observer.event(f"failed {o.node_id} ({outcome}); log {self.log_path(o.node_id)}{tail}")
        self._skipped(o.node_id, before or {})
        if node.is_gate and node.on_fail == "rollback":
            self._plan_rollback(node)

    def record_deferred(self) -> None:
        """Record what a turn left for after its starts: the successes `finished(defer=True)`
        told only the scheduler, and the launches `launches` handed out (their journal line
        is on disk already, which is what must precede a start)."""
        if self.deferred:
            deferred, self.deferred = self.deferred, []
            for o, state, total in deferred:
                self._attempt_end(o, True, state, "succeeded", total, self.host, {}, {})
                self.observer.event(f"succeeded {o.node_id} in {o.finished_at - o.started_at:.2f}s")
        if self.starts:
            starts, self.starts = self.starts, {}
            for node_id, (attempt, now, offset, agent, pgid) in starts.items():
                self.note(node_id, "started", {"attempt": attempt},
                          {"attempt": attempt, "started_at": now, "worker": self.host, "log_offset": offset},
                          status=State.RUNNING, attempts=attempt, started_at=now, completed_at=None,
                          exit_code=None, error=None, pgid=pgid)
                self.observer.event(f"started {node_id} ({agent or 'gate'}, attempt {attempt})")

    def _last_lines(self, o: Outcome, lines: int = TAIL_LINES) -> str:
        """The last lines the failed attempt wrote (shown where the failure is reported)."""
        start = self._log_offset(o.node_id, o.attempt)
        try:
            with open(self.log_path(o.node_id), "rb") as f:
                size = f.seek(0, os.SEEK_END)
                begin = max(int(start) if isinstance(start, int) else 0, size - 4096)
                f.seek(begin)
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        last = [line for line in text.splitlines() if line.strip()][-lines:]
        return "".join("\n    | " + line[:300] for line in last)

    def _attempt_end(self, o: Outcome, ok: bool, state: State, outcome: str, total: float, worker: str,
                     place: Mapping[str, object], extra: Mapping[str, object]) -> None:
        self.note(o.node_id, f"attempt-{'ok' if ok else 'failed'}",
                  {"attempt": o.attempt, "exit_code": o.exit_code, "error": None if ok else outcome, "status": state},
                  {"attempt": o.attempt, "started_at": o.started_at, "finished_at": o.finished_at,
                   "exit_code": o.exit_code, "outcome": outcome, "worker": worker,
                   "log_offset": self._log_offset(o.node_id, o.attempt), **extra},
                  status=state, completed_at=o.finished_at if state != State.PENDING else None,
                  exit_code=o.exit_code, error=None if ok else outcome, seconds=total, pgid=None,
                  **{k: v for k, v in place.items() if v is not None})

    def _log_offset(self, node_id: str, attempt: int) -> object:
        """The offset recorded when the attempt started (kept when its row is replaced):
        remembered from the launch; read back only for an attempt another process began."""
        if (node_id, attempt) in self.offsets:
            return self.offsets[(node_id, attempt)]
        for r in self.store.attempts(self.run_id, node_id):
            if r["attempt"] == attempt:
                return r["log_offset"]
        return None

    def _skipped(self, cause: str, before: Mapping[str, State]) -> None:
        for n, s in before.items():
            if self.sched.status[n] == State.SKIPPED and s != State.SKIPPED:
                self.note(n, "skipped", {"after": cause}, status=State.SKIPPED)
                self.observer.event(f"skipped {n} (after {cause})")

    # -- approvals --------------------------------------------------------------------------------

    def _decisions(self, now: float) -> None:
        """Answers given with `lanes approve` / `lanes reject`, and approval timeouts."""
        if not self.sched.waiting_set:
            return
        for gate in list(self.sched.waiting_set):
            limit = self.plan.node_by_id[gate].timeout_s
            since = self.waiting_since.get(gate)
            if limit is not None and since is not None and now - since >= limit:
                self._decide(gate, "timed-out", None, f"no answer within {limit:g}s", now)
        mono = time.monotonic()
        if mono - self.last_poll < APPROVAL_POLL_S or not self.sched.waiting_set:
            return
        self.last_poll = mono
        for gate, r in self.store.decisions(self.run_id).items():
            if gate in self.sched.waiting_set:
                self._decide(gate, str(r["decision"]), r["decided_by"], r["decision_note"], now, recorded=True)

    def _decide(self, gate: str, decision: str, by: object, note: object, now: float,
                recorded: bool = False) -> None:
        node = self.plan.node_by_id[gate]
        waited = now - self.waiting_since.pop(gate, now)
        fields: dict[str, object] = {"completed_at": now, "waited_s": waited}
        if not recorded:
            fields.update(decision=decision, decided_by=by, decision_note=note, decided_at=now)
        if decision == "approved":
            self.sched.approve(gate)
            self.uncommitted_ok.add(gate)
            self.note(gate, "gate-approved", {"by": by, "note": note}, status=State.SUCCEEDED, approved=1, **fields)
            self.observer.event(f"approved {gate}" + (f" by {by}" if by else "") + (f": {note}" if note else ""))
            return
        before = {n: self.sched.status[n] for n in downstream(self.plan, [gate])}
        self.sched.reject(gate)
        if node.on_fail == "continue":
            self.uncommitted_ok.add(gate)
        why = "rejected" + (f" by {by}" if by else "") + (f": {note}" if note else "") \
            if decision == "rejected" else f"timed out waiting for an approval ({note})"
        self.note(gate, "gate-rejected", {"by": by, "note": note, "decision": decision},
                  status=State.FAILED, error=why, **fields)
        self.observer.event(f"failed {gate} ({why})")
        self._skipped(gate, before)
        if node.on_fail == "rollback":
            self._plan_rollback(node)

    def waiting_for_person(self) -> bool:
        """Only a person can move the run on now (for the summary's time apart)."""
        return bool(self.sched.waiting_set) and self.sched.n_running == 0 and self.undoing is None

    # -- rollback ---------------------------------------------------------------------------------

    def _plan_rollback(self, gate: PlanNode) -> None:
        """The rollbacks a failed gate asks for, on record with its failure (one batch)."""
        completed = {k: (_number(v["completed_at"]) if v["completed_at"] is not None else None)
                     for k, v in self.view.items()}
        targets = [(nid, str(self.plan.node_by_id[nid].rollback))
                   for nid in rollback_targets(self.plan, self.sched.status, completed, gate)]
        if self.isolation is not None:         # worktree mode also undoes the merges: one reset
            merged = [t for t in upstream_since_gate(self.plan, gate) if self.sched.status[t] == State.SUCCEEDED
                      and self.view[t]["merge_before"]]
            if merged:
                first = min(merged, key=lambda t: completed[t] or 0.0)
                reset = f"{RESET} {self.isolation.ws.branch} to {self.view[first]['merge_before']}"
                targets += [(t, reset) for t in sorted(merged, key=lambda t: completed[t] or 0.0, reverse=True)]
        if not targets:
            return
        round_ = max((k[0] for k in self.rollback_view), default=0) + 1
        for i, (nid, command) in enumerate(targets):
            row: dict[str, object] = {"round": round_, "ord": i, "node_id": nid, "gate": gate.id,
                                      "command": command, "status": "pending", "log_path": self.rollback_log(nid)}
            self.record_rollback(row)
            self.rollbacks.append(row)

    def _next_rollback(self, now: float) -> list[Launch]:
        while self.undoing is None and self.rollbacks and str(self.rollbacks[0]["command"]).startswith(RESET):
            self._reset(self.rollbacks.popleft(), now)
        if self.undoing is not None or not self.rollbacks:
            return []
        row = self.rollbacks.popleft()
        nid = str(row["node_id"])
        node = self.plan.node_by_id[nid]
        row = {**row, "status": "running", "started_at": now}
        self.undoing = row
        self.record_rollback(row)
        self.observer.event(f"rollback {nid}: {node.rollback}")
        env = self.env(node, 0) + (("LANES_ROLLBACK", "1"), ("LANES_GATE", str(row["gate"])))
        return [Launch(self.run_id, nid + ROLLBACK, 0, node.rollback or "true", self.plan.workdir, env,
                       self.rollback_log(nid), node.timeout_s)]

    def _rollback_finished(self, o: Outcome, status: str | None = None) -> None:
        row = self.undoing
        if row is None:
            return
        self.undoing = None
        nid = str(row["node_id"])
        status = status or ("done" if o.ok else "failed")
        error = None if o.ok else (o.error or f"exit {o.exit_code}")
        self.record_rollback({**row, "status": status, "exit_code": o.exit_code, "error": error,
                              "finished_at": o.finished_at})
        if status == "cancelled":
            return
        self.sched.rolled_back(nid)
        self.note(nid, "rolled-back", {"gate": row["gate"], "exit_code": o.exit_code, "error": error},
                  status=State.ROLLED_BACK)
        if error:
            self.observer.event(f"rollback of {nid} failed ({error}); log {self.rollback_log(nid)}")
        else:
            self.observer.event(f"rolled back {nid}")

    def _reset(self, row: dict[str, object], now: float) -> None:
        """Worktree mode: the integration branch back to before the undone merges (the
        same commit for each row of one gate, so a second reset is a no-op)."""
        nid, commit = str(row["node_id"]), str(row["command"]).split()[-1]
        error = None
        try:
            if self.isolation is not None:
                self.isolation.reset(commit)
        except WorkspaceError as exc:
            error = str(exc)
        self.record_rollback({**row, "status": "failed" if error else "done", "started_at": now,
                              "finished_at": time.time(), "exit_code": 1 if error else 0, "error": error})
        self.sched.rolled_back(nid)
        self.note(nid, "rolled-back", {"gate": row["gate"], "reset": commit, "error": error},
                  status=State.ROLLED_BACK, merge_before=None)
        self.observer.event(f"rolled back {nid}: {row['command']}" + (f" failed: {error}" if error else ""))

    @property
    def rolling_back(self) -> bool:
        return bool(self.rollbacks) or self.undoing is not None

    # -- the end ----------------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.sched.done and not self.rolling_back

    def succeeded(self) -> bool:
        by_id = self.plan.node_by_id
        return not self.sched.failed_run and all(
            s == State.SUCCEEDED or (s == State.FAILED and by_id[n].is_gate and by_id[n].on_fail == "continue")
            for n, s in self.sched.status.items())

    def cancel_running(self, o: Outcome) -> None:
        """A command ended after a Ctrl-C: its own outcome if it got one, else cancelled."""
        if o.node_id.endswith(ROLLBACK):
            self._rollback_finished(o, status="cancelled")
            return
        self.busy_s += o.finished_at - o.started_at
        if o.ok and o.error is None:
            self.finished(o)
            return
        if self.sched.status.get(o.node_id) != State.RUNNING:
            return
        self.sched.cancel(o.node_id)
        self.note(o.node_id, "cancelled", {"reason": "interrupted"},
                  {"attempt": o.attempt, "started_at": o.started_at, "finished_at": o.finished_at,
                   "exit_code": o.exit_code, "outcome": "cancelled", "worker": self.host,
                   "log_offset": self._log_offset(o.node_id, o.attempt)},
                  status=State.CANCELLED, completed_at=o.finished_at, exit_code=o.exit_code,
                  error="cancelled", pgid=None)

    def cancel_rest(self, interrupted: bool) -> None:
        """A stopped run: what still runs (its group did not end in time: the pgid stays for
        resume) or never started is cancelled; unstarted rollbacks are dropped (resume runs them)."""
        for nid, s in list(self.sched.status.items()):
            if s == State.RUNNING:
                self.sched.cancel(nid)
                self.note(nid, "cancelled", {"reason": "interrupted"}, status=State.CANCELLED,
                          completed_at=time.time(), error="cancelled")
            elif s not in FINAL:
                if self.budget_spent and not interrupted:
                    continue                   # the budget stopped it: pending, for a resume
                self.sched.cancel(nid)
                self.note(nid, "cancelled", {"reason": "interrupted" if interrupted else "run stopped"},
                          status=State.CANCELLED)
                if not interrupted:
                    self.observer.event(f"cancelled {nid}")
        self.rollbacks.clear()

    # -- tasks added to the live run (`lanes add`) -------------------------------------------------

    def look_for_additions(self, force: bool = False) -> bool:
        """Take up the plan `lanes add` stored since, if any (a cheap look at its version,
        at most every ADDITIONS_POLL_S unless forced); True when nodes were added."""
        mono = time.monotonic()
        if not force and mono - self.last_look < ADDITIONS_POLL_S:
            return False
        self.last_look = mono
        version = self.store.plan_version(self.run_id)
        if version == self.plan_version:
            return False
        row = self.store.run(self.run_id)
        self.adopt(plan_from_json(str(row["plan_json"])), int(row["plan_version"] or 0))
        return True

    def adopt(self, plan: Plan, version: int) -> None:
        """Go on with a plan that has more nodes: every node keeps its state, the new ones
        start pending (the scheduler grows in place)."""
        added = [n.id for n in plan.nodes if n.id not in self.plan.node_by_id]
        rows = self.store.nodes_of(self.run_id, added)
        self.plan, self.plan_version = plan, version
        self.agent_envs.clear()                  # (an agent of the new plan may have another env)
        for nid in added:
            self.view[nid] = {k: rows[nid][k] for k in VIEW_FIELDS} if nid in rows else \
                {k: None for k in VIEW_FIELDS} | {"status": State.PENDING, "attempts": 0, "seconds": 0}
            self.board.touch(nid)
        if self.isolation is not None:
            self.isolation.plan = plan
        self.sched.extend(plan)
        if added:
            self.observer.event(f"added {len(added)} node{'s' if len(added) > 1 else ''}: " + ", ".join(added[:10])
                                + (" ..." if len(added) > 10 else ""))
        self._dirtied()

    def close(self, status: str) -> bool:
        """The run's end (succeeded, failed or cancelled) on record, with the final dashboard;
        False (nothing closed) when `lanes add` changed the plan meanwhile: the caller adopts
        the new plan and goes on. A cancelled run closes whatever was added (resume runs it)."""
        self.commit()
        if not self.store.finish_run(self.run_id, status, None if status == "cancelled" else self.plan_version):
            return False
        self.run_row["status"] = status
        self._dirtied()
        if self.writer is not None:            # the last state, written before we return
            writer, self.writer = self.writer, None
            writer.close(self.board.text())
            self._writer_error(writer)
            self.dirty = False
        else:
            self.refresh(force=True)
        if self.isolation is not None:
            self.isolation.close()
        return True



def _journal_attempts(path: str) -> dict[str, int]:
    """The highest attempt of each node in a `launched` journal (a torn last line is skipped)."""
    out: dict[str, int] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[1].isdigit() and line.endswith("\n"):
                    out[parts[0]] = max(out.get(parts[0], 0), int(parts[1]))
    except OSError:
        pass
    return out


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def _jitter_rng(run_id: str, node_id: str, failures: int) -> random.Random:
    """The scheduler draws the spec's backoff jitter from its rng; seeded by the attempt,
    every process computes the same retry time without storing it."""
    return random.Random(f"{run_id}/{node_id}/{failures}")


__all__ = [
    "DASHBOARD_EVERY_S",
    "ROLLBACK",
    "Options",
    "Run",
    "StoreError",
    "downstream",
    "new_run_key",
    "rollback_targets",
    "runtime_alive",
]
