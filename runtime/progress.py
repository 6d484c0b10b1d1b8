"""What an operator sees while a plan runs: a live rich view on a terminal (one row per
agent lane and one for gates: what it runs now, done, failed, skipped, left, retry
waits; an overall progress bar with the elapsed time), plain timestamped lines
otherwise; a summary at the end."""
from __future__ import annotations

import sys
import time
from typing import IO, TYPE_CHECKING

from lanes.compiler.planfile import Plan
from lanes.runtime.scheduler import Scheduler
from lanes.runtime.states import FINAL, STATES, State

if TYPE_CHECKING:
    from lanes.runtime.run import Run

GATES_ROW = "(gates)"


class PlainProgress:
    """`[12:00:01] started api (backend, attempt 1)`: one line per event. Lines are
    flushed once per turn of the run loop, not one by one (a thousand short tasks
    print two thousand lines)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout
        self._second = -1
        self._stamp = ""
        self._lines: list[str] | None = None     # while entered: the lines of this turn
                                                 # (kept here: PYTHONUNBUFFERED makes every
                                                 # write to stdout a system call)

    def __enter__(self) -> PlainProgress:
        self._lines = []
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
        self._lines = None

    def _time(self) -> str:
        now = int(time.time())
        if now != self._second:                # strftime once a second, not once a line
            self._second = now
            self._stamp = time.strftime("[%H:%M:%S] ", time.localtime(now))
        return self._stamp

    def event(self, text: str) -> None:
        if self._lines is None:
            self.stream.write(self._time() + text + "\n")
        else:
            self._lines.append(self._time() + text + "\n")

    def update(self, sched: Scheduler, force: bool = False) -> None:
        pass

    def flush(self) -> None:
        if self._lines:
            self.stream.write("".join(self._lines))
            self._lines.clear()
        self.stream.flush()


class LiveProgress(PlainProgress):
    """rich Live view: a row per agent lane (and one for gates) with what it runs now;
    events scroll above it."""

    def __init__(self, plan: Plan, stream: IO[str] | None = None) -> None:
        super().__init__(stream)
        from rich.console import Console
        from rich.live import Live
        self.plan = plan
        self.console = Console(file=self.stream)
        self.live = Live(console=self.console, refresh_per_second=8, transient=False)
        self.last = 0.0
        self.began = time.monotonic()
        self._rows(plan)

    def _rows(self, plan: Plan) -> None:
        """The nodes of each row; again when `lanes add` grew the run's plan."""
        self.rows_of = plan
        self.lanes: dict[str, list[str]] = {a.id: [] for a in plan.agents}
        self.lanes[GATES_ROW] = []
        for n in plan.nodes:
            self.lanes[n.agent if n.agent in self.lanes else GATES_ROW].append(n.id)

    def __enter__(self) -> LiveProgress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def event(self, text: str) -> None:
        self.live.console.print(self._time() + text, highlight=False, markup=False)

    def update(self, sched: Scheduler, force: bool = False) -> None:
        now = time.monotonic()
        if now - self.last < 0.1 and not force:
            return
        self.last = now
        if sched.plan is not self.rows_of:
            self._rows(sched.plan)
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text
        table = Table(title=f"lanes: {self.plan.workflow}", expand=False)
        for col in ("lane", "now", "done", "failed", "skipped", "left"):
            table.add_column(col)
        wall = time.time()
        for lane, ids in self.lanes.items():
            if not ids:
                continue
            current = []
            for i in ids:
                s = sched.status[i]
                if s == State.RUNNING:
                    current.append(i)
                elif s == State.WAITING:
                    current.append(f"{i} (waiting for approval)")
                elif i in sched.not_before:
                    current.append(f"{i} (retry in {max(0.0, sched.not_before[i] - wall):.0f}s)")
            done = sum(sched.status[i] == State.SUCCEEDED for i in ids)
            failed = sum(sched.status[i] == State.FAILED for i in ids)
            skipped = sum(sched.status[i] in (State.SKIPPED, State.CANCELLED) for i in ids)
            left = sum(sched.status[i] not in FINAL for i in ids)
            table.add_row(lane, ", ".join(current) or "-", str(done), str(failed), str(skipped), str(left))
        total = len(sched.status)
        finished = sum(s in FINAL for s in sched.status.values())
        elapsed = now - self.began
        bar = ProgressBar(total=max(total, 1), completed=finished, width=40)
        line = Text(f" {finished}/{total} nodes  elapsed {int(elapsed) // 60}:{int(elapsed) % 60:02d}")
        footer = Table.grid()
        footer.add_row(bar, line)
        self.live.update(Group(table, footer))

    def flush(self) -> None:
        pass


def summary(run: Run, wall: float, waited: float, stream: IO[str], verbose: bool = False) -> None:
    """The end of a run (SPEC section 7): wall time, summed task time (this session's
    attempts), speedup (summed / wall) and efficiency ((summed - wall) / summed, the
    formula of section 5 with measured times), both without the time in which only a
    person could move the run on (reported apart); counts by state; the failed and
    rolled-back nodes with their log paths; every node only with `verbose`."""
    busy = run.busy_s
    active = max(wall - waited, 0.0)
    speedup = busy / active if active > 0 else 0.0
    efficiency = round((busy - active) / busy, 4) if busy > 0 else 0.0
    w = stream.write
    w(f"\nwall time {wall:.2f}s, summed task time {busy:.2f}s, speedup {speedup:.2f}x, "
      f"efficiency {efficiency} (= (summed - wall) / summed)\n")
    if waited > 0:
        w(f"waiting for a person: {waited:.2f}s (left out of the wall time above)\n")
    counts = {s: 0 for s in STATES}
    for n in run.plan.nodes:
        counts[State(str(run.view[n.id]["status"]))] += 1
    w("  " + ", ".join(f"{s.value} {k}" for s, k in counts.items() if k) + "\n")
    by_agent: dict[str, float] = {}
    for n in run.plan.nodes:
        c = run.view[n.id]["cost_usd"]
        if isinstance(c, (int, float)) and c:
            by_agent[n.agent or "(gate)"] = by_agent.get(n.agent or "(gate)", 0.0) + float(c)
    if by_agent:
        w(f"  cost ${sum(by_agent.values()):.4f}: " + ", ".join(f"{a} ${c:.4f}" for a, c in sorted(by_agent.items()))
          + (f" (budget ${run.plan.max_budget_usd:.2f} reached: agent tasks left pending; resume with a "
             "higher max_budget_usd)" if run.budget_spent and run.plan.max_budget_usd is not None else "") + "\n")
    for n in run.plan.nodes:
        r = run.view[n.id]
        if r["status"] == State.FAILED:
            w(f"  failed      {n.id} ({r['error'] or 'failed'}): {run.log_path(n.id)}\n")
        elif r["status"] == State.ROLLED_BACK:
            w(f"  rolled-back {n.id}: {run.rollback_log(n.id)}\n")
    if verbose:
        for n in run.plan.nodes:
            r = run.view[n.id]
            extra = f" ({r['error']})" if r["error"] and r["status"] != State.SUCCEEDED else ""
            w(f"  {r['status']:<11} {n.id}  attempts {r['attempts']}  {float(r['seconds'] or 0):.2f}s{extra}\n")  # type: ignore[arg-type]
    stream.flush()
