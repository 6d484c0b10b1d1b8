"""Run commands on a Dask distributed cluster, with the local executor's semantics.

Each launch becomes one Dask task running `run_on_worker`, a module-level
function (so workers import it; lanes must be installed on every worker). The
function runs the command in the plan's workdir in its own process group,
appends its output to the log, and enforces the timeout on the worker itself
(SIGTERM to the group, SIGKILL after 5 s), so a slow network never stretches a
timeout. The workdir and the state directory must be the same paths on every
machine (a shared file system): commands work on the one workdir and write the
one log.

Lost workers. When a worker dies, distributed quietly runs its tasks again
elsewhere (up to `distributed.scheduler.allowed-failures` times, then the
future errs with KilledWorker). For lanes a command that started and lost its
worker is a failed attempt, to be retried by lanes' own rules (retries, backoff,
LANES_ATTEMPT). So each attempt first creates a marker file in the shared state
directory with O_EXCL: a second start of the same attempt finds the marker and
reports `lost` instead of running the command twice, while a task that was only
queued on the dead worker (never started) simply runs elsewhere. The command of
the dead worker does not outlive it: it runs under a small bash guard that the
kernel signals when the worker dies (PR_SET_PDEATHSIG, Linux), and the guard
terminates the whole group.

Leftovers. When the command ends, what it left outside its group (setsid, a double
fork) is ended on the worker as the local executor ends it (lanes.runtime.local.
Leftovers: found by the session and the identity in the environment, SIGTERM,
SIGKILL after the grace period), before the attempt reports. The worker is not
made a subreaper: init reaps what is ended there. What left the group does not
die with a killed worker (only the guard's group does).

Logs. The command writes its log itself (stdout is the file): what it cannot write
is its own error. Lanes' own lines (cannot start, timed out) that cannot be written
come back in Outcome.log_error.

Cancels. A cancelled future, or a driver that died (the scheduler releases its
client's tasks), leaves the running task `cancelled` on its worker; the function
sees that within POLL_S and ends the command's group, so a resumed run never
finds a twin of its task still running on the cluster.
"""
from __future__ import annotations

from collections.abc import Callable
import ctypes
import functools
import logging
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, TypedDict
import uuid

from lanes.runtime.executor import Launch, LogFile, Outcome, argv_of
from lanes.runtime.procs import GRACE_S, RANGE_TRUSTED_S, Leftovers, kill_group

POLL_S = 0.2                  # how often a running command checks for a cancel request
CONNECT_TIMEOUT_S = 10

# The guard is the group leader on the worker. It runs the command as its child and,
# when SIGTERM reaches it (a timeout, a cancel, or the death of the worker through
# PDEATHSIG), terminates the group, waits up to GRACE_S for the command, then kills
# the group, itself included. Its exit status is the command's. Its first argument is
# the worker's pid: a parent already gone means the worker died before the kernel was
# told to signal its death, and nothing must start.
GUARD = f"""
[ "$PPID" = "$1" ] || exit 125
shift
trap 'trap "" TERM; kill -TERM 0 2>/dev/null; i=0
      while kill -0 "$child" 2>/dev/null && [ $i -lt {int(GRACE_S * 10)} ]; do sleep 0.1; i=$((i+1)); done
      kill -KILL 0' TERM
"$@" &
child=$!
wait "$child"
"""


class DaskError(RuntimeError):
    """The cluster cannot be used: dask is not installed, or the scheduler cannot be reached."""


class Spec(TypedDict):
    """One attempt, as sent to the worker."""
    command: str
    cwd: str
    env: tuple[tuple[str, str], ...]
    log_path: str
    timeout_s: float | None
    marker: str | None                 # the attempt's marker file (see the module's docstring)


class Result(TypedDict):
    """How the attempt ended, as the worker sends it back."""
    exit_code: int | None
    timed_out: bool
    lost: bool
    cancelled: bool
    error: str | None
    log_error: str | None
    started_at: float
    finished_at: float
    host: str


