"""Coding agents as runners, end to end through `lanes run` with stand-ins on PATH that
reproduce the real tools' documented interfaces (tests/standins): the plan's command
line runs, the prompt and the brief reach the tool, the reported session, turns and
cost are recorded and shown, an exit 0 that reports an error fails the attempt, a
retry resumes the session, `limits` caps a runner, the budget stops agent tasks, and
in worktree mode a stray write is caught whatever the tool allowed."""
from __future__ import annotations

import json
import os
from pathlib import Path
import sqlite3
import subprocess

import pytest
from runtime_helpers import dashboard, run, statuses, workflow

STANDINS = Path(__file__).parent / "standins"


@pytest.fixture(autouse=True)
def _standins_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{STANDINS}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("LANES_STANDIN_LOG", str(tmp_path / "calls.jsonl"))


def calls(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]


def test_a_claude_task_runs_its_plan_command_and_its_report_is_recorded(tmp_path):
    wf = workflow(tmp_path, """
        agents:
          coder: {runner: claude, model: sonnet, domain: {writes: ["src/**"], reads: ["docs/**"]}}
        tasks:
          t: {agent: coder, prompt: "WRITE src/x.py: print(1)\\nSESSION s-1\\nCOST 0.25\\nSAY all done"}
        """)
    r = run("run", wf, "--no-progress", "--run-id", "c1", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "src" / "x.py").read_text() == "print(1)"
    (call,) = calls(tmp_path)
    assert call["tool"] == "claude" and "--append-system-prompt-file" in call["argv"]
    assert call["argv"][call["argv"].index("--model") + 1] == "sonnet"
    assert "Edit(/src/**)" in call["argv"] and "Read(/docs/**)" in call["argv"]
    assert call["stdin"].startswith("WRITE src/x.py")                       # the prompt, on stdin
    assert call["env"]["LANES_BRIEF"].endswith("/briefs/coder.md")
    db = sqlite3.connect(tmp_path / ".lanes" / "state.db")
    row = db.execute("SELECT session_id, turns, cost_usd, final FROM attempts WHERE node_id='t'").fetchone()
    db.close()
    assert row[0] == "s-1" and row[1] >= 1 and row[2] == pytest.approx(0.25) and row[3] == "all done"
    data = json.loads(run("status", "c1", "--format", "json").stdout)
    assert data["costs"] == {"total_usd": 0.25, "by_agent": {"coder": 0.25}}
    assert dashboard(tmp_path, "c1")["costs"]["total_usd"] == 0.25
    assert "cost $0.2500: coder $0.2500" in r.stdout and "cost $0.2500" in run("status", "c1").stdout
    logs = run("logs", "c1", "t").stdout
    assert "assistant: all done" in logs and "session: s-1" in logs             # a transcript, not JSON
    assert run("logs", "c1", "t", "--raw").stdout.lstrip().startswith("{")


@pytest.mark.parametrize("fail, why", [("error", "agent:"), ("silent", "no result reported"),
                                       ("permission", "agent:")])
def test_an_exit_0_that_reports_a_failure_is_a_failed_attempt(tmp_path, fail, why):
    wf = workflow(tmp_path, f"""
        agents:
          coder: {{runner: claude, domain: {{writes: ["src/**"]}}}}
        tasks:
          t: {{agent: coder, prompt: "WRITE src/x.py: 1\\nFAIL {fail}"}}
        """)
    assert run("run", wf, "--no-progress", "--run-id", "f1", cwd=tmp_path).returncode == 1
    error = json.loads(run("status", "f1", "--format", "json").stdout)["tasks"]["t"]["error"]
    assert why in error, error


