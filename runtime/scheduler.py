"""The scheduler decides; it runs nothing and reads no clock of its own.

It knows needs, agent lanes (`instances`), job slots, the `--stages` barrier,
priorities (longest remaining critical path first, ties in plan order), retries
with backoff, approvals, gate outcomes and the failure cascade. Drivers (the
local run loop, the Dask run loop, pull-mode claims) ask it what may start and
tell it what ended; times are passed in.

Everything is incremental: a node enters a per-lane priority queue when its last
need is met, so choosing what to start costs O(lanes + started), not O(nodes).
tests/test_runtime_scheduler.py holds it to a naive twin that rescans everything.

API: `Scheduler(plan, jobs, stages, keep_going, status={...}, attempts={...})`;
`next_launches(now)` -> node ids to start (marked running; approval gates become
waiting instead); `finished(node, ok, now)` -> its new state (pending while a
retry waits out its backoff, `not_before[node]`); `approve(gate)`; `cancel(node)`;
`next_wake()`; `done`; `failed_run`; `stopping`; `running()`, `waiting()`,
`counts()`. Pull mode: `claimable(now, agent, held_leases_per_agent, limit)` (marks
nothing) and `started(node)`. A retry waiting for its backoff holds no agent lane.
"""
from __future__ import annotations

from collections.abc import Callable
import heapq
import random

from lanes.compiler.planfile import Plan
from lanes.runtime.states import FINAL, STATES, State

PENDING, READY, RUNNING, WAITING = State.PENDING, State.READY, State.RUNNING, State.WAITING
SUCCEEDED, FAILED, SKIPPED, CANCELLED = State.SUCCEEDED, State.FAILED, State.SKIPPED, State.CANCELLED
ROLLED_BACK = State.ROLLED_BACK
GATES = ""                     # the lane key of gates (they hold no agent lane)
Rank = tuple[float, int]


def remaining_path(plan: Plan) -> dict[str, float]:
    """Longest path (by estimate) from each node to the end of the plan, itself included."""
    tail: dict[str, float] = {}
    for n in reversed(plan.nodes):               # nodes are in stage order: dependents come later
        tail[n.id] = n.estimate_s + max((tail[d] for d in plan.dependents[n.id]), default=0.0)
    return tail


_RANKS: dict[int, tuple[Plan, dict[str, Rank]]] = {}    # id(plan) -> (plan, ranks): the plan is held, so its id stays its own


def priority_order(plan: Plan) -> dict[str, Rank]:
    """Longest remaining path first, then plan order. A plan never changes once made, so a
    process that rebuilds its scheduler per operation (pull mode) ranks each plan once."""
    hit = _RANKS.get(id(plan))
    if hit is not None and hit[0] is plan:
        return hit[1]
    tail = remaining_path(plan)
    rank = {n.id: (-tail[n.id], i) for i, n in enumerate(plan.nodes)}
    if len(_RANKS) >= 8:
        del _RANKS[next(iter(_RANKS))]
    _RANKS[id(plan)] = (plan, rank)
    return rank


