"""The crash-safe state store: SQLite in WAL mode, one transaction per transition.

Tables: runs, nodes (the current state of every node of a run), attempts, and an
append-only event log. A runtime killed at any moment leaves the database at the
last committed transition; `resume` starts from there. WAL with
synchronous=NORMAL survives the death of the process (what SIGKILL does); only a
power cut may lose the last transitions, never corrupt the file.

API (`Store(state_dir)`; `<state_dir>/state.db`):
    transaction()                    BEGIN IMMEDIATE context (read-modify-write across processes)
    create_run(run_id, plan, plan_json, source_path, mode, options)   mode 'run' | 'pull'
    run(run_id) -> Row               StoreError (with did-you-mean) when unknown; has_run(run_id)
    latest_run(unfinished=False)     set_run(run_id, **fields)
    take_over(run_id, in_progress)   resume: become the run's runtime unless one still lives
    nodes(run_id) -> {id: Row}       ensure_nodes(run_id, plan), forget_nodes(run_id, ids)
    apply(run_id, [Change], run_fields)   several transitions, one transaction
    transition(run_id, node, status, event, data, attempt_row, **fields)  one of them
    transitions(run_id, [(node, status, fields)], event_data)
    approve(run_id, gate), approved(run_id), event(...), events(run_id), attempts(run_id)
    run_dir(run_id) -> <state>/runs/RUN_ID
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
import json
import os
import sqlite3
import time
from typing import Iterator

# nodes and attempts are read and written by their keys: stored in key order (WITHOUT
# ROWID), one B-tree each instead of two. Events are never deleted, so the rowid (seq)
# grows with every insert without AUTOINCREMENT's extra table. Both save pages on every
# transition's commit; databases made before keep their tables and work the same.
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, workflow TEXT NOT NULL, plan_json TEXT NOT NULL,
    source_path TEXT, mode TEXT NOT NULL, status TEXT NOT NULL,
    started_at REAL NOT NULL, finished_at REAL, pid INTEGER, options TEXT,
    pid_start INTEGER
);
CREATE TABLE IF NOT EXISTS nodes (
    run_id TEXT NOT NULL, node_id TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,
    agent TEXT, digest TEXT, started_at REAL, completed_at REAL, pgid INTEGER,
    lease_token TEXT, lease_expires_at REAL, worker TEXT, exit_code INTEGER, error TEXT,
    approved INTEGER NOT NULL DEFAULT 0, seconds REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, node_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT NOT NULL, node_id TEXT NOT NULL, attempt INTEGER NOT NULL,
    started_at REAL, finished_at REAL, exit_code INTEGER, outcome TEXT, worker TEXT,
    PRIMARY KEY (run_id, node_id, attempt)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, at REAL NOT NULL,
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


@dataclass(frozen=True)
class Change:
    """One node's transition: new column values, the event that records it, and the
    attempt it closes (a dict of the attempts columns) if any."""
    node_id: str
    fields: tuple[tuple[str, object], ...]
    event: str | None                      # None: a detail (a pgid), not worth an event
    data: dict | None = None
    attempt: dict | None = None


def change(node_id: str, event: str | None, data: dict | None = None, attempt: dict | None = None,
           **fields) -> Change:
    return Change(node_id, tuple(fields.items()), event, data, attempt)


def process_start(pid: int) -> int | None:
    """When a process started (clock ticks since boot): with the pid, it names one
    process even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