def test_a_retry_resumes_the_tools_session(tmp_path):
    wf = workflow(tmp_path, """
        agents:
          coder: {runner: claude, domain: {writes: ["src/**"]}}
        tasks:
          t: {agent: coder, retries: 1, backoff: {initial: 0.01s},
              prompt: "WRITE src/x.py: 1\\nSESSION sess-9\\nFAIL error 1"}
        """)
    r = run("run", wf, "--no-progress", "--run-id", "rs", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    first, second = calls(tmp_path)
    assert "--resume" not in first["argv"]
    assert second["argv"][second["argv"].index("--resume") + 1] == "sess-9"


def test_limits_cap_a_runner_across_agents(tmp_path):
    lines = ["limits: {claude: 1}", "agents:"]
    lines += [f"  a{i}: {{runner: claude, domain: {{writes: [\"d{i}/**\"]}}}}" for i in range(3)]
    lines += ["tasks:"] + [f"  t{i}: {{agent: a{i}, prompt: \"WRITE d{i}/f: x\"}}" for i in range(3)]
    r = run("run", workflow(tmp_path, "\n".join(lines) + "\n"), "--no-progress", "--run-id", "lim", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    db = sqlite3.connect(tmp_path / ".lanes" / "state.db")
    events = [(n, k) for n, k in db.execute(
        "SELECT node_id, kind FROM events WHERE run_id='lim' AND kind IN ('started', 'attempt-ok') ORDER BY seq")]
    db.close()
    running = 0
    for _, kind in events:                       # never two claude tasks at once
        running += 1 if kind == "started" else -1
        assert running <= 1, events


def test_the_run_budget_stops_agent_tasks_and_resume_goes_on_with_a_higher_one(tmp_path):
    body = """
        max_budget_usd: %s
        agents:
          coder: {runner: claude, domain: {writes: ["src/**"]}}
          sh: {}
        tasks:
          one:   {agent: coder, prompt: "WRITE src/1: x\\nCOST 0.6"}
          two:   {agent: coder, prompt: "WRITE src/2: x\\nCOST 0.6", needs: [one]}
          three: {agent: coder, prompt: "WRITE src/3: x\\nCOST 0.6", needs: [two]}
          plain: {agent: sh, run: "true"}
        """
    wf = workflow(tmp_path, body % "1.0")
    r = run("run", wf, "--no-progress", "--run-id", "b1", cwd=tmp_path)
    assert r.returncode == 1 and "budget" in r.stdout
    assert statuses(tmp_path, "b1") == {"one": "succeeded", "two": "succeeded", "three": "pending",
                                        "plain": "succeeded"}
    wf.write_text(wf.read_text().replace("max_budget_usd: 1.0", "max_budget_usd: 5"))
    r = run("resume", "b1", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert set(statuses(tmp_path, "b1").values()) == {"succeeded"}


def test_a_resume_over_the_budget_starts_no_agent_task(tmp_path):
    wf = workflow(tmp_path, """
        max_budget_usd: 1.0
        agents:
          coder: {runner: claude, domain: {writes: ["src/**"]}}
        tasks:
          one: {agent: coder, prompt: "WRITE src/1: x\\nCOST 1.5"}
          two: {agent: coder, prompt: "WRITE src/2: x\\nCOST 0.1", needs: [one]}
        """)
    assert run("run", wf, "--no-progress", "--run-id", "b2", cwd=tmp_path).returncode == 1
    assert len(calls(tmp_path)) == 1
    r = run("resume", "b2", "--no-progress", cwd=tmp_path)      # the same budget: still spent
    assert r.returncode == 1 and "budget" in r.stdout, r.stdout + r.stderr
    assert len(calls(tmp_path)) == 1
    assert statuses(tmp_path, "b2") == {"one": "succeeded", "two": "pending"}


def test_a_prompt_file_that_cannot_be_written_fails_the_attempt(tmp_path):
    wf = workflow(tmp_path, """
        agents:
          coder: {runner: claude, domain: {writes: ["src/**"]}}
        tasks:
          t: {agent: coder, prompt: "WRITE src/x.py: 1\\nFAIL error"}
        """)
    assert run("run", wf, "--no-progress", "--run-id", "pf", cwd=tmp_path).returncode == 1
    prompts = tmp_path / ".lanes" / "runs" / "pf" / "prompts"
    for f in prompts.iterdir():
        f.unlink()
    prompts.rmdir()
    prompts.write_text("not a folder")                     # so the next prompt file cannot be written
    r = run("resume", "pf", "--no-progress", cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    error = json.loads(run("status", "pf", "--format", "json", cwd=tmp_path).stdout)["tasks"]["t"]["error"]
    assert "cannot write its prompt file" in error, error
    assert len(calls(tmp_path)) == 1                       # the tool was not started again


def test_in_worktree_mode_a_stray_write_of_the_tool_is_caught(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (["init", "-q", "-b", "main"], ["config", "user.name", "T"], ["config", "user.email", "t@e"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True)
    (repo / "README").write_text("r\n")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", "init"], check=True)
    wf = repo / "w.yaml"
    wf.write_text("""workflow: wa
workspace: worktree
agents:
  coder: {runner: codex, domain: {writes: ["src/**"]}}
tasks:
  t: {agent: coder, prompt: "WRITE src/ok.py: 1\\nWRITE README: changed by the agent"}
""")
    r = run("run", wf, "--no-progress", "--run-id", "ws", cwd=repo)
    assert r.returncode == 1
    err = json.loads(run("status", "ws", "--format", "json", cwd=repo).stdout)["tasks"]["t"]["error"]
    assert err.startswith("E500:") and "README" in err
    (call,) = calls(tmp_path)
    assert call["tool"] == "codex" and "workspace-write" in call["argv"]
    assert call["cwd"].startswith(str(tmp_path / ".lanes" / "runs" / "ws" / "worktrees"))


def test_lanes_work_runs_agent_tasks_with_their_runner(tmp_path):
    wf = workflow(tmp_path, """
        agents:
          coder: {runner: gemini, domain: {writes: ["src/**"]}}
        tasks:
          t: {agent: coder, prompt: "WRITE src/g.py: 1\\nCOST 0.05"}
        """)
    assert run("open", wf, "--run-id", "pw", cwd=tmp_path).returncode == 0
    r = run("work", "pw", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "src" / "g.py").exists() and calls(tmp_path)[0]["tool"] == "gemini"
    data = json.loads(run("status", "pw", "--format", "json").stdout)
    assert data["status"] == "succeeded"


def test_the_agents_example_builds_the_documented_command_lines():
    root = Path(__file__).resolve().parent.parent
    r = run("plan", root / "examples" / "agents.yaml")
    assert r.returncode == 0, r.stderr
    nodes = {n["id"]: n for n in json.loads(r.stdout)["nodes"]}
    schema = nodes["schema"]["command"]
    assert schema.startswith("claude -p --output-format stream-json --verbose")
    assert "--max-turns 20" in schema and "--max-budget-usd 1" in schema and "Edit(/contracts/**)" in schema
    assert "--sandbox workspace-write" in nodes["ui"]["command"] and nodes["ui"]["runner"] == "codex"
    assert all(nodes[t]["workspace"] == "worktree" for t in ("schema", "api", "ui"))