class Scheduler:
    def __init__(self, plan: Plan, jobs: int | None, stages: bool = False, keep_going: bool = False,
                 status: dict[str, State] | None = None, attempts: dict[str, int] | None = None,
                 rng: random.Random | None = None, tries_before: dict[str, int] | None = None) -> None:
        self.plan = plan
        self.jobs = jobs                     # job slots; None: no limit beyond the agent lanes
        self.stages, self.keep_going = stages, keep_going
        self.status: dict[str, State] = {} if status is None else status
        self.attempts: dict[str, int] = {} if attempts is None else attempts  # so far (numbering goes on)
        self.rng = random.Random() if rng is None else rng
        # attempts made before this scheduler (a resumed run): the retry budget starts afresh
        self.tries_before: dict[str, int] = {} if tries_before is None else tries_before
        for n in plan.nodes:
            self.status.setdefault(n.id, PENDING)
            self.attempts.setdefault(n.id, 0)
        self.nodes = plan.node_by_id
        self.rank = priority_order(plan)
        self.lanes = {a.id: a.instances for a in plan.agents}
        # coding-agent tasks: `limits` caps each runner across agents; `halted` (the run's
        # budget is spent) starts none of them any more
        self.runner_of = {n.id: n.runner for n in plan.nodes if n.prompt is not None and n.runner}
        self.runner_cap = dict(plan.limits)
        self.runner_busy: dict[str, int] = {}
        self.halted = False
        self.lane_of = {n.id: (n.agent if n.agent in self.lanes else GATES) for n in plan.nodes}
        self.not_before: dict[str, float] = {}
        self.stopping = False
        self.failed_run = False
        self.busy: dict[str, int] = {}
        self.n_running = 0
        self.waiting_set: set[str] = set()
        self.queues: dict[str, list[tuple[Rank, str]]] = {}
        self.delayed: list[tuple[float, str]] = []
        self.open_in_stage: dict[int, int] = {}
        for n in plan.nodes:
            if self.status[n.id] not in FINAL:
                self.open_in_stage[n.stage] = self.open_in_stage.get(n.stage, 0) + 1
        done = {nid for nid in self.nodes if self._satisfied(nid)}
        self.missing = {n.id: sum(u not in done for u in n.needs) for n in plan.nodes}
        for n in plan.nodes:              # a resumed run: what failed upstream stays skipped
            if self.status[n.id] in (FAILED, SKIPPED) and n.id not in done:
                self._cascade(n.id)
        for n in plan.nodes:              # the queues, each made a heap once
            if self.status[n.id] in (PENDING, READY) and self.missing[n.id] == 0:
                self.status[n.id] = READY
                self.queues.setdefault(self.lane_of[n.id], []).append((self.rank[n.id], n.id))
        for q in self.queues.values():
            heapq.heapify(q)

    # -- queues -------------------------------------------------------------------------------

    def _satisfied(self, node_id: str) -> bool:
        """Dependents may go on: it succeeded, or it is a gate whose failure is `continue`."""
        s = self.status[node_id]
        n = self.nodes[node_id]
        return s == SUCCEEDED or (s == FAILED and n.is_gate and n.on_fail == "continue")

    def _enqueue(self, node_id: str) -> None:
        self.status[node_id] = READY
        heapq.heappush(self.queues.setdefault(self.lane_of[node_id], []), (self.rank[node_id], node_id))

    def _close(self, node_id: str) -> None:
        stage = self.nodes[node_id].stage
        self.open_in_stage[stage] = self.open_in_stage.get(stage, 1) - 1

    def _settle(self, node_id: str) -> None:
        """A node reached a final state: release what waited for it."""
        self._close(node_id)
        if self._satisfied(node_id):
            for d in self.plan.dependents[node_id]:
                self.missing[d] -= 1
                if self.missing[d] == 0 and self.status[d] == PENDING and d not in self.not_before:
                    self._enqueue(d)

    def _current_stage(self) -> int | None:
        open_stages = [s for s, k in self.open_in_stage.items() if k > 0]
        return min(open_stages) if open_stages else None

    def _release_due(self, now: float) -> None:
        while self.delayed and self.delayed[0][0] <= now:
            _, nid = heapq.heappop(self.delayed)
            self.not_before.pop(nid, None)
            if self.status[nid] == PENDING:
                self._enqueue(nid)

    def _pick(self, now: float, room: Callable[[str], bool], limit: int | None,
              agent: str | None = None) -> list[str]:
        """Pop ready nodes best-first while `room(lane)` allows, at most `limit`."""
        self._release_due(now)
        if self.stopping:
            return []
        stage = self._current_stage() if self.stages else None
        if limit == 1 and stage is None:       # one slot (the common turn): the best lane with room
            best: list[tuple[Rank, str]] | None = None
            for lane, q in self.queues.items():
                if agent is not None and lane != agent:
                    continue
                while q and self.status[q[0][1]] != READY:
                    heapq.heappop(q)
                if q and (best is None or q[0] < best[0]) and room(lane):
                    best = q
            if best is None:
                return []
            if not self._held(best[0][1]):
                nid = heapq.heappop(best)[1]
                self._take(nid)
                return [nid]
        out: list[str] = []
        held: list[tuple[str, tuple[Rank, str]]] = []
        candidates: list[tuple[Rank, str]] = []
        for lane, q in self.queues.items():
            if agent is not None and lane != agent:
                continue
            while q and self.status[q[0][1]] != READY:          # drop stale entries
                heapq.heappop(q)
            if q:
                candidates.append((q[0][0], lane))
        heapq.heapify(candidates)
        while candidates and (limit is None or len(out) < limit):
            _, lane = heapq.heappop(candidates)
            q = self.queues[lane]
            if not q or not room(lane):
                continue
            item = heapq.heappop(q)
            nid = item[1]
            if (stage is not None and self.nodes[nid].stage != stage) or self._held(nid):
                held.append((lane, item))
            else:
                out.append(nid)
                self._take(nid)
            while q and self.status[q[0][1]] != READY:
                heapq.heappop(q)
            if q:
                heapq.heappush(candidates, (q[0][0], lane))
        for lane, item in held:
            heapq.heappush(self.queues[lane], item)
        return out

    def _room(self, lane: str) -> bool:
        return lane == GATES or self.busy.get(lane, 0) < self.lanes[lane]

    def _held(self, nid: str) -> bool:
        """A coding-agent task that its runner's limit, or the spent budget, holds back."""
        runner = self.runner_of.get(nid)
        if runner is None:
            return False
        cap = self.runner_cap.get(runner)
        return self.halted or (cap is not None and self.runner_busy.get(runner, 0) >= cap)

    def _take(self, nid: str) -> None:
        lane = self.lane_of[nid]
        if lane != GATES:
            self.busy[lane] = self.busy.get(lane, 0) + 1
        runner = self.runner_of.get(nid)
        if runner is not None:
            self.runner_busy[runner] = self.runner_busy.get(runner, 0) + 1

    # -- questions ----------------------------------------------------------------------------

    def running(self) -> list[str]:
        return [n for n, s in self.status.items() if s == RUNNING]

    def waiting(self) -> list[str]:
        return sorted(self.waiting_set, key=self.rank.__getitem__)

    def _wait_for_approval(self, node_id: str) -> None:
        self.status[node_id] = WAITING
        self.waiting_set.add(node_id)

    def next_launches(self, now: float) -> list[str]:
        """What to start now: ready nodes by priority that have a free lane and a free slot.
        Approval gates become `waiting` instead (they need no slot and no lane)."""
        out: list[str] = []
        while True:
            limit = None if self.jobs is None else max(self.jobs - self.n_running, 0)
            picked = self._pick(now, self._room, limit)
            if not picked:
                # approval gates need no slot: let them through even when slots are full
                waits = self._approval_gates(now)
                if not waits:
                    return out
                continue
            again = False
            for nid in picked:
                n = self.nodes[nid]
                if n.is_gate and n.approve is not None:
                    self._wait_for_approval(nid)
                    again = True
                    continue
                self.status[nid] = RUNNING
                self.attempts[nid] += 1
                self.n_running += 1
                out.append(nid)
            if not again:
                return out

    def _approval_gates(self, now: float) -> bool:
        q = self.queues.get(GATES, [])
        found = False
        for _, nid in list(q):
            n = self.nodes[nid]
            if self.status[nid] == READY and n.approve is not None and not self.stopping and \
                    (not self.stages or n.stage == self._current_stage()):
                self._wait_for_approval(nid)
                found = True
        return found

    def claimable(self, now: float, agent: str | None, held: dict[str, int], limit: int = 1) -> list[str]:
        """For pull mode: ready nodes a puller may take, lanes respected (`held`: leases per
        agent lane); with `agent`, only that agent's tasks. Nothing is marked taken."""
        saved, saved_runners = dict(self.busy), dict(self.runner_busy)
        self.busy = dict(held)
        out = self._pick(now, self._room, limit, agent)
        for nid in out:                       # put them back: the store decides who gets them
            self._enqueue(nid)
        self.busy, self.runner_busy = saved, saved_runners
        return out

    def next_wake(self) -> float | None:
        return self.delayed[0][0] if self.delayed else None

    @property
    def done(self) -> bool:
        """Nothing runs and nothing more will start (a stopping run does not wait for
        approvals; the driver cancels what never started)."""
        if self.n_running:
            return False
        if self.stopping:
            return True
        if self.halted:                  # only agent tasks (held) or what waits for them are left?
            return not self.waiting_set and not self.delayed and not any(
                s == READY and nid not in self.runner_of for nid, s in self.status.items())
        return not self.waiting_set and not any(k > 0 for k in self.open_in_stage.values())

    def extend(self, plan: Plan) -> None:
        """Go on with a plan that has more nodes (`lanes add`): every node keeps its state,
        lane and attempts; a new one is pending, ready once its needs have succeeded, and
        skipped when one of them can no longer succeed in this run. Priorities are those of
        the new plan (the queues are rebuilt with them)."""
        added = [n for n in plan.nodes if n.id not in self.nodes]
        self.plan, self.nodes = plan, plan.node_by_id
        self.rank = priority_order(plan)
        for n in added:
            self.status[n.id] = PENDING
            self.attempts.setdefault(n.id, 0)
            self.lane_of[n.id] = n.agent if n.agent in self.lanes else GATES
            if n.prompt is not None and n.runner:
                self.runner_of[n.id] = n.runner
            self.open_in_stage[n.stage] = self.open_in_stage.get(n.stage, 0) + 1
        for n in added:                          # in plan order: needs come first
            self.missing[n.id] = sum(not self._satisfied(u) for u in n.needs)
            if any(self.status[u] in FINAL and not self._satisfied(u) for u in n.needs):
                self.status[n.id] = SKIPPED
                self._close(n.id)
        self.queues = {}
        for nid, s in self.status.items():
            if s == READY:
                heapq.heappush(self.queues.setdefault(self.lane_of[nid], []), (self.rank[nid], nid))
        for n in added:
            if self.status[n.id] == PENDING and self.missing[n.id] == 0:
                self._enqueue(n.id)

    # -- events -------------------------------------------------------------------------------

    def started(self, node_id: str) -> None:
        """Pull mode: a puller took it."""
        self.status[node_id] = RUNNING
        self.attempts[node_id] += 1
        self.n_running += 1
        self._take(node_id)

    def _release_lane(self, node_id: str) -> None:
        lane = self.lane_of[node_id]
        if lane != GATES and self.busy.get(lane, 0) > 0:
            self.busy[lane] -= 1
        runner = self.runner_of.get(node_id)
        if runner is not None and self.runner_busy.get(runner, 0) > 0:
            self.runner_busy[runner] -= 1
        self.n_running = max(0, self.n_running - 1)

    def finished(self, node_id: str, ok: bool, now: float) -> State:
        """Record an attempt's end; returns the node's new state (pending while a retry waits)."""
        n = self.nodes[node_id]
        self._release_lane(node_id)
        if ok:
            self.status[node_id] = SUCCEEDED
            self._settle(node_id)
            return SUCCEEDED
        tries = self.attempts[node_id] - self.tries_before.get(node_id, 0)
        if tries <= n.retries and not self.stopping:
            jitter = 1 + self.rng.uniform(0, 0.1)
            due = now + n.backoff.delay(tries) * jitter
            self.not_before[node_id] = due
            heapq.heappush(self.delayed, (due, node_id))
            self.status[node_id] = PENDING
            return PENDING
        self.fail(node_id)
        return FAILED

    def fail(self, node_id: str) -> None:
        n = self.nodes[node_id]
        self.status[node_id] = FAILED
        self._settle(node_id)
        if n.is_gate and n.on_fail == "continue":
            return                                   # recorded; the run goes on
        self.failed_run = True
        self._cascade(node_id)
        if not self.keep_going or n.is_gate:         # a failed gate stops the run
            self.stopping = True

    def approve(self, gate_id: str) -> None:
        if self.status.get(gate_id) == WAITING:
            self.waiting_set.discard(gate_id)
            self.status[gate_id] = SUCCEEDED
            self._settle(gate_id)

    def reject(self, gate_id: str) -> None:
        """A person said no, or the gate's timeout ran out while it waited: it fails and
        its `on_fail` applies."""
        if self.status.get(gate_id) == WAITING:
            self.waiting_set.discard(gate_id)
            self.fail(gate_id)

    def rolled_back(self, node_id: str) -> None:
        """A rollback gate undid this succeeded task (what it released stays released:
        the run is failing and starts nothing more)."""
        if self.status.get(node_id) == SUCCEEDED:
            self.status[node_id] = ROLLED_BACK

    def cancel(self, node_id: str) -> None:
        if self.status[node_id] == RUNNING:
            self._release_lane(node_id)
        if self.status[node_id] not in FINAL:
            self._close(node_id)
        self.waiting_set.discard(node_id)
        self.status[node_id] = CANCELLED

    def _cascade(self, node_id: str) -> None:
        stack = list(self.plan.dependents[node_id])
        while stack:
            d = stack.pop()
            if self.status[d] in (PENDING, READY, WAITING):
                self.waiting_set.discard(d)
                self.status[d] = SKIPPED
                self._close(d)
                stack.extend(self.plan.dependents[d])

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {s.value: 0 for s in STATES}
        for s in self.status.values():
            out[s] += 1
        return out
