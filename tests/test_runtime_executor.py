"""The local executor alone: real processes, their logs, timeouts, cancels, no-shell starts."""
from __future__ import annotations

import os
import subprocess
import time

import pytest
from runtime_helpers import alive, run, run_id_of, wait_for, workflow

from lanes.runtime.executor import Launch, argv_of, needs_bash
from lanes.runtime.local import LocalExecutor, _argv


@pytest.fixture
def executor(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                  # commands run in our directory: the posix_spawn path
    started = []
    ex = LocalExecutor(on_started=lambda n, a, pgid: started.append((n, a, pgid)), grace_s=0.5)
    ex.started = started
    yield ex
    ex.close()


def launch(tmp_path, node: str, command: str, timeout: float | None = None, cwd=None, log=None) -> Launch:
    return Launch("r", node, 1, command, str(cwd or tmp_path), (("LANES_TASK", node),),
                  str(log or tmp_path / f"{node}.log"), timeout)


def wait_all(ex, n: int, limit: float = 20) -> dict:
    out, deadline = {}, time.monotonic() + limit
    while len(out) < n and time.monotonic() < deadline:
        for o in ex.wait(0.5):
            out[o.node_id] = o
    return out


@pytest.mark.parametrize("command, shell", [
    ("sleep 0.1", False), ("true", False), ("echo 'quoted words'", True), ("a=1 env", True),
    ("ls *.txt", True), ("echo $HOME", True), ("cd /tmp", True), ("x | y", True), ("echo hi > f", True),
])
def test_shell_only_when_needed(command, shell):
    assert (argv_of(command)[:2] == ["bash", "-c"]) is shell


def test_what_bash_would_run_itself_goes_to_bash():
    """Every keyword and builtin of the bash installed here: run directly it would be a
    program of that name (none, mostly: `:` failed with 127) or another program. Only
    the builtins that are also programs run directly, as make runs them."""
    words = subprocess.run(["bash", "-c", "compgen -k; compgen -b"], capture_output=True, text=True,
                           check=True).stdout.split()
    assert {":", "pushd", "shopt", "if", "time", "pwd"} <= set(words)      # the list read is bash's
    direct = {w for w in words if argv_of(f"{w} x")[:2] != ["bash", "-c"]}
    assert direct == {"echo", "false", "printf", "true"}
    assert argv_of("echo --help")[:2] == ["bash", "-c"]                  # the program would print its help
    assert argv_of("true", shell=True) == ["bash", "-c", "true"]


def test_a_program_is_looked_up_once_and_keeps_its_name(tmp_path):
    """argv[0] as written (as bash passes it: `ls: cannot access`, not `/usr/bin/ls: ...`);
    a program not found goes to bash."""
    path, argv = _argv("ls -d .", os.environ.get("PATH"))
    assert path.endswith("/ls") and argv == ("ls", "-d", ".")
    path, argv = _argv("no-such-program-here --x", str(tmp_path))
    assert path.endswith("bash") and argv == ("bash", "-c", "no-such-program-here --x")


def test_an_environment_bash_acts_on_sends_every_command_to_bash():
    assert not needs_bash({"PATH": "/bin", "HOME": "/root"})
    assert needs_bash({"BASH_ENV": "/etc/profile"})
    assert needs_bash({"BASH_FUNC_deploy%%": "() {  echo deployed\n}"})


def test_builtins_and_missing_programs_run_as_bash_runs_them(tmp_path):
    wf = workflow(tmp_path, """
        agents: {a: {}}
        tasks:
          colon: {agent: a, run: ":"}
          pushd: {agent: a, run: "pushd /"}
          shopt: {agent: a, run: "shopt -s nullglob"}
          missing: {agent: a, run: "no-such-program-lanes-test"}
          named: {agent: a, run: "ls no-such-file-lanes-test"}
        """)
    r = run("run", wf, "--no-progress", "--keep-going")
    assert r.returncode == 1, r.stdout + r.stderr
    rid = run_id_of(r)
    done = {line.split()[2] for line in r.stdout.splitlines() if " succeeded " in line and " in " in line}
    assert done == {"colon", "pushd", "shopt"}
    assert "failed missing (exit 127)" in r.stdout
    log = (tmp_path / ".lanes" / "runs" / rid / "logs" / "missing.log").read_text()
    assert "no-such-program-lanes-test: command not found" in log
    named = (tmp_path / ".lanes" / "runs" / rid / "logs" / "named.log").read_text()
    assert named.startswith("ls: cannot access")           # its name as written, not /usr/bin/ls


def test_bash_start_up_file_and_exported_functions_apply(tmp_path, monkeypatch):
    """With BASH_ENV or an exported function in the environment, a command without shell
    syntax still sees what bash -c would: the start-up file ran, the function shadows."""
    (tmp_path / "env.sh").write_text("export GREETING=hello\n")
    monkeypatch.setenv("BASH_ENV", str(tmp_path / "env.sh"))
    monkeypatch.setenv("BASH_FUNC_true%%", "() {  echo shadowed\n}")
    wf = workflow(tmp_path, """
        agents: {a: {}}
        tasks:
          greet: {agent: a, run: "printenv GREETING"}
          shadow: {agent: a, run: "true"}
        """)
    r = run("run", wf, "--no-progress")
    assert r.returncode == 0, r.stdout + r.stderr
    logs = tmp_path / ".lanes" / "runs" / run_id_of(r) / "logs"
    assert (logs / "greet.log").read_text() == "hello\n"
    assert (logs / "shadow.log").read_text() == "shadowed\n"


def test_commands_without_shell_syntax_run_without_a_shell(tmp_path, executor):
    executor.start(launch(tmp_path, "plain", "sleep 0.3"))
    executor.start(launch(tmp_path, "shell", "sleep 0.3; true"))
    pids = {n: pgid for n, _, pgid in executor.started}

    def comm() -> dict[str, str]:
        return {n: open(f"/proc/{p}/comm").read().strip() for n, p in pids.items()}

    # the kernel renames a process late in exec, after the parent may already run again;
    # until then the child has our name (python3, or python: whichever started pytest)
    ours = open("/proc/self/comm").read().strip()
    deadline = time.monotonic() + 10
    while ours in comm().values() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert comm() == {"plain": "sleep", "shell": "bash"}
    assert all(os.getpgid(p) == p for p in pids.values())      # each leads its own group
    assert all(o.ok for o in wait_all(executor, 2).values())


def test_output_goes_to_the_log_and_silence_costs_no_file(tmp_path, executor):
    executor.start(launch(tmp_path, "loud", "echo out; echo err >&2; echo $LANES_TASK; exit 3"))
    executor.start(launch(tmp_path, "quiet", "true"))
    out = wait_all(executor, 2)
    assert out["loud"].exit_code == 3 and not out["loud"].ok
    assert (tmp_path / "loud.log").read_text().split() == ["out", "err", "loud"]
    assert out["quiet"].ok and not (tmp_path / "quiet.log").exists()


def test_parallel_commands_overlap(tmp_path, executor):
    # each waits until all three have begun: only commands that run at once can pass
    barrier = "touch began.$LANES_TASK; until [ $(ls began.* | wc -l) -ge 3 ]; do sleep 0.01; done"
    for i in range(3):
        executor.start(launch(tmp_path, f"s{i}", barrier, timeout=60))
    out = wait_all(executor, 3, limit=90)
    assert all(o.ok for o in out.values()), out


def test_timeout_kills_the_group_with_its_grandchildren(tmp_path, executor):
    executor.start(launch(tmp_path, "hang", f"sleep 30 & echo $! > {tmp_path}/child; wait", timeout=0.3))
    out = wait_all(executor, 1)["hang"]
    assert out.timed_out and out.exit_code is None and "timed out after 0.3s" in out.error
    child = int((tmp_path / "child").read_text())
    assert wait_for(lambda: not alive(child))
    assert "process group terminated" in (tmp_path / "hang.log").read_text()


def test_a_term_ignoring_command_is_killed_after_the_grace_period(tmp_path, executor):
    # it survives SIGTERM (the trap says so in the log) and never exits: only SIGKILL ends it
    executor.start(launch(tmp_path, "stubborn", "trap 'echo got TERM' TERM; while :; do sleep 0.05; done",
                          timeout=0.3))
    out = wait_all(executor, 1)["stubborn"]
    assert out.timed_out and out.exit_code is None and out.error == "timed out after 0.3s"
    log = (tmp_path / "stubborn.log").read_text()
    assert log.index("got TERM") < log.index("lanes: timed out after 0.3s; process group terminated")


def test_leftovers_of_a_finished_task_are_killed(tmp_path, executor):
    executor.start(launch(tmp_path, "leaves", f"sleep 30 & echo $! > {tmp_path}/child"))
    assert wait_all(executor, 1)["leaves"].ok
    assert wait_for(lambda: not alive(int((tmp_path / "child").read_text())))


def test_output_that_cannot_be_written_is_counted_not_dropped(tmp_path, executor):
    (tmp_path / "logs").mkdir()
    executor.start(launch(tmp_path, "full", "head -c 12345 /dev/zero", log="/dev/full"))       # ENOSPC
    executor.start(launch(tmp_path, "late", "bash -c 'while [ ! -e go ]; do sleep 0.01; done; echo late'",
                          log=tmp_path / "logs" / "late.log"))
    executor.start(launch(tmp_path, "fine", "echo fine"))
    (tmp_path / "logs").rmdir()                  # the log's directory is gone when `late` speaks
    (tmp_path / "go").touch()
    out = wait_all(executor, 3)
    assert out["full"].ok and out["full"].log_error == \
        "lost 12,345 bytes of output: No space left on device (/dev/full)"
    assert out["late"].ok and out["late"].log_error == \
        f"lost 5 bytes of output: No such file or directory ({tmp_path}/logs/late.log)"
    assert out["fine"].log_error is None and (tmp_path / "fine.log").read_text() == "fine\n"


def test_lost_output_of_a_command_that_cannot_start_or_times_out(tmp_path, executor):
    executor.start(launch(tmp_path, "missing", "no-such-program-here", log="/dev/full"))
    executor.start(launch(tmp_path, "hang", "sleep 30", timeout=0.1, log="/dev/full"))
    out = wait_all(executor, 2)
    assert out["missing"].exit_code == 127 and "No space left on device" in out["missing"].log_error
    assert out["hang"].timed_out and "No space left on device" in out["hang"].log_error   # the note


def test_cancel_and_missing_programs(tmp_path, executor):
    executor.start(launch(tmp_path, "long", "sleep 30"))
    executor.start(launch(tmp_path, "missing", "no-such-program-here --flag"))     # bash says so
    executor.start(launch(tmp_path, "nodir", "true", cwd=tmp_path / "gone"))        # nothing can start
    executor.cancel("long")
    out = wait_all(executor, 3)
    assert out["long"].error == "cancelled" and not out["long"].ok
    assert out["missing"].exit_code == 127 and out["missing"].error is None
    assert "no-such-program-here: command not found" in (tmp_path / "missing.log").read_text()
    assert out["nodir"].exit_code == 127 and "cannot start" in out["nodir"].error
    assert "No such file" in (tmp_path / "nodir.log").read_text()


def test_a_file_that_cannot_be_exec_d_is_left_to_bash(tmp_path, executor):
    """No execute permission: bash's 126 and message; a script without #!: bash runs it."""
    (tmp_path / "plain.sh").write_text("echo from a script without a shebang\n")
    (tmp_path / "plain.sh").chmod(0o755)
    (tmp_path / "data.txt").write_text("not a program\n")
    executor.start(launch(tmp_path, "script", "./plain.sh"))
    executor.start(launch(tmp_path, "data", "./data.txt"))
    out = wait_all(executor, 2)
    assert out["script"].ok
    assert (tmp_path / "script.log").read_text() == "from a script without a shebang\n"
    assert out["data"].exit_code == 126 and "Permission denied" in (tmp_path / "data.log").read_text()


def test_signals_and_other_directories(tmp_path, executor):
    sub = tmp_path / "sub"
    sub.mkdir()
    executor.start(launch(tmp_path, "where", "pwd", cwd=sub))           # Popen path: another directory
    executor.start(launch(tmp_path, "here", "printenv PWD"))            # posix_spawn path
    executor.start(launch(tmp_path, "killed", "kill -9 $$"))
    out = wait_all(executor, 3)
    assert (tmp_path / "where.log").read_text().strip() == str(sub)
    assert (tmp_path / "here.log").read_text().strip() == str(tmp_path)
    assert out["killed"].exit_code is None and out["killed"].error == "killed by signal 9"


def test_live_view_has_a_row_per_agent_lane():
    import io

    from runtime_helpers import make_plan

    from lanes.runtime.progress import LiveProgress
    from lanes.runtime.scheduler import Scheduler
    plan = make_plan([{"id": "x", "agent": "api"}, {"id": "y", "agent": "ui"},
                      {"id": "g", "gate": True, "needs": ["x", "y"]}], agents={"api": 1, "ui": 1})
    sched = Scheduler(plan, jobs=2)
    sched.next_launches(0)
    out = io.StringIO()
    view = LiveProgress(plan, out)
    with view:
        view.event("started x (api, attempt 1)")
        view.update(sched)
    text = out.getvalue()
    rows = [line for line in text.splitlines() if line.strip().startswith(("│ api", "│ ui", "│ (gates)"))]
    assert len(rows) == 3 and "x" in rows[0] and "y" in rows[1], text
    assert "started x (api, attempt 1)" in text


def test_without_pidfds_the_loop_polls(tmp_path, executor, monkeypatch):
    monkeypatch.delattr(os, "pidfd_open")                 # as on a system without pidfd_open
    executor.start(launch(tmp_path, "ok", "echo fine"))
    executor.start(launch(tmp_path, "hang", "sleep 30", timeout=0.3))
    out = wait_all(executor, 2)
    assert out["ok"].ok and (tmp_path / "ok.log").read_text() == "fine\n"
    assert out["hang"].timed_out
    assert executor.wait(0.05) == [] and executor.wait(None) == []


def test_live_view_rows_take_in_nodes_added_to_the_run():
    import io

    from runtime_helpers import make_plan

    from lanes.runtime.progress import LiveProgress
    from lanes.runtime.scheduler import Scheduler
    first = [{"id": "x", "agent": "api"}, {"id": "y", "agent": "ui"}]
    plan = make_plan(first, agents={"api": 1, "ui": 1})
    sched = Scheduler(plan, jobs=2)
    grown = make_plan([*first, {"id": "added1", "agent": "api", "needs": ["x"]},
                       {"id": "added2", "agent": "api", "needs": ["x"]}], agents={"api": 1, "ui": 1})
    sched.extend(grown)                        # what `lanes add` does to a running run
    sched.next_launches(0)
    out = io.StringIO()
    view = LiveProgress(plan, out)
    with view:
        view.update(sched)
    rows = [line for line in out.getvalue().splitlines() if line.strip().startswith("│ api")]
    assert len(rows) == 1 and rows[0].rstrip(" │").split("│")[-1].strip() == "3", out.getvalue()
