"""The crash-safe state store: SQLite in WAL mode, one transaction per transition.

Tables: runs, nodes (the current state of every node of a run), attempts, and an
append-only event log. A runtime killed at any moment leaves the database at the
last committed transition; `resume` starts from there. WAL with
synchronous=NORMAL survives the death of the process (what SIGKILL does); only a
power cut may lose the last transitions, never corrupt the file.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
import json
import os
import sqlite3
import time
from typing import Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, workflow TEXT NOT NULL, plan_json TEXT NOT NULL,
    source_path TEXT, mode TEXT NOT NULL, status TEXT NOT NULL,
    started_at REAL NOT NULL, finished_at REAL, pid INTEGER, options TEXT
);
CREATE TABLE IF NOT EXISTS nodes (
    run_id TEXT NOT NULL, node_id TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,
    agent TEXT, digest TEXT, started_at REAL, completed_at REAL, pgid INTEGER,
    lease_token TEXT, lease_expires_at REAL, worker TEXT, exit_code INTEGER, error TEXT,
    approved INTEGER NOT NULL DEFAULT 0, seconds REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, node_id)
);
CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT NOT NULL, node_id TEXT NOT NULL, attempt INTEGER NOT NULL,
    started_at REAL, finished_at REAL, exit_code INTEGER, outcome TEXT, worker TEXT,
    PRIMARY KEY (run_id, node_id, attempt)
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, at REAL NOT NULL,
    node_id TEXT, kind TEXT NOT NULL, data TEXT
);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, seq);
"""


def iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StoreError(Exception):
    """A run or node that does not exist, or a state that forbids the operation."""


