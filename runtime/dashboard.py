"""`.lanes/runs/RUN_ID/dashboard.json`: the run at a glance, replaced atomically."""
from __future__ import annotations

from functools import lru_cache
import json
import os
import tempfile

from lanes.runtime.scheduler import STATES
from lanes.runtime.store import iso


_iso = lru_cache(maxsize=1 << 16)(iso)     # a timestamp is formatted once, not on every rewrite


def dashboard(run_row, node_rows: dict) -> dict:
    """The SPEC shape (plus the run's "status"): `run_row` and each of `node_rows` map
    column names to values (sqlite rows, or the driver's view)."""
    tasks = {}
    counts = {s: 0 for s in STATES}
    for nid, r in node_rows.items():
        tasks[nid] = {"status": r["status"], "agent": r["agent"], "attempts": r["attempts"],
                      "started_at": _iso(r["started_at"]), "completed_at": _iso(r["completed_at"])}
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return {"run_id": run_row["run_id"], "workflow": run_row["workflow"],
            "started_at": iso(run_row["started_at"]), "status": run_row["status"],
            "tasks": tasks, "counts": counts}


def write_dashboard(path: str, data: dict) -> None:
    """Write beside the target and rename over it: a reader sees the old or the new file."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".dashboard-", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, separators=(",", ":")))   # the C encoder: no indent
    os.replace(tmp, path)
