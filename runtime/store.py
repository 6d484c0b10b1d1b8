"""The crash-safe state store: SQLite in WAL mode. Every statement of lanes lives here.

Tables: runs, nodes (the current state of every node of a run), attempts (one row
per attempt, written when it starts and again when it ends, once when both fall in
one transaction), rollbacks (what a failed rollback gate undoes, planned in the
transaction that records the gate's failure, each row closed when its command ends)
and an append-only event log. A runtime killed at any moment leaves the database at
its last committed transaction. WAL with synchronous=NORMAL survives the death of the process (what
SIGKILL does); only a power cut may lose the last transactions, never corrupt the file.

Beside the database each run has a directory `runs/RUN_ID/` with a `run.json`
marker, so a run whose rows a damaged database lost is reported as lost, never
silently absent. Every sqlite3 error becomes a StoreError that names the cause and
what to do.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, KeysView, Mapping
import contextlib
from contextlib import contextmanager
from datetime import datetime, timezone
import fcntl
import json
import os
import sqlite3
import time
from typing import Any, NamedTuple, Protocol

from lanes.compiler.planfile import Plan

# nodes and attempts are read and written by their keys: stored in key order (WITHOUT
# ROWID), one B-tree each instead of two. Events are never deleted, so the rowid (seq)
# grows with every insert without AUTOINCREMENT's extra table.
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, workflow TEXT NOT NULL, plan_json TEXT NOT NULL,
    source_path TEXT, mode TEXT NOT NULL, status TEXT NOT NULL,
    started_at REAL NOT NULL, finished_at REAL, pid INTEGER, options TEXT,
    pid_start INTEGER, run_key TEXT, plan_version INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS nodes (
    run_id TEXT NOT NULL, node_id TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,
    agent TEXT, digest TEXT, started_at REAL, completed_at REAL, pgid INTEGER,
    lease_token TEXT, lease_expires_at REAL, worker TEXT, exit_code INTEGER, error TEXT,
    approved INTEGER NOT NULL DEFAULT 0, seconds REAL NOT NULL DEFAULT 0,
    decision TEXT, decided_by TEXT, decision_note TEXT, decided_at REAL,
    waited_s REAL NOT NULL DEFAULT 0, changed INTEGER, merge_before TEXT,
    cost_usd REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, node_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT NOT NULL, node_id TEXT NOT NULL, attempt INTEGER NOT NULL,
    started_at REAL, finished_at REAL, exit_code INTEGER, outcome TEXT, worker TEXT,
    log_offset INTEGER, session_id TEXT, turns INTEGER, cost_usd REAL, final TEXT,
    PRIMARY KEY (run_id, node_id, attempt)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollbacks (
    run_id TEXT NOT NULL, round INTEGER NOT NULL, ord INTEGER NOT NULL, node_id TEXT NOT NULL,
    gate TEXT NOT NULL, command TEXT NOT NULL, status TEXT NOT NULL, exit_code INTEGER,
    error TEXT, log_path TEXT, started_at REAL, finished_at REAL,
    PRIMARY KEY (run_id, round, ord)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, at REAL NOT NULL,
    node_id TEXT, kind TEXT NOT NULL, data TEXT
);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, seq);
"""

# columns added since the first state directories: added to an older database on open
_ADDED = {
    "runs": ("pid_start INTEGER", "run_key TEXT", "plan_version INTEGER NOT NULL DEFAULT 0"),
    "nodes": ("decision TEXT", "decided_by TEXT", "decision_note TEXT", "decided_at REAL",
              "waited_s REAL NOT NULL DEFAULT 0", "changed INTEGER", "merge_before TEXT",
              "cost_usd REAL NOT NULL DEFAULT 0"),
    "attempts": ("log_offset INTEGER", "session_id TEXT", "turns INTEGER", "cost_usd REAL", "final TEXT"),
}
_ATTEMPT_COLUMNS = ("attempt", "started_at", "finished_at", "exit_code", "outcome", "worker", "log_offset",
                    "session_id", "turns", "cost_usd", "final")
_ROLLBACK_COLUMNS = ("round", "ord", "node_id", "gate", "command", "status", "exit_code", "error",
                     "log_path", "started_at", "finished_at")