class Store:
    def __init__(self, state_dir: str) -> None:
        os.makedirs(state_dir, exist_ok=True)
        self.dir = os.path.abspath(state_dir)
        self.path = os.path.join(self.dir, "state.db")
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=30000")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: the write lock is taken first, so a read-then-write inside is
        atomic across processes (pull-mode claims rely on it)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def run_dir(self, run_id: str) -> str:
        return os.path.join(self.dir, "runs", run_id)

    # -- runs ---------------------------------------------------------------------------------

    def create_run(self, run_id: str, plan, plan_json: str, source_path: str | None, mode: str,
                   options: dict | None = None) -> None:
        now = time.time()
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM runs WHERE run_id=?", (run_id,)).fetchone():
                raise StoreError(f"run '{run_id}' already exists (use `lanes resume {run_id}`)")
            db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (run_id, plan.workflow, plan_json, source_path, mode, "running", now, None,
                        os.getpid() if mode == "run" else None, json.dumps(options or {})))
            db.executemany("INSERT INTO nodes (run_id, node_id, status, attempts, agent, digest) "
                           "VALUES (?,?,?,?,?,?)",
                           [(run_id, n.id, "pending", 0, n.agent, n.digest) for n in plan.nodes])
            self._event(db, run_id, None, "run-created", {"mode": mode, "source": source_path})
        os.makedirs(os.path.join(self.run_dir(run_id), "logs"), exist_ok=True)

    def run(self, run_id: str) -> sqlite3.Row:
        row = self.db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            known = [r[0] for r in self.db.execute("SELECT run_id FROM runs ORDER BY started_at")]
            from lanes.dsl.diagnostics import did_you_mean
            raise StoreError(f"no run '{run_id}' in {self.dir}{did_you_mean(run_id, known)}")
        return row

    def latest_run(self, unfinished: bool = False) -> str | None:
        q = "SELECT run_id FROM runs" + (" WHERE status NOT IN ('succeeded')" if unfinished else "") + \
            " ORDER BY started_at DESC, run_id DESC LIMIT 1"
        row = self.db.execute(q).fetchone()
        return row[0] if row else None

    def set_run(self, run_id: str, **fields) -> None:
        with self.transaction() as db:
            self._update(db, "runs", "run_id=?", (run_id,), fields)
            if "status" in fields:
                self._event(db, run_id, None, f"run-{fields['status']}", None)

    # -- nodes ----------------------------------------------------------------------------------

    def nodes(self, run_id: str) -> dict[str, sqlite3.Row]:
        return {r["node_id"]: r for r in self.db.execute("SELECT * FROM nodes WHERE run_id=?", (run_id,))}

    def transition(self, run_id: str, node_id: str, status: str, event: str | None = None,
                   data: dict | None = None, attempt_row: dict | None = None, **fields) -> None:
        """One node's change of state, its attempt record and its event: one transaction."""
        with self.transaction() as db:
            self._update(db, "nodes", "run_id=? AND node_id=?", (run_id, node_id), {"status": status, **fields})
            if attempt_row is not None:
                db.execute("INSERT OR REPLACE INTO attempts VALUES (?,?,?,?,?,?,?,?)",
                           (run_id, node_id, attempt_row["attempt"], attempt_row.get("started_at"),
                            attempt_row.get("finished_at"), attempt_row.get("exit_code"),
                            attempt_row.get("outcome"), attempt_row.get("worker")))
            self._event(db, run_id, node_id, event or status, data)

    def transitions(self, run_id: str, changes: list[tuple[str, str, dict]], event_data=None) -> None:
        """Several nodes at once (a cascade of skips, a reset for resume): one transaction."""
        if not changes:
            return
        with self.transaction() as db:
            for node_id, status, fields in changes:
                self._update(db, "nodes", "run_id=? AND node_id=?", (run_id, node_id),
                             {"status": status, **fields})
                self._event(db, run_id, node_id, status, event_data)

    def ensure_nodes(self, run_id: str, plan) -> None:
        """Rows for nodes a changed workflow added since the run began (resume)."""
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO nodes (run_id, node_id, status, attempts, agent, digest) "
                           "VALUES (?,?,?,?,?,?)",
                           [(run_id, n.id, "pending", 0, n.agent, n.digest) for n in plan.nodes])

    def approve(self, run_id: str, gate: str) -> None:
        with self.transaction() as db:
            row = db.execute("SELECT status FROM nodes WHERE run_id=? AND node_id=?", (run_id, gate)).fetchone()
            if row is None:
                raise StoreError(f"run '{run_id}' has no node '{gate}'")
            if row["status"] != "waiting":
                raise StoreError(f"gate '{gate}' is {row['status']}, not waiting for an approval")
            db.execute("UPDATE nodes SET approved=1 WHERE run_id=? AND node_id=?", (run_id, gate))
            self._event(db, run_id, gate, "approved", None)

    def approved(self, run_id: str) -> set[str]:
        return {r[0] for r in self.db.execute(
            "SELECT node_id FROM nodes WHERE run_id=? AND approved=1", (run_id,))}

    def event(self, run_id: str, node_id: str | None, kind: str, data: dict | None = None) -> None:
        with self.transaction() as db:
            self._event(db, run_id, node_id, kind, data)

    def events(self, run_id: str) -> list[sqlite3.Row]:
        return list(self.db.execute("SELECT * FROM events WHERE run_id=? ORDER BY seq", (run_id,)))

    def attempts(self, run_id: str) -> list[sqlite3.Row]:
        return list(self.db.execute("SELECT * FROM attempts WHERE run_id=? ORDER BY started_at", (run_id,)))

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _update(db, table: str, where: str, args: tuple, fields: dict) -> None:
        if not fields:
            return
        cols = ", ".join(f"{k}=?" for k in fields)
        cur = db.execute(f"UPDATE {table} SET {cols} WHERE {where}", (*fields.values(), *args))
        if cur.rowcount == 0:
            raise StoreError(f"no such {table[:-1]}: {args}")

    @staticmethod
    def _event(db, run_id: str, node_id: str | None, kind: str, data: dict | None) -> None:
        db.execute("INSERT INTO events (run_id, at, node_id, kind, data) VALUES (?,?,?,?,?)",
                   (run_id, time.time(), node_id, kind, json.dumps(data) if data is not None else None))
