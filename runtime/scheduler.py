"""The scheduler decides; it runs nothing and reads no clock of its own.

It knows needs, agent lanes (`instances`), job slots, the `--stages` barrier,
priorities (longest remaining critical path first, ties in plan order), retries
with backoff, approvals, gate outcomes and the failure cascade. Drivers (the
local run loop, the Dask run loop, pull-mode claims) ask it what may start and
tell it what ended; times are passed in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import random

from lanes.compiler.planfile import Plan

PENDING, READY, RUNNING, WAITING = "pending", "ready", "running", "waiting"
SUCCEEDED, FAILED, SKIPPED, CANCELLED = "succeeded", "failed", "skipped", "cancelled"
STATES = (PENDING, READY, RUNNING, WAITING, SUCCEEDED, FAILED, SKIPPED, CANCELLED)
FINAL = (SUCCEEDED, FAILED, SKIPPED, CANCELLED)


def remaining_path(plan: Plan) -> dict[str, float]:
    """Longest path (by estimate) from each node to the end of the plan, itself included."""
    tail: dict[str, float] = {}
    for n in reversed(plan.nodes):               # nodes are in stage order: dependents come later
        tail[n.id] = n.estimate_s + max((tail[d] for d in plan.dependents[n.id]), default=0.0)
    return tail


def priority_order(plan: Plan) -> dict[str, tuple]:
    tail = remaining_path(plan)
    return {n.id: (-tail[n.id], i) for i, n in enumerate(plan.nodes)}


@dataclass
class Scheduler:
    plan: Plan
    jobs: int
    stages: bool = False
    keep_going: bool = False
    status: dict[str, str] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    not_before: dict[str, float] = field(default_factory=dict)     # retry backoff
    stopping: bool = False                  # a failure without --keep-going: start nothing new
    failed_run: bool = False
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        for n in self.plan.nodes:
            self.status.setdefault(n.id, PENDING)
            self.attempts.setdefault(n.id, 0)
        self.rank = priority_order(self.plan)
        self.nodes = self.plan.node_by_id
        self.lanes = {a.id: a.instances for a in self.plan.agents}
        for n in self.plan.nodes:            # a resumed run: what failed upstream stays skipped
            if self.status[n.id] in (FAILED, SKIPPED) and not self._satisfied(n.id):
                self._cascade(n.id)

    # -- questions ----------------------------------------------------------------------------

    def _satisfied(self, node_id: str) -> bool:
        """Dependents may go on: it succeeded, or it is a gate whose failure is `continue`."""
        s = self.status[node_id]
        n = self.nodes[node_id]
        return s == SUCCEEDED or (s == FAILED and n.is_gate and n.on_fail == "continue")

    def _lane_busy(self) -> dict[str, int]:
        busy: dict[str, int] = {}
        for nid, s in self.status.items():
            if s == RUNNING:
                agent = self.nodes[nid].agent
                if agent:
                    busy[agent] = busy.get(agent, 0) + 1
        return busy

    def running(self) -> list[str]:
        return [n for n, s in self.status.items() if s == RUNNING]

    def waiting(self) -> list[str]:
        return [n for n, s in self.status.items() if s == WAITING]

    def _current_stage(self) -> int | None:
        open_stages = [self.nodes[n].stage for n, s in self.status.items() if s not in FINAL]
        return min(open_stages) if open_stages else None

    def ready(self, now: float) -> list[str]:
        """Nodes whose needs are met, in priority order (lanes and slots not yet applied)."""
        if self.stopping:
            return []
        stage = self._current_stage() if self.stages else None
        out = []
        for nid, s in self.status.items():
            if s not in (PENDING, READY):
                continue
            n = self.nodes[nid]
            if stage is not None and n.stage != stage:
                continue
            if all(self._satisfied(u) for u in n.needs) and self.not_before.get(nid, 0) <= now:
                self.status[nid] = READY
                out.append(nid)
        return sorted(out, key=self.rank.__getitem__)

    def claimable(self, now: float, agent: str | None = None, held: dict[str, int] | None = None) -> list[str]:
        """Ready nodes a puller may take: lanes respected (`held`: leases per agent);
        with `agent`, only that agent's tasks."""
        busy = dict(held if held is not None else self._lane_busy())
        out = []
        for nid in self.ready(now):
            n = self.nodes[nid]
            if agent is not None and n.agent != agent:
                continue
            if n.agent and busy.get(n.agent, 0) >= self.lanes.get(n.agent, 1):
                continue
            if n.agent:
                busy[n.agent] = busy.get(n.agent, 0) + 1
            out.append(nid)
        return out

    def next_launches(self, now: float) -> list[str]:
        """What to start now: ready nodes by priority that have a free lane and a free slot.
        Approval gates become `waiting` instead (they need no slot)."""
        slots = self.jobs - len(self.running())
        busy = self._lane_busy()
        out = []
        for nid in self.ready(now):
            n = self.nodes[nid]
            if n.is_gate and n.approve is not None:
                self.status[nid] = WAITING
                continue
            if slots <= 0:
                break
            if n.agent and busy.get(n.agent, 0) >= self.lanes.get(n.agent, 1):
                continue
            if n.agent:
                busy[n.agent] = busy.get(n.agent, 0) + 1
            slots -= 1
            self.status[nid] = RUNNING
            self.attempts[nid] += 1
            out.append(nid)
        return out

    def next_wake(self) -> float | None:
        """The earliest time a retry becomes due, if any node waits for one."""
        due = [t for nid, t in self.not_before.items() if self.status[nid] in (PENDING, READY)]
        return min(due) if due else None

    @property
    def done(self) -> bool:
        if any(s in (RUNNING, WAITING) for s in self.status.values()):
            return False
        if self.stopping:
            return True
        return not any(s in (PENDING, READY) for s in self.status.values())

    # -- events -------------------------------------------------------------------------------

    def started(self, node_id: str) -> None:
        """A puller took it (pull mode); `next_launches` does this itself."""
        self.status[node_id] = RUNNING
        self.attempts[node_id] += 1

    def finished(self, node_id: str, ok: bool, now: float) -> str:
        """Record an attempt's end; returns the node's new state (ready again for a retry)."""
        n = self.nodes[node_id]
        if ok:
            self.status[node_id] = SUCCEEDED
            self.not_before.pop(node_id, None)
            return SUCCEEDED
        if self.attempts[node_id] <= n.retries and not self.stopping:
            jitter = 1 + self.rng.uniform(0, 0.1)
            self.not_before[node_id] = now + n.backoff.delay(self.attempts[node_id]) * jitter
            self.status[node_id] = PENDING
            return PENDING
        self.fail(node_id)
        return FAILED

    def fail(self, node_id: str) -> None:
        n = self.nodes[node_id]
        self.status[node_id] = FAILED
        if n.is_gate and n.on_fail == "continue":
            return                                   # recorded; the run goes on
        self.failed_run = True
        self._cascade(node_id)
        if not self.keep_going or n.is_gate:         # a failed gate stops the run
            self.stopping = True

    def approve(self, gate_id: str) -> None:
        if self.status.get(gate_id) == WAITING:
            self.status[gate_id] = SUCCEEDED

    def cancel(self, node_id: str) -> None:
        self.status[node_id] = CANCELLED

    def _cascade(self, node_id: str) -> None:
        stack = list(self.plan.dependents[node_id])
        while stack:
            d = stack.pop()
            if self.status[d] in (PENDING, READY, WAITING):
                self.status[d] = SKIPPED
                stack.extend(self.plan.dependents[d])

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATES}
        for s in self.status.values():
            out[s] += 1
        return out
