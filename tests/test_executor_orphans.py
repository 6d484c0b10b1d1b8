"""What a task leaves behind outside its process group (setsid, a double fork, job control)
ends with it, and is reaped; the run's other processes, and children of ours that are no
task's, are left alone; resume finds a run's processes by its key."""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess

import pytest
from runtime_helpers import alive, wait_for

from lanes.runtime.executor import Launch
from lanes.runtime.local import LocalExecutor
from lanes.runtime.procs import orphan_groups

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")

KEY = "k" + os.urandom(6).hex()
# the orphan writes its pid; the task waits for it, then ends (with exit code 3)
ORPHAN = "sh -c 'echo $$ > orphan.tmp && mv orphan.tmp orphan; exec sleep 300'"
WAIT_FOR_ORPHAN = "while [ ! -s orphan ]; do sleep 0.01; done; exit 3"


@pytest.fixture
def executor(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ex = LocalExecutor(grace_s=0.5)
    yield ex
    ex.close()


def launch(tmp_path, node: str, command: str, attempt: int = 1) -> Launch:
    env = (("LANES_RUN_ID", "r"), ("LANES_RUN_KEY", KEY), ("LANES_TASK", node), ("LANES_ATTEMPT", str(attempt)))
    return Launch("r", node, attempt, command, str(tmp_path), env, str(tmp_path / f"{node}.log"), None)


def outcomes(ex, n: int, limit: float = 30) -> dict:
    out: dict = {}
    assert wait_for(lambda: out.update((o.node_id, o) for o in ex.wait(0.1)) or len(out) >= n, limit)
    return out


def gone(pid: int) -> bool:
    """Dead and reaped: not even a zombie is left (as a subreaper, reaping it is ours)."""
    return not os.path.exists(f"/proc/{pid}")


def ended(ex, *pids: int) -> bool:
    """Do these processes end and get reaped while the executor's loop goes on, as the
    run loop's does?"""
    return wait_for(lambda: ex.wait(0.05) == [] and all(gone(p) for p in pids), 10)


def parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


@pytest.mark.parametrize("leaves", [
    f"setsid {ORPHAN} &",                                           # a session of its own
    f"({ORPHAN} &)",                                                # a double fork
    f"set -m; {ORPHAN} &",                                          # job control: a group of its own
    f"(setsid {ORPHAN} </dev/null >/dev/null 2>&1 &)",              # a daemon: all three, output closed
], ids=["setsid", "double-fork", "own-group", "daemon"])
def test_what_left_the_group_ends_with_the_task_and_is_reaped(tmp_path, executor, leaves):
    executor.start(launch(tmp_path, "t", f"{leaves}\n{WAIT_FOR_ORPHAN}"))
    out = outcomes(executor, 1)["t"]
    assert out.exit_code == 3 and out.error is None
    pid = int((tmp_path / "orphan").read_text())
    assert ended(executor, pid), f"orphan {pid} outlived its task"


def test_a_double_forked_orphan_becomes_our_child_while_its_task_runs(tmp_path, executor):
    executor.start(launch(tmp_path, "t", f"({ORPHAN} &); while [ ! -e go ]; do sleep 0.01; done"))
    assert wait_for(lambda: (tmp_path / "orphan").exists())
    pid = int((tmp_path / "orphan").read_text())
    assert wait_for(lambda: parent(pid) == os.getpid())             # re-parented to the subreaper
    (tmp_path / "go").touch()
    assert outcomes(executor, 1)["t"].ok
    assert ended(executor, pid)


def test_an_orphan_that_ignores_sigterm_gets_sigkill_after_the_grace_period(tmp_path, executor):
    stubborn = ("setsid bash -c \"trap 'echo term >> got' TERM; echo \\$\\$ > orphan; "
                "while :; do sleep 0.05; done\" >/dev/null 2>&1 &")          # no SIGPIPE from our pipe
    executor.start(launch(tmp_path, "t", f"{stubborn}\nwhile [ ! -s orphan ]; do sleep 0.01; done"))
    assert outcomes(executor, 1)["t"].ok
    pid = int((tmp_path / "orphan").read_text())
    assert ended(executor, pid)
    assert (tmp_path / "got").read_text().startswith("term")      # it had SIGTERM first, and survived it


def test_another_tasks_orphans_are_left_to_it(tmp_path, executor):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    executor.start(launch(tmp_path, "a", f"cd a; while [ ! -e go ]; do sleep 0.01; done; setsid {ORPHAN} & "
                                         f"{WAIT_FOR_ORPHAN}"))
    executor.start(launch(tmp_path, "b", f"cd b; setsid {ORPHAN} & while [ ! -e go ]; do sleep 0.01; done"))
    assert wait_for(lambda: (tmp_path / "b" / "orphan").exists())
    b_orphan = int((tmp_path / "b" / "orphan").read_text())     # created after a's leader: in a's pid range
    (tmp_path / "a" / "go").touch()
    assert outcomes(executor, 1)["a"].exit_code == 3
    a_orphan = int((tmp_path / "a" / "orphan").read_text())
    assert ended(executor, a_orphan)
    assert alive(b_orphan)
    (tmp_path / "b" / "go").touch()
    assert outcomes(executor, 1)["b"].ok
    assert ended(executor, b_orphan)


def test_many_tasks_keep_their_exit_codes_and_our_own_children_are_left_alone(tmp_path, executor):
    wait_then = "while [ ! -e done ]; do sleep 0.01; done; exit "
    ours = [subprocess.Popen(["sh", "-c", wait_then + "7"], cwd=tmp_path),
            subprocess.Popen(["sh", "-c", wait_then + "8"], cwd=tmp_path, start_new_session=True)]
    try:
        n, started, out = 300, 0, {}
        while len(out) < n:
            while started < n and started - len(out) < 4:
                i = started
                leaves = (f"mkdir o{i} && cd o{i} && setsid {ORPHAN} & "
                          f"{WAIT_FOR_ORPHAN.replace('orphan', f'o{i}/orphan')}")
                executor.start(launch(tmp_path, f"t{i}", leaves if i % 10 == 0 else f"exit {i % 5}"))
                started += 1
            out.update((o.node_id, o) for o in executor.wait(5))
        assert {k: o.exit_code for k, o in out.items()} == {f"t{i}": 3 if i % 10 == 0 else i % 5 for i in range(n)}
        orphans = [int((tmp_path / f"o{i}" / "orphan").read_text()) for i in range(0, n, 10)]
        assert ended(executor, *orphans)
        assert orphan_groups(KEY) == set()
        assert [p.poll() for p in ours] == [None, None]       # our own children, no task's: still running
        (tmp_path / "done").touch()
        assert [p.wait(timeout=20) for p in ours] == [7, 8]   # and their exit status was not taken from them
    finally:                                                  # a failure above leaves no loop running
        (tmp_path / "done").touch()
        for p in ours:
            if p.poll() is None:
                p.kill()
                p.wait()


def subreaper() -> int:
    flag = ctypes.c_int(-1)
    ctypes.CDLL(None).prctl(37, ctypes.byref(flag), 0, 0, 0)          # PR_GET_CHILD_SUBREAPER
    return flag.value


def test_the_process_is_a_subreaper_while_an_executor_is_open():
    before = subreaper()
    first, second = LocalExecutor(), LocalExecutor()
    assert subreaper() == 1
    first.close()
    assert subreaper() == 1                       # the other one still needs it
    second.close()
    second.close()
    assert subreaper() == before


def test_orphan_groups_are_found_by_the_run_key_not_the_run_id(tmp_path):
    """Two runs with one run id (two state directories): resuming one must not end the other's."""
    procs = []

    def start(key: str, command: str) -> subprocess.Popen:
        env = {**os.environ, "LANES_RUN_ID": "same", "LANES_RUN_KEY": key}
        p = subprocess.Popen(["sh", "-c", command], env=env, cwd=tmp_path, start_new_session=True)
        procs.append(p)
        return p

    mine, other = "k" + os.urandom(6).hex(), "k" + os.urandom(6).hex()
    try:
        leader = start(mine, "setsid sh -c 'echo $$ > left; exec sleep 300' & exec sleep 300")
        theirs = start(other, "exec sleep 300")
        assert wait_for(lambda: (tmp_path / "left").read_text().strip())
        left = int((tmp_path / "left").read_text())
        assert orphan_groups(mine) == {leader.pid, os.getpgid(left)}    # its group and what left it
        assert orphan_groups(other) == {theirs.pid}
    finally:
        for pgid in orphan_groups(mine) | orphan_groups(other):
            os.killpg(pgid, signal.SIGKILL)
        for p in procs:
            p.wait()
