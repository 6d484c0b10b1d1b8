"""Run commands as local processes, each in its own process group.

A thread per running command waits for it (with the timeout), so the driver's
loop only reads finished outcomes from a queue. On timeout or cancel the whole
process group gets SIGTERM, then SIGKILL after a grace period, so grandchildren
do not outlive their task.
"""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from typing import Callable

from lanes.runtime.executor import Launch, Outcome, argv_of

GRACE_S = 5.0


def group_alive(pgid: int) -> bool:
    """Does the process group still have a live member? Zombies do not count: a group
    whose parent died may linger as zombies until init reaps them."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not os.path.isdir("/proc"):
        return True
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def kill_group(pgid: int, grace: float = GRACE_S, alive: Callable[[], bool] | None = None) -> None:
    """SIGTERM the group, then SIGKILL whatever is left after `grace` seconds."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            break
        if not group_alive(pgid):
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class LocalExecutor:
    def __init__(self, on_started: Callable[[str, int, int | None], None] | None = None,
                 grace_s: float = GRACE_S) -> None:
        self.on_started = on_started
        self.grace_s = grace_s
        self.done: queue.Queue[Outcome] = queue.Queue()
        self.procs: dict[str, subprocess.Popen] = {}
        self.cancelled: set[str] = set()
        self.lock = threading.Lock()

    def start(self, launch: Launch) -> None:
        env = {**os.environ, **dict(launch.env)}
        started = time.time()
        try:
            log = open(launch.log_path, "ab", buffering=0)
        except OSError as exc:
            self.done.put(Outcome(launch.node_id, launch.attempt, None, False, False,
                                  f"cannot open log: {exc}", started, time.time()))
            return
        try:
            proc = subprocess.Popen(argv_of(launch.command), cwd=launch.cwd, env=env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            log.write(f"lanes: cannot start: {exc}\n".encode())
            log.close()
            self.done.put(Outcome(launch.node_id, launch.attempt, 127, False, False,
                                  f"cannot start: {exc.strerror or exc}", started, time.time()))
            return
        log.close()
        with self.lock:
            self.procs[launch.node_id] = proc
        if self.on_started:
            self.on_started(launch.node_id, launch.attempt, proc.pid)
        threading.Thread(target=self._wait, args=(launch, proc, started), daemon=True).start()

    def _wait(self, launch: Launch, proc: subprocess.Popen, started: float) -> None:
        timed_out = False
        try:
            code = proc.wait(timeout=launch.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(proc.pid, self.grace_s, alive=lambda: proc.poll() is None)
            code = proc.wait()
        try:                                   # the group may hold grandchildren still
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        with self.lock:
            self.procs.pop(launch.node_id, None)
            cancelled = launch.node_id in self.cancelled
        error = None
        if timed_out:
            error = f"timed out after {launch.timeout_s:g}s"
            with open(launch.log_path, "ab") as log:
                log.write(f"\nlanes: {error}; process group terminated\n".encode())
        elif cancelled:
            error = "cancelled"
        elif code < 0:
            error = f"killed by signal {-code}"
        self.done.put(Outcome(launch.node_id, launch.attempt, None if code < 0 else code, timed_out,
                              False, error, started, time.time()))

    def wait(self, timeout: float | None) -> list[Outcome]:
        out = []
        try:
            out.append(self.done.get(timeout=timeout))
        except queue.Empty:
            return out
        while True:
            try:
                out.append(self.done.get_nowait())
            except queue.Empty:
                return out

    def running(self) -> int:
        with self.lock:
            return len(self.procs)

    def cancel(self, node_id: str) -> None:
        with self.lock:
            proc = self.procs.get(node_id)
            self.cancelled.add(node_id)
        if proc is not None:
            threading.Thread(target=kill_group, args=(proc.pid, self.grace_s), daemon=True).start()

    def cancel_all(self) -> None:
        with self.lock:
            nodes = list(self.procs)
        for n in nodes:
            self.cancel(n)

    def close(self) -> None:
        self.cancel_all()
