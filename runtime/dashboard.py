"""`.lanes/runs/RUN_ID/dashboard.json`: the run at a glance, replaced atomically."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
import contextlib
from functools import lru_cache
import os
import threading
from typing import Any

from lanes.runtime.states import STATES
from lanes.runtime.store import Row, iso, json_encoder

_iso = lru_cache(maxsize=1 << 16)(iso)     # a timestamp is formatted once, not on every rewrite
_compact = json_encoder(",", ":")


def _task(r: Row) -> dict[str, object]:
    return {"status": r["status"], "agent": r["agent"], "attempts": r["attempts"],
            "started_at": _iso(r["started_at"]), "completed_at": _iso(r["completed_at"])}


def _head(run_row: Row) -> dict[str, object]:
    return {"run_id": run_row["run_id"], "workflow": run_row["workflow"],
            "started_at": iso(run_row["started_at"]), "status": run_row["status"]}


def _counts(node_rows: Mapping[str, Row]) -> dict[str, int]:
    counts: dict[str, int] = {s.value: 0 for s in STATES}
    for r in node_rows.values():
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return counts


def costs(node_rows: Mapping[str, Row]) -> dict[str, object]:
    """What the coding agents cost (as the tools reported it), in total and per agent."""
    by_agent: dict[str, float] = {}
    for r in node_rows.values():
        c = r["cost_usd"] if "cost_usd" in r.keys() else None
        if isinstance(c, (int, float)) and c:
            by_agent[str(r["agent"])] = by_agent.get(str(r["agent"]), 0.0) + float(c)
    return {"total_usd": round(sum(by_agent.values()), 6),
            "by_agent": {a: round(c, 6) for a, c in sorted(by_agent.items())}}


def rollback(r: Row) -> dict[str, object]:
    """One rollback as status, the dashboard and the summary show it (a row of the store,
    or the run's view of one, which lacks the columns not yet set)."""
    keys = set(r.keys())

    def get(k: str) -> Any:
        return r[k] if k in keys else None

    return {"node": r["node_id"], "gate": r["gate"], "command": r["command"], "status": r["status"],
            "exit_code": get("exit_code"), "error": get("error"), "log": r["log_path"],
            "started_at": _iso(get("started_at")), "finished_at": _iso(get("finished_at"))}


def dashboard(run_row: Row, node_rows: Mapping[str, Row], rollbacks: Iterable[Row] = ()) -> dict[str, Any]:
    """The SPEC shape (plus the run's "status" and its "rollbacks"): `run_row` and each of
    `node_rows` map column names to values (sqlite rows, or the run's view)."""
    return {**_head(run_row), "tasks": {nid: _task(r) for nid, r in node_rows.items()},
            "counts": _counts(node_rows), "rollbacks": [rollback(r) for r in rollbacks],
            "costs": costs(node_rows)}


class LiveDashboard:
    """The dashboard of a run in progress, kept as one JSON fragment per node: a rewrite
    encodes the nodes that changed since the last one (`touch`), not the whole run.
    `text()` is `json.dumps(dashboard(run_row, view))` in compact form."""

    def __init__(self, run_row: Row, view: Mapping[str, Row],
                 rollbacks: Mapping[tuple[int, int], Row] | None = None) -> None:
        self.run_row, self.view = run_row, view
        self.rollbacks = rollbacks if rollbacks is not None else {}
        self.fragments: dict[str, str] = dict.fromkeys(view, "")
        self.dirty: set[str] = set(view)

    def touch(self, node_id: str) -> None:
        self.dirty.add(node_id)

    def text(self) -> str:
        for nid in self.dirty:
            self.fragments[nid] = _compact(nid) + ":" + _compact(_task(self.view[nid]))
        self.dirty.clear()
        head = _compact(_head(self.run_row))
        rollbacks = [rollback(self.rollbacks[k]) for k in sorted(self.rollbacks)]
        return (head[:-1] + ',"tasks":{' + ",".join(self.fragments.values()) + '},"counts":'
                + _compact(_counts(self.view)) + ',"rollbacks":' + _compact(rollbacks) + ',"costs":'
                + _compact(costs(self.view)) + "}")


class Writer:
    """Writes the dashboard from a thread of its own, so that a slow disk (a rename took
    8 ms here under load) never stands between one task's end and the next start. Only
    the newest text is written; `close` writes the last one and waits for it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pending: str | None = None
        self.error: OSError | None = None
        self.cond = threading.Condition()
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, name="lanes-dashboard", daemon=True)
        self.thread.start()

    def put(self, text: str) -> None:
        with self.cond:
            self.pending = text
            self.cond.notify()

    def _serve(self) -> None:
        while True:
            with self.cond:
                while self.pending is None and not self.stopping:
                    self.cond.wait()
                text, self.pending = self.pending, None
                if text is None:
                    return
            try:
                write_dashboard(self.path, text)
            except OSError as exc:
                with self.cond:
                    self.error = exc

    def take_error(self) -> OSError | None:
        """The error of a write since the last call (None: they went well)."""
        with self.cond:
            error, self.error = self.error, None
        return error

    def close(self, text: str | None = None) -> None:
        if text is not None:
            self.put(text)
        with self.cond:
            self.stopping = True
            self.cond.notify()
        self.thread.join()


def _beside(path: str) -> tuple[int, str]:
    """A new file of our own (mode 0600, as mkstemp makes) in the target's directory;
    its descriptor and name (tempfile is not loaded for this)."""
    directory, name = os.path.split(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}-{os.getpid()}-{os.urandom(4).hex()}")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused temporary name beside {path}")


def write_dashboard(path: str, data: Mapping[str, object] | str) -> None:
    """Write beside the target and rename over it: a reader sees the old or the new file."""
    fd, tmp = _beside(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data if isinstance(data, str) else _compact(data))  # the C encoder
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):       # a full disk leaves no half-written file behind
            os.unlink(tmp)
        raise
