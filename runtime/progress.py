"""What an operator sees while a plan runs: a live rich table on a terminal
(one row per agent lane), plain timestamped lines otherwise; a summary at the end."""
from __future__ import annotations

import sys
import time

from lanes.runtime.scheduler import FINAL


class PlainProgress:
    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def event(self, text: str) -> None:
        self.stream.write(time.strftime("[%H:%M:%S] ") + text + "\n")
        self.stream.flush()

    def update(self, sched) -> None:
        pass


class LiveProgress(PlainProgress):
    """rich Live view: a row per agent lane (and one for gates) with what it runs now."""

    def __init__(self, plan, stream=None) -> None:
        super().__init__(stream)
        from rich.console import Console
        from rich.live import Live
        self.plan = plan
        self.console = Console(file=self.stream)
        self.live = Live(console=self.console, refresh_per_second=8, transient=False)
        self.last = 0.0

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.live.__exit__(*exc)

    def event(self, text: str) -> None:
        self.live.console.print(time.strftime("[%H:%M:%S] ") + text, highlight=False, markup=False)

    def update(self, sched) -> None:
        now = time.monotonic()
        if now - self.last < 0.1:
            return
        self.last = now
        from rich.table import Table
        table = Table(title=f"lanes: {self.plan.workflow}", expand=False)
        for col in ("lane", "running", "done", "left"):
            table.add_column(col)
        lanes: dict[str, list] = {a.id: [] for a in self.plan.agents}
        lanes["(gates)"] = []
        for n in self.plan.nodes:
            lanes[n.agent if n.agent in lanes else "(gates)"].append(n.id)
        for lane, ids in lanes.items():
            if not ids:
                continue
            running = [i for i in ids if sched.status[i] in ("running", "waiting")]
            done = sum(sched.status[i] in FINAL for i in ids)
            table.add_row(lane, ", ".join(running) or "-", str(done), str(len(ids) - done))
        self.live.update(table)


def summary(plan, store, run_id: str, wall: float, stream) -> None:
    nodes = store.nodes(run_id)
    busy = sum(r["seconds"] for r in nodes.values())
    speedup = busy / wall if wall > 0 else 0.0
    efficiency = round((busy - wall) / busy, 4) if busy > 0 else 0.0
    w = stream.write
    w(f"\nwall time {wall:.2f}s, summed task time {busy:.2f}s, speedup {speedup:.2f}x, "
      f"efficiency {efficiency}\n")
    for n in plan.nodes:
        r = nodes[n.id]
        extra = f" ({r['error']})" if r["error"] else ""
        w(f"  {r['status']:<9} {n.id}  attempts {r['attempts']}  {r['seconds']:.2f}s{extra}\n")