# -- on the worker ------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _death_signal() -> tuple[tuple[str, ...], Callable[[], None] | None]:
    """How to have the kernel SIGTERM the guard when the worker dies (Linux PDEATHSIG):
    through `setpriv` (util-linux), or else a preexec_fn, which makes Python fork the
    whole worker process instead of a cheap vfork (4 ms more per task here)."""
    if not sys.platform.startswith("linux"):
        return (), None
    setpriv = ("setpriv", "--pdeathsig", "TERM")
    try:
        if subprocess.run([*setpriv, "true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
            return setpriv, None
    except OSError:
        pass
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return (), None
    return (), lambda: prctl(1, int(signal.SIGTERM), 0, 0, 0)      # 1 = PR_SET_PDEATHSIG


def _exited(proc: subprocess.Popen[bytes], pidfd: int | None, timeout: float) -> bool:
    """Wait up to `timeout` for the guard to exit. A pidfd wakes at once; Popen.wait with a
    timeout polls with growing sleeps, which adds milliseconds to every short task."""
    if pidfd is None:
        try:
            proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    ready, _, _ = select.select([pidfd], [], [], timeout)
    return bool(ready)


def _claim_attempt(marker: str | None) -> bool:
    """False when this attempt was started before (by a worker since lost)."""
    if not marker:
        return True
    try:
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    except OSError:                    # no writable shared state dir: distributed's own rule applies
        return True
    os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
    os.close(fd)
    return True


def _cancel_requested() -> bool:
    """The scheduler no longer wants this task: the driver cancelled its future, or the
    driver itself went away (its client's keys are released). The worker then marks the
    running task `cancelled` but cannot stop a thread, so the command is ended here."""
    try:
        from distributed import get_worker
        worker = get_worker()
        task = worker.state.tasks.get(worker.get_current_task())
    except Exception:                  # noqa: BLE001 - not on a worker (called directly): never
        return False
    return task is None or task.state == "cancelled"


def _result(started: float, exit_code: int | None = None, *, timed_out: bool = False,
            lost: bool = False, cancelled: bool = False, error: str | None = None,
            log_error: str | None = None) -> Result:
    return {"exit_code": exit_code, "timed_out": timed_out, "lost": lost, "cancelled": cancelled,
            "error": error, "log_error": log_error, "started_at": started, "finished_at": time.time(),
            "host": socket.gethostname()}


def _note(path: str, text: str) -> str | None:
    """Append lanes' own line to a log; what was lost, if it could not be written."""
    log = LogFile(path)
    log.write(text.encode())
    log.close()
    return log.problem


def run_on_worker(spec: Spec) -> Result:
    """Run one attempt on this worker; never raises (everything comes back as a Result)."""
    started = time.time()
    if not _claim_attempt(spec.get("marker")):
        return _result(started, lost=True, error="worker lost while running it")
    try:
        log = open(spec["log_path"], "ab", buffering=0)
    except OSError as exc:
        return _result(started, error=f"cannot open log on {socket.gethostname()}: {exc}")
    env = {**os.environ, **dict(spec["env"])}
    prefix, preexec = _death_signal()
    try:
        proc = subprocess.Popen([*prefix, "bash", "-c", GUARD, "lanes-guard", str(os.getpid()),
                                 *argv_of(spec["command"])],
                                cwd=spec["cwd"], env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=preexec)
    except OSError as exc:
        log.close()
        lost = _note(spec["log_path"], f"lanes: cannot start: {exc}\n")
        return _result(started, 127, error=f"cannot start: {exc.strerror or exc}", log_error=lost)
    log.close()
    return _supervise(proc, spec, started)


def _supervise(proc: subprocess.Popen[bytes], spec: Spec, started: float) -> Result:
    begun = time.monotonic()
    timeout = spec["timeout_s"]
    deadline = None if timeout is None else time.monotonic() + timeout
    timed_out = cancelled = False
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = None
    try:
        while True:
            step = POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - time.monotonic()))
            if _exited(proc, pidfd, step):
                code = proc.wait()
                break
            if deadline is not None and time.monotonic() >= deadline:
                timed_out = True
            elif _cancel_requested():
                cancelled = True
            if timed_out or cancelled:
                kill_group(proc.pid, GRACE_S, alive=lambda: proc.poll() is None)
                code = proc.wait()
                break
    finally:
        if pidfd is not None:
            os.close(pidfd)
    try:                                   # the group may hold grandchildren still
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    _end_leftovers(proc.pid, spec["env"], time.monotonic() - begun)
    if timed_out:
        error = f"timed out after {timeout:g}s"
        lost = _note(spec["log_path"], f"\nlanes: {error}; process group terminated\n")
        return _result(started, timed_out=True, error=error, log_error=lost)
    if cancelled:
        return _result(started, cancelled=True, error="cancelled")
    if code < 0:
        return _result(started, error=f"killed by signal {-code}")
    return _result(started, code)


def _end_leftovers(guard: int, env: tuple[tuple[str, str], ...], ran_s: float) -> None:
    """End what the command left outside the guard's group, waiting for it (this is the
    attempt's own thread). After a long command every process is looked at: the pids
    created meanwhile may have gone all the way round."""
    left = Leftovers(guard, env, GRACE_S, full=ran_s > RANGE_TRUSTED_S)
    while left.look():
        time.sleep(max(0.0, left.next_look - time.monotonic()))


# -- in the driver ------------------------------------------------------------------------------