class Store:
    def __init__(self, state_dir: str) -> None:
        os.makedirs(state_dir, exist_ok=True)
        self.dir = os.path.abspath(state_dir)
        self.path = os.path.join(self.dir, "state.db")
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        # checkpoint (and fsync) every 16 MB of log rather than every 4 MB: a commit that
        # checkpoints holds up the run loop, and SIGKILL loses nothing either way
        self.db.execute("PRAGMA wal_autocheckpoint=4000")
        self.db.execute("PRAGMA busy_timeout=30000")
        self.db.executescript(SCHEMA)
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(runs)")}
        if "pid_start" not in columns:             # a state directory from before the column
            self.db.execute("ALTER TABLE runs ADD COLUMN pid_start INTEGER")

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
            pid = os.getpid() if mode == "run" else None
            db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       (run_id, plan.workflow, plan_json, source_path, mode, "running", now, None,
                        pid, json.dumps(options or {}), pid and process_start(pid)))
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

    def has_run(self, run_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM runs WHERE run_id=?", (run_id,)).fetchone() is not None

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

    def take_over(self, run_id: str, in_progress) -> sqlite3.Row | None:
        """Make this process the run's runtime (resume), unless `in_progress(row)` says its
        runtime still lives: then return that row. Check and claim are one transaction, so
        two resumes of one run cannot both go on."""
        pid = os.getpid()
        with self.transaction() as db:
            row = db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if in_progress(row):
                return row
            db.execute("UPDATE runs SET pid=?, pid_start=?, status='running', finished_at=NULL WHERE run_id=?",
                       (pid, process_start(pid), run_id))
            self._event(db, run_id, None, "run-resumed", {"pid": pid})
        return None

    # -- nodes ----------------------------------------------------------------------------------

    def nodes(self, run_id: str) -> dict[str, sqlite3.Row]:
        return {r["node_id"]: r for r in self.db.execute("SELECT * FROM nodes WHERE run_id=?", (run_id,))}

    def apply(self, run_id: str, changes, run_fields: dict | None = None) -> None:
        """Several transitions (a finish, the skips it causes, the launches it unlocks) in
        one transaction: they are all recorded or none is."""
        if not changes and not run_fields:
            return
        now = time.time()
        with self.transaction() as db:
            for c in changes:
                if c.fields:
                    self._update(db, "nodes", "run_id=? AND node_id=?", (run_id, c.node_id), dict(c.fields))
            attempts = [(run_id, c.node_id, a["attempt"], a.get("started_at"), a.get("finished_at"),
                         a.get("exit_code"), a.get("outcome"), a.get("worker"))
                        for c in changes if (a := c.attempt) is not None]
            if attempts:
                db.executemany("INSERT OR REPLACE INTO attempts VALUES (?,?,?,?,?,?,?,?)", attempts)
            events = [(run_id, now, c.node_id, c.event, None if c.data is None else json.dumps(c.data))
                      for c in changes if c.event is not None]
            if events:
                db.executemany("INSERT INTO events (run_id, at, node_id, kind, data) VALUES (?,?,?,?,?)", events)
            if run_fields:
                self._update(db, "runs", "run_id=?", (run_id,), run_fields)
                if "status" in run_fields:
                    self._event(db, run_id, None, f"run-{run_fields['status']}", None)

    def transition(self, run_id: str, node_id: str, status: str, event: str | None = None,
                   data: dict | None = None, attempt_row: dict | None = None, **fields) -> None:
        """One node's change of state, its attempt record and its event: one transaction."""
        self.apply(run_id, [change(node_id, event or status, data, attempt_row, status=status, **fields)])

    def transitions(self, run_id: str, changes: list[tuple[str, str, dict]], event_data=None) -> None:
        """Several nodes at once (a cascade of skips, a reset for resume): one transaction."""
        self.apply(run_id, [change(n, s, event_data, None, status=s, **f) for n, s, f in changes])

    def ensure_nodes(self, run_id: str, plan) -> None:
        """Rows for nodes a changed workflow added since the run began (resume)."""
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO nodes (run_id, node_id, status, attempts, agent, digest) "
                           "VALUES (?,?,?,?,?,?)",
                           [(run_id, n.id, "pending", 0, n.agent, n.digest) for n in plan.nodes])

    def forget_nodes(self, run_id: str, node_ids) -> None:
        """Nodes a changed workflow no longer has (resume); their attempts stay on record."""
        with self.transaction() as db:
            for nid in node_ids:
                db.execute("DELETE FROM nodes WHERE run_id=? AND node_id=?", (run_id, nid))
                self._event(db, run_id, nid, "removed", None)

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
