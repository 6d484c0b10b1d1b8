"""`lanes run --executor dask` on a real cluster: a scheduler and two workers started with the
`dask scheduler` / `dask worker` commands on 127.0.0.1, as a user would start them."""
from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

distributed = pytest.importorskip("distributed")

from runtime_helpers import alive, rollback_chain, run, run_id_of, statuses, wait_for, workflow  # noqa: E402

from lanes.runtime.dask_executor import DaskError, DaskExecutor  # noqa: E402
from lanes.runtime.executor import Launch  # noqa: E402
from lanes.runtime.store import Store  # noqa: E402

# the `dask` command; `python -m dask` is the same command line when its script is not installed
DASK = [shutil.which("dask")] if shutil.which("dask") else [sys.executable, "-m", "dask"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(procs) -> None:
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """tcp://127.0.0.1:PORT with two single-threaded workers (each under its nanny)."""
    logs = tmp_path_factory.mktemp("dask-logs")
    address = f"tcp://127.0.0.1:{_free_port()}"
    procs = []

    def spawn(name, *argv):
        out = open(logs / f"{name}.log", "wb")
        procs.append(subprocess.Popen([*DASK, *argv], stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True, cwd=logs))

    try:
        spawn("scheduler", "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
              "--no-dashboard")
        for i in range(2):
            spawn(f"worker{i}", "worker", address, "--nworkers", "1", "--nthreads", "1",
                  "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{i}")
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        _stop(procs)


def _running(argv: list[str]) -> list[int]:
    """Live processes with exactly this command line."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read().split(b"\0")[:-1] == [a.encode() for a in argv] and alive(int(entry)):
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found


def _wait_for_workers(address: str, n: int = 2) -> None:
    with distributed.Client(address, timeout=30) as client:
        client.wait_for_workers(n, timeout=60)


def test_run_on_the_cluster_with_gates_retries_and_environment(tmp_path, cluster):
    wf = workflow(tmp_path, """
        agents:
          a: {domain: {writes: ["a/**"]}, env: {GREETING: hello}}
          b: {domain: {writes: ["b/**"]}}
        tasks:
          make-a: {agent: a, run: 'mkdir -p a && echo "$GREETING from $LANES_TASK attempt $LANES_ATTEMPT" > a/out'}
          make-b: {agent: b, run: 'mkdir -p b && hostname > b/host && echo built b'}
          flaky:  {agent: b, needs: [make-b], retries: 2, backoff: {initial: 0.1s},
                   run: 'n=$(cat b/n 2>/dev/null || echo 0); echo $((n+1)) > b/n; [ $n -ge 1 ]'}
        gates:
          check: {needs: [make-a, flaky], run: 'test -s a/out && test -s b/host'}
        """)
    r = run("run", wf, "--executor", "dask", "--scheduler", cluster, "--no-progress")
    assert r.returncode == 0, r.stdout + r.stderr
    rid = run_id_of(r)
    assert set(statuses(tmp_path, rid).values()) == {"succeeded"}
    assert (tmp_path / "a" / "out").read_text() == "hello from make-a attempt 1\n"
    assert (tmp_path / "b" / "n").read_text() == "2\n"              # failed once, then passed
    logs = tmp_path / ".lanes" / "runs" / rid / "logs"
    assert (logs / "make-b.log").read_text() == "built b\n"
    assert not (logs / ".dask").exists()                            # attempt markers cleaned up


def test_timeout_is_enforced_on_the_worker(tmp_path, cluster):
    wf = workflow(tmp_path, """
        agents:
          a: {domain: {writes: ["a/**"]}}
        tasks:
          slow: {agent: a, timeout: 1s, run: 'echo begun; sleep 37.25 & wait'}
        """)
    r = run("run", wf, "--executor", "dask", "--scheduler", cluster, "--no-progress")
    assert r.returncode == 1, r.stdout + r.stderr
    rid = run_id_of(r)
    assert statuses(tmp_path, rid) == {"slow": "failed"}
    log = (tmp_path / ".lanes" / "runs" / rid / "logs" / "slow.log").read_text()
    assert log.startswith("begun") and "timed out after 1s" in log   # the worker's timeout, not the sleep's end
    assert wait_for(lambda: not _running(["sleep", "37.25"]))       # the grandchild went too


def test_resume_on_the_cluster_reruns_only_what_failed(tmp_path, cluster):
    wf = workflow(tmp_path, """
        agents:
          a: {domain: {writes: ["a/**"]}}
        tasks:
          first:  {agent: a, run: 'mkdir -p a && echo x >> a/first'}
          second: {agent: a, needs: [first], run: 'test -e a/ready'}
        """)
    r = run("run", wf, "--executor", "dask", "--scheduler", cluster, "--no-progress")
    assert r.returncode == 1
    rid = run_id_of(r)
    assert statuses(tmp_path, rid) == {"first": "succeeded", "second": "failed"}
    (tmp_path / "a" / "ready").write_text("")
    r = run("resume", rid, "--executor", "dask", "--scheduler", cluster, "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert statuses(tmp_path, rid) == {"first": "succeeded", "second": "succeeded"}
    assert (tmp_path / "a" / "first").read_text() == "x\n"


def test_cancel_terminates_the_remote_command(tmp_path, cluster):
    ex = DaskExecutor(cluster)
    try:
        pidfile = tmp_path / "pid"
        ex.start(Launch("r", "long", 1, f"echo $$ > {pidfile}; exec sleep 60", str(tmp_path), (),
                        str(tmp_path / "long.log"), None))
        assert wait_for(lambda: pidfile.read_text().strip(), 60)
        pid = int(pidfile.read_text())
        ex.cancel("long")
        (outcome,) = ex.wait(60)
        assert outcome.error == "cancelled" and not outcome.ok
        assert wait_for(lambda: not alive(pid))
    finally:
        ex.close()


def test_a_killed_driver_leaves_no_command_running_on_the_cluster(tmp_path, cluster):
    """When `lanes run` dies, the scheduler drops its tasks and each worker ends the
    command it was running; `lanes resume` then reruns it without a twin."""
    wf = workflow(tmp_path, """
        agents:
          a: {domain: {writes: ["a/**"]}}
        tasks:
          long: {agent: a, run: 'echo $$ > pid; exec sleep 37.5'}
        """)
    proc = subprocess.Popen([sys.executable, "-m", "lanes", "run", str(wf), "--run-id", "d1", "--executor",
                             "dask", "--scheduler", cluster, "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pidfile = tmp_path / "pid"
    deadline = time.monotonic() + 60                # only so that a hang ends
    while not (pidfile.exists() and pidfile.read_text().strip()):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    proc.kill()
    proc.wait()
    assert wait_for(lambda: not alive(pid), 60)


def test_an_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(DaskError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:"):
        DaskExecutor(f"tcp://127.0.0.1:{_free_port()}", connect_timeout=1)


def test_a_local_cluster_without_scheduler(tmp_path):
    wf = workflow(tmp_path, """
        agents:
          a: {domain: {writes: ["a/**"]}}
          b: {domain: {writes: ["b/**"]}}
        tasks:
          one: {agent: a, run: 'echo one'}
          two: {agent: b, run: 'echo two'}
          three: {agent: a, needs: [one, two], run: 'exit 3'}
        """)
    r = run("run", wf, "--executor", "dask", "--no-progress")
    assert r.returncode == 1, r.stdout + r.stderr
    rid = run_id_of(r)
    assert statuses(tmp_path, rid) == {"one": "succeeded", "two": "succeeded", "three": "failed"}


def test_a_worker_killed_mid_task_is_a_lost_attempt_and_the_run_finishes(tmp_path, cluster):
    """Last: it kills a worker process (its nanny starts a new one)."""
    wf = workflow(tmp_path, """
        agents:
          a: {domain: {writes: ["a/**"]}}
        tasks:
          victim: {agent: a, retries: 1, backoff: {initial: 0.1s},
                   run: 'echo start $LANES_ATTEMPT; sleep 3; echo end $LANES_ATTEMPT'}
          after:  {agent: a, needs: [victim], run: 'echo after'}
        """)
    proc = subprocess.Popen([sys.executable, "-m", "lanes", "run", str(wf), "--run-id", "k1", "--executor",
                             "dask", "--scheduler", cluster, "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        markers = str(tmp_path / ".lanes" / "runs" / "k1" / "logs" / ".dask" / "*.started")
        log = tmp_path / ".lanes" / "runs" / "k1" / "logs" / "victim.log"
        deadline = time.monotonic() + 60                # only so that a hang ends
        while not (glob.glob(markers) and log.exists() and "start 1" in log.read_text()):
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        (marker,) = glob.glob(markers)
        host, worker_pid = open(marker).read().split()
        os.kill(int(worker_pid), signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    assert statuses(tmp_path, "k1") == {"victim": "succeeded", "after": "succeeded"}
    text = log.read_text()
    assert "start 1" in text and "start 2" in text and "end 2" in text
    assert "end 1" not in text                       # the first attempt died with its worker
    outcomes = [(a["attempt"], a["outcome"]) for a in Store(str(tmp_path / ".lanes")).attempts("k1")
                if a["node_id"] == "victim"]
    assert outcomes == [(1, "worker lost while running it"), (2, "succeeded")]
    _wait_for_workers(cluster)


# -- the function that runs on a worker, called directly ----------------------------------------

def _spec(tmp_path, command, **kw):
    return {"command": command, "cwd": str(tmp_path), "env": (("WHO", "lanes"),),
            "log_path": str(tmp_path / "n.log"), "timeout_s": None, "marker": None, **kw}


@pytest.mark.parametrize("via", ["setpriv", "preexec_fn"])
def test_run_on_worker_both_ways_of_tying_the_guard_to_the_worker(tmp_path, monkeypatch, via):
    from lanes.runtime import dask_executor as dx
    if via == "setpriv":
        if not shutil.which("setpriv"):
            pytest.skip("no setpriv here")
        assert dx._death_signal()[0] == ("setpriv", "--pdeathsig", "TERM")
    else:
        def no_setpriv(*args, **kwargs):
            raise OSError("no setpriv")
        monkeypatch.setattr(dx.subprocess, "run", no_setpriv)
        prefix, preexec = dx._death_signal.__wrapped__()               # computed afresh, uncached
        monkeypatch.undo()
        assert prefix == () and preexec is not None
        monkeypatch.setattr(dx, "_death_signal", lambda: (prefix, preexec))
    r = dx.run_on_worker(_spec(tmp_path, 'echo "hi $WHO"; exit 4'))
    assert r["exit_code"] == 4 and not r["lost"] and not r["timed_out"]
    assert (tmp_path / "n.log").read_text() == "hi lanes\n"


def test_run_on_worker_refuses_a_second_start_of_one_attempt(tmp_path):
    from lanes.runtime.dask_executor import run_on_worker
    spec = _spec(tmp_path, "echo ran", marker=str(tmp_path / ".dask" / "a1.started"))
    assert run_on_worker(spec)["exit_code"] == 0
    again = run_on_worker(spec)
    assert again["lost"] and again["exit_code"] is None and again["error"] == "worker lost while running it"
    assert (tmp_path / "n.log").read_text() == "ran\n"                # the command ran once


def test_run_on_worker_runs_commands_as_bash_does(tmp_path, monkeypatch):
    """The worker's guard is bash: a builtin, the start-up file of BASH_ENV and an exported
    function apply to a command without shell syntax as they would under bash -c."""
    from lanes.runtime.dask_executor import run_on_worker
    (tmp_path / "env.sh").write_text("export GREETING=hello\n")
    monkeypatch.setenv("BASH_ENV", str(tmp_path / "env.sh"))
    monkeypatch.setenv("BASH_FUNC_true%%", "() {  echo shadowed\n}")
    for command, out in ((":", ""), ("printenv GREETING", "hello\n"), ("true", "shadowed\n")):
        (tmp_path / "n.log").unlink(missing_ok=True)
        r = run_on_worker(_spec(tmp_path, command))
        assert r["exit_code"] == 0, (command, r)
        log = tmp_path / "n.log"
        assert (log.read_text() if log.exists() else "") == out, command


def test_run_on_worker_reports_what_cannot_start(tmp_path):
    from lanes.runtime.dask_executor import run_on_worker
    r = run_on_worker(_spec(tmp_path, "true", cwd=str(tmp_path / "missing")))
    assert r["exit_code"] == 127 and "cannot start" in r["error"]
    r = run_on_worker(_spec(tmp_path, "true", log_path=str(tmp_path / "no" / "dir.log")))
    assert r["exit_code"] is None and "cannot open log" in r["error"]


def test_run_on_worker_ends_what_the_command_left_outside_its_group(tmp_path):
    from lanes.runtime.dask_executor import run_on_worker
    env = (("LANES_RUN_KEY", "k1"), ("LANES_TASK", "t"), ("LANES_ATTEMPT", "1"))
    left = "setsid sh -c 'echo $$ > orphan.tmp && mv orphan.tmp orphan; exec sleep 300' &"
    r = run_on_worker(_spec(tmp_path, f"{left} while [ ! -s orphan ]; do sleep 0.01; done; exit 5", env=env))
    assert r["exit_code"] == 5
    assert not alive(int((tmp_path / "orphan").read_text()))        # ended before the attempt reported


def test_run_on_worker_reports_its_own_lines_that_the_log_lost(tmp_path):
    from lanes.runtime.dask_executor import run_on_worker
    r = run_on_worker(_spec(tmp_path, "sleep 30", timeout_s=0.1, log_path="/dev/full"))
    assert r["timed_out"] and r["log_error"].endswith("bytes of output: No space left on device (/dev/full)")
    r = run_on_worker(_spec(tmp_path, "true", cwd=str(tmp_path / "missing"), log_path="/dev/full"))
    assert r["exit_code"] == 127 and "No space left on device" in r["log_error"]
    assert run_on_worker(_spec(tmp_path, "true"))["log_error"] is None


def test_rollbacks_run_on_the_cluster_too(tmp_path, cluster):
    # the command's parent is the worker's guard (`lanes-guard`), not the driver
    undo = f"grep -ac lanes-guard /proc/$PPID/cmdline >> {tmp_path}/undo; echo $LANES_TASK >> {tmp_path}/undo"
    wf = rollback_chain(tmp_path, undo, undo, "exit 1")
    r = run("run", wf, "--executor", "dask", "--scheduler", cluster, "--no-progress")
    assert r.returncode == 1, r.stdout + r.stderr
    assert (tmp_path / "undo").read_text().split() == ["1", "second", "1", "first"]


def test_worktree_mode_on_the_cluster(tmp_path, cluster):
    """Worktrees on the (here: the same) shared filesystem: the workers run each attempt
    in the worktree the driver made, and the driver enforces and merges as locally."""
    r = tmp_path / "repo"
    r.mkdir()
    for args in (["init", "-q", "-b", "main"], ["config", "user.name", "T"], ["config", "user.email", "t@e"]):
        subprocess.run(["git", "-C", str(r), *args], check=True)
    (r / "a").mkdir()
    (r / "a" / "f").write_text("x\n")
    subprocess.run(["git", "-C", str(r), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(r), "commit", "-q", "-m", "init"], check=True)
    wf = r / "w.yaml"
    wf.write_text(textwrap.dedent("""
        workflow: wd
        workspace: worktree
        agents:
          a: {domain: {writes: ["a/**"]}}
          b: {domain: {writes: ["b/**"]}}
        tasks:
          ta: {agent: a, run: 'echo "$PWD" > a/where'}
          tb: {agent: b, run: 'mkdir -p b && echo 2 > b/n && echo stray > a/stray'}
        """))
    res = run("run", wf, "--executor", "dask", "--scheduler", cluster, "--no-progress", "--keep-going",
              "--run-id", "dwt", cwd=r)
    assert res.returncode == 1, res.stdout + res.stderr
    where = subprocess.run(["git", "-C", str(r), "show", "lanes/dwt:a/where"], capture_output=True,
                           text=True, check=True).stdout.strip()
    assert "/worktrees/ta.1" in where                                # ran in its worktree, on a worker
    st = json.loads(run("status", "dwt", "--format", "json", cwd=r).stdout)
    assert st["tasks"]["ta"]["status"] == "succeeded"
    assert st["tasks"]["tb"]["error"].startswith("E500:") and "a/stray" in st["tasks"]["tb"]["error"]