class DaskExecutor:
    """The Executor protocol of lanes.runtime.executor over a distributed.Client.

    `scheduler` is an address such as tcp://10.0.0.5:8786; None starts a LocalCluster of
    `workers` single-threaded worker processes on 127.0.0.1, closed by `close()`.
    `on_started` is accepted like the local executor's and never called: the command's
    process group lives on a worker, where a resumed driver could not end it anyway (its
    worker's guard does that)."""

    def __init__(self, scheduler: str | None = None,
                 on_started: Callable[[str, int, int | None], None] | None = None,
                 workers: int = 2, connect_timeout: float = CONNECT_TIMEOUT_S) -> None:
        try:
            import distributed as _distributed
        except ImportError:
            raise DaskError("the dask executor needs dask and distributed: "
                            "pip install 'lanes[dask]'") from None
        distributed: Any = _distributed             # not annotated (no stubs): its objects are Any here
        self.cluster: Any = None
        self.client: Any
        try:
            if scheduler is None:
                self.cluster = distributed.LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=None, silence_logs=logging.ERROR)
                self.client = distributed.Client(self.cluster)
            else:
                self.client = distributed.Client(scheduler, timeout=connect_timeout)
        except (OSError, TimeoutError, ValueError, RuntimeError) as exc:
            if self.cluster is not None:
                self.cluster.close()
            where = scheduler or "a local cluster"
            raise DaskError(f"cannot reach the Dask scheduler at {where}: {exc}") from None
        self.done: queue.Queue[Outcome] = queue.Queue()
        self.lock = threading.Lock()
        self.running: dict[str, tuple[Any, Launch, Spec]] = {}      # node id -> (future, launch, spec)
        self.cancelled: set[str] = set()
        self.marker_dirs: set[str] = set()

    def start(self, launch: Launch) -> None:
        token = uuid.uuid4().hex[:12]
        logs = os.path.dirname(launch.log_path)
        marker = os.path.join(logs, ".dask", f"{token}.started")
        spec: Spec = {"command": launch.command, "cwd": launch.cwd, "env": launch.env,
                      "log_path": launch.log_path, "timeout_s": launch.timeout_s, "marker": marker}
        key = f"lanes-{launch.run_id}-{launch.node_id}-{launch.attempt}-{token}"
        future = self.client.submit(run_on_worker, spec, key=key, pure=False, retries=0)
        with self.lock:
            self.running[launch.node_id] = (future, launch, spec)
            self.cancelled.discard(launch.node_id)
            self.marker_dirs.add(os.path.dirname(marker))
        future.add_done_callback(functools.partial(self._finished, launch=launch, marker=marker))

    def _finished(self, future: Any, launch: Launch, marker: str) -> None:
        """Runs in distributed's callback thread: turn the future into an Outcome. The
        attempt can no longer start again (finished, cancelled or given up), so its
        marker has done its job."""
        _unlink(marker)
        with self.lock:
            if self.running.get(launch.node_id, (None,))[0] is future:
                del self.running[launch.node_id]
            cancelled = launch.node_id in self.cancelled
        now = time.time()
        try:
            if future.status == "finished":
                r: Result = future.result()
                self.done.put(Outcome(launch.node_id, launch.attempt, r["exit_code"], r["timed_out"],
                                      r["lost"], r["error"], r["started_at"], r["finished_at"],
                                      r["log_error"]))
                return
            if future.status == "cancelled":
                error = "cancelled" if cancelled else "the scheduler dropped the task"
                self.done.put(Outcome(launch.node_id, launch.attempt, None, False, not cancelled,
                                      error, now, now))
                return
            exc = future.exception()
        except Exception as e:                     # noqa: BLE001 - the connection itself failed
            exc = e
        self.done.put(Outcome(launch.node_id, launch.attempt, None, False, True,
                              _describe(exc), now, now))

    def wait(self, timeout: float | None) -> list[Outcome]:
        out: list[Outcome] = []
        try:
            out.append(self.done.get(timeout=timeout))
        except queue.Empty:
            return out
        while True:
            try:
                out.append(self.done.get_nowait())
            except queue.Empty:
                return out

    def cancel(self, node_id: str) -> None:
        """Drop the task if it has not started; a running command sees within POLL_S that
        its task was cancelled and terminates its group (TERM, then KILL after 5 s)."""
        with self.lock:
            entry = self.running.get(node_id)
            self.cancelled.add(node_id)
        if entry is None:
            return
        try:
            entry[0].cancel()
        except Exception:                          # noqa: BLE001 - a dead scheduler has nothing to cancel
            pass

    def cancel_all(self) -> None:
        with self.lock:
            nodes = list(self.running)
        for n in nodes:
            self.cancel(n)

    def close(self) -> None:
        self.cancel_all()
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()
            for d in self.marker_dirs:             # empty once every attempt has ended
                try:
                    os.rmdir(d)
                except OSError:
                    pass


def _describe(exc: BaseException | None) -> str:
    name = type(exc).__name__
    if name == "KilledWorker":
        return "worker lost while running it (the cluster gave up on it)"
    if isinstance(exc, (OSError, TimeoutError)) or name == "CommClosedError":
        return f"lost contact with the cluster: {exc}"
    return f"dask: {name}: {exc}"


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