def json_encoder(item_separator: str = ", ", key_separator: str = ": ") -> Callable[[object], str]:
    """`json.dumps` with these separators, its C encoder made once: `json.dumps` makes one
    on every call, which is half the cost of encoding the small dicts a run records."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:                                           # no C accelerator here
        return json.JSONEncoder(separators=(item_separator, key_separator)).encode
    encode = make(None, json.JSONEncoder().default, json.encoder.encode_basestring_ascii, None,
                  key_separator, item_separator, False, False, True)
    return lambda obj: "".join(encode(obj, 0))


dumps = json_encoder()           # json.dumps(obj), for what a run records (never a cycle)


class Row(Protocol):
    """A row by column name: an sqlite3.Row, or a dict of the same columns."""
    def __getitem__(self, key: str) -> Any: ...
    def keys(self) -> Iterable[str] | KeysView[str]: ...


def iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StoreError(Exception):
    """A run or node that does not exist, a state that forbids the operation, or a state
    database that cannot be used (the message says why and what to do)."""


def did_you_mean(word: str, known: Iterable[str]) -> str:
    import difflib
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def explain(exc: sqlite3.Error, path: str) -> str:
    """What a user should read for an sqlite3 error on the state database at `path`."""
    text = str(exc)
    low = text.lower()
    if "full" in low:
        return (f"cannot write the lanes state {path}: the disk is full ({text}); free some space, "
                "then `lanes resume` goes on from the last recorded state")
    if "readonly" in low or "read-only" in low or "permission" in low or "unable to open" in low:
        return (f"cannot write the lanes state {path}: {text}; make it writable or choose another "
                "state directory with --state DIR (or LANES_STATE)")
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return (f"the lanes state {path} is damaged ({text}); move it (and its -wal and -shm files) "
                "aside to start afresh, or restore it from a copy")
    if "locked" in low or "busy" in low:
        return f"the lanes state {path} stayed locked by another process for 30 s ({text}); try again"
    if "disk i/o" in low:
        return f"cannot read or write the lanes state {path}: an I/O error ({text}); check the disk"
    return f"the lanes state {path} cannot be used: {text}"


class Addition(NamedTuple):
    """What `lanes add` records: the run's new plan (and its JSON) and the ids it adds."""
    plan: Plan
    plan_json: str
    ids: frozenset[str]
    source: str | None = None


class Change(NamedTuple):
    """One node's transition: new column values, the event that records it, and the
    attempt row it writes (a dict of attempts columns) if any (a tuple: a run makes
    three for every task)."""
    node_id: str
    fields: Mapping[str, object]
    event: str | None                      # None: a detail (a pgid), not worth an event
    data: Mapping[str, object] | None = None
    attempt: Mapping[str, object] | None = None


def change(node_id: str, event: str | None, data: Mapping[str, object] | None = None,
           attempt: Mapping[str, object] | None = None, /, **fields: object) -> Change:
    return Change(node_id, fields, event, data, attempt)


class Batch:
    """What one transaction writes: node changes, rollback rows (inserted or replaced),
    run columns and run-level events."""
    __slots__ = ("changes", "rollbacks", "run_fields", "run_events")

    def __init__(self, changes: list[Change] | None = None, run_fields: dict[str, object] | None = None) -> None:
        self.changes: list[Change] = [] if changes is None else changes
        self.rollbacks: list[Mapping[str, object]] = []
        self.run_fields: dict[str, object] = {} if run_fields is None else run_fields
        self.run_events: list[tuple[str, Mapping[str, object] | None]] = []

    def __bool__(self) -> bool:
        return bool(self.changes or self.rollbacks or self.run_fields or self.run_events)


