"""Build small plans as workflow files and run them through the real CLI."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path


def workflow(tmp_path: Path, body: str, name: str = "w.yaml") -> Path:
    p = tmp_path / name
    p.write_text("workflow: t\n" + textwrap.dedent(body).lstrip("\n"))
    return p


def run(*args, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lanes", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def run_id_of(result) -> str:
    first = result.stdout.splitlines()[0]
    assert first.startswith("run "), result.stdout + result.stderr
    return first.split()[1]


def dashboard(tmp_path: Path, run_id: str) -> dict:
    return json.loads((tmp_path / ".lanes" / "runs" / run_id / "dashboard.json").read_text())


def statuses(tmp_path: Path, run_id: str) -> dict[str, str]:
    return {k: v["status"] for k, v in dashboard(tmp_path, run_id)["tasks"].items()}


def alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
