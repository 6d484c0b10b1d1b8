"""What an operator sees while a plan runs: a live rich table on a terminal
(one row per agent lane, one for gates), plain timestamped lines otherwise; a
summary at the end."""
from __future__ import annotations

import sys
import time

from lanes.runtime.scheduler import FINAL, RUNNING, WAITING

GATES_ROW = "(gates)"


class PlainProgress:
    """`[12:00:01] started api (backend, attempt 1)`: one line per event. Lines are
    flushed once per turn of the run loop, not one by one (a thousand short tasks
    print two thousand lines)."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout
        self._second = -1
        self._stamp = ""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.flush()

    def _time(self) -> str:
        now = int(time.time())
        if now != self._second:                # strftime once a second, not once a line
            self._second = now
            self._stamp = time.strftime("[%H:%M:%S] ", time.localtime(now))
        return self._stamp

    def event(self, text: str) -> None:
        self.stream.write(self._time() + text + "\n")

    def update(self, sched, force: bool = False) -> None:
        pass

    def flush(self) -> None:
        self.stream.flush()


class LiveProgress(PlainProgress):
    """rich Live view: a row per agent lane (and one for gates) with what it runs now;
    events scroll above it."""

    def __init__(self, plan, stream=None) -> None:
        super().__init__(stream)
        from rich.console import Console
        from rich.live import Live
        self.plan = plan
        self.console = Console(file=self.stream)
        self.live = Live(console=self.console, refresh_per_second=8, transient=False)
        self.last = 0.0
        self.lanes: dict[str, list[str]] = {a.id: [] for a in plan.agents}
        self.lanes[GATES_ROW] = []
        for n in plan.nodes:
            self.lanes[n.agent if n.agent in self.lanes else GATES_ROW].append(n.id)

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.live.__exit__(*exc)

    def event(self, text: str) -> None:
        self.live.console.print(self._time() + text, highlight=False, markup=False)

    def update(self, sched, force: bool = False) -> None:
        now = time.monotonic()
        if now - self.last < 0.1 and not force:
            return
        self.last = now
        from rich.table import Table
        table = Table(title=f"lanes: {self.plan.workflow}", expand=False)
        for col in ("lane", "now", "done", "failed", "left"):
            table.add_column(col)
        for lane, ids in self.lanes.items():
            if not ids:
                continue
            now_running = [i + (" (waiting)" if sched.status[i] == WAITING else "")
                           for i in ids if sched.status[i] in (RUNNING, WAITING)]
            done = sum(sched.status[i] in FINAL for i in ids)
            failed = sum(sched.status[i] == "failed" for i in ids)
            table.add_row(lane, ", ".join(now_running) or "-", str(done), str(failed), str(len(ids) - done))
        self.live.update(table)

    def flush(self) -> None:
        pass


def summary(plan, view: dict, wall: float, busy: float, stream) -> None:
    """Wall time, summed task time (this session's attempts), speedup, measured
    efficiency (busy - wall) / busy as in SPEC section 5, and each node's outcome."""
    speedup = busy / wall if wall > 0 else 0.0
    efficiency = round((busy - wall) / busy, 4) if busy > 0 else 0.0
    w = stream.write
    w(f"\nwall time {wall:.2f}s, summed task time {busy:.2f}s, speedup {speedup:.2f}x, "
      f"efficiency {efficiency}\n")
    counts: dict[str, int] = {}
    for n in plan.nodes:
        r = view[n.id]
        counts[r["status"]] = counts.get(r["status"], 0) + 1
        extra = f" ({r['error']})" if r["error"] and r["status"] != "succeeded" else ""
        w(f"  {r['status']:<9} {n.id}  attempts {r['attempts']}  {r['seconds'] or 0:.2f}s{extra}\n")
    w("  " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + "\n")
    stream.flush()
