"""Build small plans and workflows, run them through the real CLI, read their state."""
from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys
import textwrap

from lanes.compiler.planfile import Plan, plan_from_dict, to_json


def workflow(tmp_path: Path, body: str, name: str = "w.yaml") -> Path:
    p = tmp_path / name
    p.write_text("workflow: t\n" + textwrap.dedent(body).lstrip("\n"))
    return p


def rollback_chain(tmp_path: Path, undo_first: str, undo_second: str, check: str) -> Path:
    """first -> second -> gate `check` (on_fail: rollback), both tasks with a rollback."""
    return workflow(tmp_path, f"""
        agents: {{a: {{}}}}
        tasks:
          first:  {{agent: a, run: "true", rollback: "{undo_first}"}}
          second: {{agent: a, run: "true", needs: [first], rollback: "{undo_second}"}}
        gates:
          check: {{needs: [second], run: "{check}", on_fail: rollback}}
        """)


def make_plan(nodes: list[dict], agents: dict[str, int] | None = None, workdir: str = "/tmp") -> Plan:
    """A Plan from short node dicts ({"id", "needs", "agent" | "gate": True, ...}); stages
    are the depths, everything else takes the planner's defaults."""
    by_id = {n["id"]: n for n in nodes}
    depth: dict[str, int] = {}

    def stage(nid: str) -> int:
        if nid not in depth:
            depth[nid] = 1 + max((stage(u) for u in by_id[nid].get("needs", ())), default=-1)
        return depth[nid]

    full = []
    for n in nodes:
        gate = n.get("gate", False)
        d = {"id": n["id"], "kind": "gate" if gate else "task", "needs": list(n.get("needs", ())),
             "run": n.get("run", "true"), "estimate_s": n.get("estimate_s", 60), "timeout_s": n.get("timeout_s"),
             "retries": n.get("retries", 0), "backoff": n.get("backoff", {"initial_s": 1, "factor": 2, "max_s": 60}),
             "stage": stage(n["id"]), "critical": False, "digest": n.get("digest", "sha256:" + n["id"]),
             "env": n.get("env", {})}
        if gate:
            d.update(on_fail=n.get("on_fail", "stop"))
            if "approve" in n:
                d.update(approve=n["approve"], run=None)
        else:
            d.update(agent=n.get("agent", "a"), writes=n.get("writes", []), reads=n.get("reads", []))
            if "rollback" in n:
                d["rollback"] = n["rollback"]
        full.append(d)
    full.sort(key=lambda d: (d["stage"], d["id"]))
    stages = sorted({d["stage"] for d in full})
    agent_ids = agents or {"a": 1}
    return plan_from_dict({
        "lanes_plan": 1, "workflow": "t", "source_digest": "sha256:t", "nodes": full,
        "stages": [[d["id"] for d in full if d["stage"] == s] for s in stages],
        "critical_path": [], "estimate": {"sequential_s": 0, "parallel_s": 0, "efficiency": 0},
        "workdir": workdir,
        "agents": [{"id": a, "skills": [], "instances": k, "domain": None, "writes": [], "reads": [], "env": {}}
                   for a, k in agent_ids.items()]})


def write_plan(path: Path, plan: Plan) -> Path:
    path.write_text(to_json(plan))
    return path


def let_go(procs: list[subprocess.Popen], go: Path) -> None:
    """The end of a test that started processes waiting for `go`: create it, wait for each
    (reading its pipes), kill what is still there after 30 s. No process outlives a test."""
    go.touch()
    for proc in procs:
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def run(*args, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lanes", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def start(*args, cwd=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lanes", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd)


def run_id_of(result) -> str:
    first = result.stdout.splitlines()[0]
    assert first.startswith("run "), result.stdout + result.stderr
    return first.split()[1]


def dashboard(tmp_path: Path, run_id: str) -> dict:
    return json.loads((tmp_path / ".lanes" / "runs" / run_id / "dashboard.json").read_text())


def statuses(tmp_path: Path, run_id: str) -> dict[str, str]:
    return {k: v["status"] for k, v in dashboard(tmp_path, run_id)["tasks"].items()}


def wait_for(predicate, timeout: float = 20.0, every: float = 0.05) -> bool:
    """Poll until `predicate()` is true (exceptions count as not yet)."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(every)
    return False


def alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