def process_start(pid: int) -> int | None:
    """When a process started (clock ticks since boot): with the pid, it names one
    process even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


class Store:
    """`Store(state_dir)`: `<state_dir>/state.db`, created when missing unless `create`
    is False (then a missing database is a StoreError: a typo in --state is an error)."""

    def __init__(self, state_dir: str, create: bool = True) -> None:
        self.dir = os.path.abspath(state_dir)
        self.path = os.path.join(self.dir, "state.db")
        if not create and not os.path.exists(self.path):
            raise StoreError(f"no lanes state in {self.dir} (use --state DIR or set LANES_STATE)")
        try:
            os.makedirs(self.dir, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the state directory {self.dir}: {exc.strerror or exc}") from None
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            # checkpoint every 16 MB of log rather than every 4 MB: a commit that checkpoints
            # holds up the run loop, and SIGKILL loses nothing either way
            self.db.execute("PRAGMA wal_autocheckpoint=4000")
            self.db.execute("PRAGMA busy_timeout=30000")
            self.db.executescript(SCHEMA)
            for table, columns in _ADDED.items():
                have = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}
                for col in columns:
                    if col.split()[0] not in have:
                        self.db.execute(f"ALTER TABLE {table} ADD COLUMN {col}")
        except sqlite3.Error as exc:
            raise StoreError(explain(exc, self.path)) from None

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: the write lock is taken first, so a read-then-write inside is
        atomic across processes. Nested use joins the open transaction."""
        if self.db.in_transaction:
            yield self.db
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(explain(exc, self.path)) from None
        try:
            yield self.db
        except BaseException as exc:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if isinstance(exc, sqlite3.Error):
                raise StoreError(explain(exc, self.path)) from None
            raise
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise StoreError(explain(exc, self.path)) from None

    @contextmanager
    def exclusive(self) -> Iterator[sqlite3.Connection]:
        """One pull-mode operation at a time per state directory, then its transaction.
        SQLite's own busy handler polls with sleeps of up to 100 ms, so under many
        claimers the write lock sat free while they all slept; a blocking flock hands it
        over at once, in order. The transaction is what makes the operation atomic."""
        with open(os.path.join(self.dir, "pull.lock"), "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                with self.transaction() as db:
                    yield db
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _read(self, sql: str, args: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(explain(exc, self.path)) from None

    def run_dir(self, run_id: str) -> str:
        return os.path.join(self.dir, "runs", run_id)

    # -- runs ---------------------------------------------------------------------------------

    def create_run(self, run_id: str, run_key: str, plan: Plan, plan_json: str, source_path: str | None,
                   mode: str, options: Mapping[str, object] | None = None) -> None:
        now = time.time()
        run_dir = self.run_dir(run_id)
        os.makedirs(os.path.join(run_dir, "logs"), exist_ok=True)    # (a directory without run.json
        with self.transaction() as db:                                 # claims no run id)
            if db.execute("SELECT 1 FROM runs WHERE run_id=?", (run_id,)).fetchone() or \
                    os.path.exists(os.path.join(run_dir, "run.json")):
                raise StoreError(f"run '{run_id}' already exists in {self.dir} (use `lanes resume {run_id}`)")
            pid = os.getpid() if mode == "run" else None
            db.execute("INSERT INTO runs (run_id, workflow, plan_json, source_path, mode, status, started_at, "
                       "finished_at, pid, options, pid_start, run_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                       (run_id, plan.workflow, plan_json, source_path, mode, "running", now, None,
                        pid, json.dumps(dict(options or {})), pid and process_start(pid), run_key))
            db.executemany("INSERT INTO nodes (run_id, node_id, status, attempts, agent, digest) "
                           "VALUES (?,?,?,?,?,?)",
                           [(run_id, n.id, "pending", 0, n.agent, n.digest) for n in plan.nodes])
            self._event(db, run_id, None, "run-created", {"mode": mode, "source": source_path})
        # run.json says "the database knew this run": written once the row is committed, never
        # before (a process killed in between would leave a directory that `status` takes for
        # a damaged database, and a run id no command could use again)
        marker = {"run_id": run_id, "run_key": run_key, "workflow": plan.workflow, "started_at": iso(now)}
        tmp = os.path.join(run_dir, ".run.json.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(marker, f)
            os.replace(tmp, os.path.join(run_dir, "run.json"))
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            with self.transaction() as db:                     # all or nothing, as before
                db.execute("DELETE FROM nodes WHERE run_id=?", (run_id,))
                db.execute("DELETE FROM events WHERE run_id=?", (run_id,))
                db.execute("DELETE FROM runs WHERE run_id=?", (run_id,))
            raise

    def run(self, run_id: str) -> sqlite3.Row:
        rows = self._read("SELECT * FROM runs WHERE run_id=?", (run_id,))
        if rows:
            return rows[0]
        if os.path.exists(os.path.join(self.run_dir(run_id), "run.json")):
            raise StoreError(f"run '{run_id}' has a directory in {self.dir}/runs but the state database "
                             f"{self.path} has no record of it: the database (or its -wal file) was damaged "
                             "or replaced; its logs are still in the run's directory")
        known = [r[0] for r in self._read("SELECT run_id FROM runs ORDER BY started_at")]
        return_hint = did_you_mean(run_id, known)
        raise StoreError(f"no run '{run_id}' in {self.dir}{return_hint}")

    def has_run(self, run_id: str) -> bool:
        return bool(self._read("SELECT 1 FROM runs WHERE run_id=?", (run_id,)))

    def latest_run(self, unfinished: bool = False) -> str | None:
        q = "SELECT run_id FROM runs" + (" WHERE status NOT IN ('succeeded')" if unfinished else "") + \
            " ORDER BY started_at DESC, run_id DESC LIMIT 1"
        rows = self._read(q)
        return str(rows[0][0]) if rows else None

    def set_run(self, run_id: str, **fields: object) -> None:
        self.apply(run_id, Batch(run_fields=dict(fields)))

    def take_over(self, run_id: str, in_progress: Any) -> sqlite3.Row | None:
        """Make this process the run's runtime (resume), unless `in_progress(row)` says its
        runtime still lives: then return that row. Check and claim are one transaction, so
        two resumes of one run cannot both go on."""
        pid = os.getpid()
        with self.transaction() as db:
            row = db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if in_progress(row):
                found: sqlite3.Row = row
                return found
            db.execute("UPDATE runs SET pid=?, pid_start=?, status='running', finished_at=NULL WHERE run_id=?",
                       (pid, process_start(pid), run_id))
            self._event(db, run_id, None, "run-resumed", {"pid": pid})
        return None

    def plan_version(self, run_id: str) -> int:
        """How many times `lanes add` changed the run's plan: the run loop's cheap look."""
        rows = self._read("SELECT plan_version FROM runs WHERE run_id=?", (run_id,))
        return int(rows[0][0] or 0) if rows else 0

    def add_nodes(self, run_id: str, extend: Callable[[sqlite3.Row, dict[str, sqlite3.Row]], Addition]) -> Addition:
        """`lanes add`: one exclusive transaction reads the run, lets `extend(run_row,
        node_rows)` check the addition against it (raising to refuse), and records the new
        plan, its nodes (pending) and the plan's next version, or nothing at all. The run
        loop closes a run only in a transaction that finds the version it knows (`finish_run`),
        so an addition lands before the run ends or is refused: never lost."""
        with self.exclusive() as db:
            row = db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if row is None:
                raise StoreError(f"no run '{run_id}' in {self.dir}")
            if row["status"] != "running":
                raise StoreError(f"run {run_id} is {row['status']}: tasks are added only to a run that is "
                                 "not finished")
            nodes = {r["node_id"]: r for r in db.execute("SELECT * FROM nodes WHERE run_id=?", (run_id,))}
            added = extend(row, nodes)
            db.executemany("INSERT INTO nodes (run_id, node_id, status, attempts, agent, digest) "
                           "VALUES (?,?,?,?,?,?)",
                           [(run_id, n.id, "pending", 0, n.agent, n.digest) for n in added.plan.nodes
                            if n.id in added.ids])
            # the stored plan is the run's plan now (resume and status read it, not the file)
            db.execute("UPDATE runs SET plan_json=?, plan_version=plan_version+1, source_path=NULL "
                       "WHERE run_id=?", (added.plan_json, run_id))
            self._event(db, run_id, None, "added", {"nodes": sorted(added.ids), "file": added.source})
            if os.environ.get("LANES_FAULT") == "add-before-commit":
                os._exit(137)                  # tests: a crash between the check and the commit
            return added

    def finish_run(self, run_id: str, status: str, version: int | None) -> bool:
        """The run's end on record, unless (`version` given) `lanes add` changed its plan
        since that version: then nothing is written and the caller goes on with the new plan."""
        with self.transaction() as db:
            if version is not None:
                row = db.execute("SELECT plan_version FROM runs WHERE run_id=?", (run_id,)).fetchone()
                if row is not None and int(row[0] or 0) != version:
                    return False
            db.execute("UPDATE runs SET status=?, finished_at=? WHERE run_id=?", (status, time.time(), run_id))
            self._event(db, run_id, None, f"run-{status}", None)
        return True

    def set_run_key(self, run_id: str, run_key: str) -> None:
        """A run from before run keys gets one on resume."""
        with self.transaction() as db:
            db.execute("UPDATE runs SET run_key=? WHERE run_id=? AND run_key IS NULL", (run_key, run_id))

    # -- nodes ----------------------------------------------------------------------------------

    def nodes(self, run_id: str) -> dict[str, sqlite3.Row]:
        return {r["node_id"]: r for r in self._read("SELECT * FROM nodes WHERE run_id=?", (run_id,))}

    def nodes_of(self, run_id: str, node_ids: Iterable[str]) -> dict[str, sqlite3.Row]:
        ids = list(node_ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        return {r["node_id"]: r for r in self._read(
            f"SELECT * FROM nodes WHERE run_id=? AND node_id IN ({marks})", (run_id, *ids))}

    def attempts(self, run_id: str, node_id: str | None = None) -> list[sqlite3.Row]:
        if node_id is None:
            return self._read("SELECT * FROM attempts WHERE run_id=? ORDER BY started_at", (run_id,))
        return self._read("SELECT * FROM attempts WHERE run_id=? AND node_id=? ORDER BY attempt", (run_id, node_id))

    def last_session(self, run_id: str, node_id: str) -> str | None:
        """The coding-agent session of the node's latest attempt that reported one."""
        rows = self._read("SELECT session_id FROM attempts WHERE run_id=? AND node_id=? AND session_id IS NOT NULL "
                          "ORDER BY attempt DESC LIMIT 1", (run_id, node_id))
        return str(rows[0][0]) if rows else None

    def failures(self, run_id: str) -> dict[str, tuple[int, float]]:
        """node -> (failed attempts, when the last one ended): what uses up retries."""
        return {r[0]: (int(r[1]), float(r[2] or 0)) for r in self._read(
            "SELECT node_id, COUNT(*), MAX(finished_at) FROM attempts "
            "WHERE run_id=? AND outcome NOT IN ('succeeded', 'expired', 'cancelled') AND finished_at IS NOT NULL "
            "GROUP BY node_id", (run_id,))}

    def rollbacks(self, run_id: str) -> list[sqlite3.Row]:
        return self._read("SELECT * FROM rollbacks WHERE run_id=? ORDER BY round, ord", (run_id,))

    def apply(self, run_id: str, batch: Batch | Iterable[Change]) -> None:
        """Several transitions (a finish, the skips it causes, the launches it unlocks, the
        rollbacks it plans) in one transaction: they are all recorded or none is."""
        if not isinstance(batch, Batch):
            batch = Batch(changes=list(batch))
        if not batch:
            return
        now = time.time()
        # the batch's changes of one node as one UPDATE (later values win, as they would
        # one statement after another), and statements of the same columns as one
        # executemany; an attempt row replaced in the same batch is written once, last
        fields: dict[str, dict[str, object]] = {}
        rows: dict[tuple[str, object], Mapping[str, object]] = {}
        for c in batch.changes:
            if c.fields:
                fields.setdefault(c.node_id, {}).update(c.fields)
            if c.attempt is not None:
                rows[(c.node_id, c.attempt.get("attempt"))] = c.attempt
        by_columns: dict[tuple[str, ...], list[tuple[object, ...]]] = {}
        for nid, f in fields.items():
            by_columns.setdefault(tuple(f), []).append((*f.values(), run_id, nid))
        with self.transaction() as db:
            for columns, args in by_columns.items():
                cur = db.executemany(f"UPDATE nodes SET {', '.join(f'{k}=?' for k in columns)} "
                                     "WHERE run_id=? AND node_id=?", args)
                if cur.rowcount != len(args):
                    raise StoreError(f"no such node among {[a[-1] for a in args]} of run {run_id}")
            attempts = [(run_id, nid, *map(a.get, _ATTEMPT_COLUMNS)) for (nid, _), a in rows.items()]
            if attempts:
                db.executemany(f"INSERT OR REPLACE INTO attempts (run_id, node_id, {', '.join(_ATTEMPT_COLUMNS)}) "
                               f"VALUES (?,?,{','.join('?' * len(_ATTEMPT_COLUMNS))})", attempts)
            if batch.rollbacks:
                db.executemany(f"INSERT OR REPLACE INTO rollbacks (run_id, {', '.join(_ROLLBACK_COLUMNS)}) "
                               f"VALUES (?,{','.join('?' * len(_ROLLBACK_COLUMNS))})",
                               [(run_id, *(r.get(k) for k in _ROLLBACK_COLUMNS)) for r in batch.rollbacks])
            events: list[tuple[str, float, str | None, str, str | None]] = [
                (run_id, now, c.node_id, c.event, None if c.data is None else dumps(c.data))
                for c in batch.changes if c.event is not None]
            events += [(run_id, now, None, kind, None if data is None else dumps(data))
                       for kind, data in batch.run_events]
            if events:
                db.executemany("INSERT INTO events (run_id, at, node_id, kind, data) VALUES (?,?,?,?,?)", events)
            if batch.run_fields:
                self._update(db, "runs", "run_id=?", (run_id,), batch.run_fields)
                if "status" in batch.run_fields:
                    self._event(db, run_id, None, f"run-{batch.run_fields['status']}", None)

    def ensure_nodes(self, run_id: str, plan: Plan) -> None:
        """Rows for nodes a changed workflow added since the run began (resume)."""
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO nodes (run_id, node_id, status, attempts, agent, digest) "
                           "VALUES (?,?,?,?,?,?)",
                           [(run_id, n.id, "pending", 0, n.agent, n.digest) for n in plan.nodes])

    def forget_nodes(self, run_id: str, node_ids: Iterable[str]) -> None:
        """Nodes a changed workflow no longer has (resume); their attempts stay on record."""
        with self.transaction() as db:
            for nid in node_ids:
                db.execute("DELETE FROM nodes WHERE run_id=? AND node_id=?", (run_id, nid))
                self._event(db, run_id, nid, "removed", None)

    def decide(self, run_id: str, gate: str, decision: str, by: str, note: str | None) -> None:
        """A person's answer to an approval gate: 'approved' or 'rejected'."""
        with self.transaction() as db:
            row = db.execute("SELECT status, decision FROM nodes WHERE run_id=? AND node_id=?",
                             (run_id, gate)).fetchone()
            if row is None:
                known = [r[0] for r in db.execute("SELECT node_id FROM nodes WHERE run_id=?", (run_id,))]
                raise StoreError(f"run '{run_id}' has no node '{gate}'{did_you_mean(gate, known)}")
            if row["status"] != "waiting":
                raise StoreError(f"gate '{gate}' is {row['status']}, not waiting for an approval")
            if row["decision"]:
                raise StoreError(f"gate '{gate}' was already {row['decision']}; the run records it shortly")
            db.execute("UPDATE nodes SET decision=?, decided_by=?, decision_note=?, decided_at=? "
                       "WHERE run_id=? AND node_id=?", (decision, by, note, time.time(), run_id, gate))
            self._event(db, run_id, gate, decision, {"by": by, "note": note})

    def decisions(self, run_id: str) -> dict[str, sqlite3.Row]:
        """Waiting gates a person has answered (`lanes approve`, `lanes reject`)."""
        return {r["node_id"]: r for r in self._read(
            "SELECT node_id, decision, decided_by, decision_note, decided_at FROM nodes "
            "WHERE run_id=? AND status='waiting' AND decision IS NOT NULL", (run_id,))}

    def expired_leases(self, run_id: str, now: float) -> list[sqlite3.Row]:
        return self._read("SELECT node_id, attempts, lease_expires_at, worker, started_at FROM nodes "
                          "WHERE run_id=? AND status='running' AND lease_expires_at<?", (run_id, now))

    def event(self, run_id: str, node_id: str | None, kind: str, data: Mapping[str, object] | None = None) -> None:
        with self.transaction() as db:
            self._event(db, run_id, node_id, kind, data)

    def events(self, run_id: str, after: int = 0) -> list[sqlite3.Row]:
        return self._read("SELECT * FROM events WHERE run_id=? AND seq>? ORDER BY seq", (run_id, after))

    def last_event(self, run_id: str) -> int:
        rows = self._read("SELECT MAX(seq) FROM events WHERE run_id=?", (run_id,))
        return int(rows[0][0] or 0)

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _update(db: sqlite3.Connection, table: str, where: str, args: tuple[object, ...],
                fields: Mapping[str, object]) -> None:
        if not fields:
            return
        cols = ", ".join(f"{k}=?" for k in fields)
        cur = db.execute(f"UPDATE {table} SET {cols} WHERE {where}", (*fields.values(), *args))
        if cur.rowcount == 0:
            raise StoreError(f"no such {table[:-1]}: {args}")

    @staticmethod
    def _event(db: sqlite3.Connection, run_id: str, node_id: str | None, kind: str,
               data: Mapping[str, object] | None) -> None:
        db.execute("INSERT INTO events (run_id, at, node_id, kind, data) VALUES (?,?,?,?,?)",
                   (run_id, time.time(), node_id, kind, json.dumps(data) if data is not None else None))
