"""What `lanes status` and `lanes logs` show of a run, read from the store: the
dashboard's shape with the run's state, each gate's decision and each rollback, and
a node's log cut into its attempts (each attempt's start offset is recorded)."""
from __future__ import annotations

from dataclasses import dataclass
import json
import os
from typing import Any

from lanes.runtime.agent_output import parse_agent_output
from lanes.runtime.dashboard import dashboard
from lanes.runtime.run import runtime_alive
from lanes.runtime.store import Store, iso


def run_report(store: Store, run_id: str) -> dict[str, Any]:
    """The dashboard of SPEC section 7 plus: `state` (the run's status, or why it is not
    running any more), per task its `error` and an approval gate's `decision` (who, why),
    and `rollbacks` (command, status, exit code, log)."""
    row = store.run(run_id)
    nodes = store.nodes(run_id)
    data: dict[str, Any] = dashboard(row, nodes, store.rollbacks(run_id))
    state = str(row["status"])
    if state == "running" and row["mode"] == "run" and not runtime_alive(row):
        state = f"interrupted (its runtime is gone: lanes resume {run_id})"
    data["state"] = state
    for nid, t in data["tasks"].items():
        r = nodes[nid]
        t["error"] = r["error"]
        if r["changed"] is not None:
            t["changed_paths"] = r["changed"]
        if r["decision"]:
            t["decision"] = {"decision": r["decision"], "by": r["decided_by"], "note": r["decision_note"],
                             "at": iso(r["decided_at"]), "waited_s": round(float(r["waited_s"] or 0), 3)}
    return data


@dataclass(frozen=True)
class Section:
    attempt: int                 # 0: a rollback
    header: str
    text: bytes


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:    # a log is created by the first byte of output
        return b""


def log_sections(store: Store, run_id: str, node_id: str, raw: bool = False) -> list[Section]:
    """The node's log, one section per attempt (then its rollbacks), each with a header;
    a coding agent's output as a readable transcript unless `raw`."""
    log_dir = os.path.join(store.run_dir(run_id), "logs")
    text = _read(os.path.join(log_dir, f"{node_id}.log"))
    node: dict[str, Any] = next((n for n in json.loads(store.run(run_id)["plan_json"])["nodes"]
                                 if n["id"] == node_id), {})
    agent_runner = node.get("runner") if node.get("prompt") is not None and not raw else None
    attempts = store.attempts(run_id, node_id)
    out = []
    for i, a in enumerate(attempts):
        start = int(a["log_offset"] or 0) if a["log_offset"] is not None else 0
        nxt = attempts[i + 1]["log_offset"] if i + 1 < len(attempts) else None
        end = len(text) if nxt is None else int(nxt)
        if a["log_offset"] is None and i > 0:
            continue                                   # a run from before offsets: one section
        outcome = a["outcome"] or ("running" if a["finished_at"] is None else "ended")
        code = "" if a["exit_code"] is None else f", exit {a['exit_code']}"
        said = "" if code == f", {outcome}" else f", {outcome}"        # a failure's outcome is its exit
        header = f"==> {node_id}: attempt {a['attempt']}, started {iso(a['started_at']) or '-'}{code}{said} <=="
        part = text[start:end]
        if agent_runner is not None:
            result = parse_agent_output(part, str(agent_runner))
            cost = f", ${result.cost_usd:.4f}" if result.cost_usd is not None else ""
            header = header[:-4] + (f", session {result.session_id}" if result.session_id else "") + \
                (f", {result.turns} turns" if result.turns is not None else "") + cost + " <=="
            part = result.transcript.encode()
        out.append(Section(int(a["attempt"]), header, part))
    for r in store.rollbacks(run_id):
        if r["node_id"] == node_id:
            code = "-" if r["exit_code"] is None else r["exit_code"]
            header = f"==> {node_id}: rollback (gate {r['gate']}): {r['command']}  {r['status']}, exit {code} <=="
            out.append(Section(0, header, _read(str(r["log_path"]))))
    return out
