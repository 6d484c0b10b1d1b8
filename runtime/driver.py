"""The run loop: the `Run` decides and records, an executor runs, this loop connects them.

Each turn asks the run what to start (it commits first when a start needs it: see
lanes.runtime.run), starts it, commits what is due, waits for what ends, and hands
the outcomes back; transitions nothing waits on are committed at most GROUP_S later,
after the turn's starts. The same loop drives the local
executor and the Dask one. SIGINT, SIGTERM and SIGHUP (a closed terminal) stop it
the same way: running process groups are terminated and recorded as cancelled,
and the run is left resumable.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
import signal
import threading
import time
from types import FrameType
from typing import Protocol, TypeVar

from lanes.runtime.executor import Executor
from lanes.runtime.run import APPROVAL_POLL_S, Run
from lanes.runtime.scheduler import Scheduler

IDLE_WAKE_S = 0.2            # the loop wakes at least this often (signals, pgids, approvals)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
T = TypeVar("T")


class Progress(Protocol):
    def __enter__(self) -> Progress: ...
    def __exit__(self, *exc: object) -> None: ...
    def event(self, text: str) -> None: ...
    def update(self, sched: Scheduler, force: bool = False) -> None: ...
    def flush(self) -> None: ...


def in_a_new_thread(fn: Callable[..., T], *args: object) -> T:
    """fn(*args) in a thread of its own, waited for here; its exception is raised here.
    The run loop starts this way because the kernel schedules a thread by its recent
    past: one that has just spent ~100 ms of CPU on start-up (imports, parsing, briefs)
    is for a while let wait behind the commands it starts. Measured on this project's
    Linux 6.18 machines: a loop starting 1,000 `true` takes 0.43 s in a new thread and
    0.55-0.64 s in a thread that first computed for 100 ms. Signals still reach the main
    thread's handlers: it waits in `join`, which they interrupt."""
    result: dict[str, object] = {}

    def target() -> None:
        try:
            result["value"] = fn(*args)
        except BaseException as exc:          # noqa: BLE001 - handed over to the caller
            result["error"] = exc

    thread = threading.Thread(target=target, name="lanes-run-loop", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]  # a BaseException, stored above
    return result["value"]  # type: ignore[return-value]  # fn's result, stored above


class Driver:
    """Runs one run to its end with one executor; `drive()` -> whether it succeeded.
    `signal` tells which signal stopped it (None: none); `wall` is its duration in
    seconds and `waited` the part of it in which only a person could move the run on."""

    def __init__(self, run: Run, executor: Executor, progress: Progress) -> None:
        self.run, self.executor, self.progress = run, executor, progress
        self.spawned: deque[tuple[str, int, int | None]] = deque()   # appended by executors
        self.signal: int | None = None
        self.wall = 0.0
        self.waited = 0.0

    def on_started(self, node_id: str, attempt: int, pgid: int | None) -> None:
        """Executors call this (from any thread) once the process group exists."""
        self.spawned.append((node_id, attempt, pgid))

    @property
    def interrupted(self) -> bool:
        return self.signal is not None

    def drive(self) -> bool:
        old = {s: signal.signal(s, self._on_signal) for s in STOP_SIGNALS}
        started = time.time()
        self.run.background()
        try:
            with self.progress:
                while True:
                    ok = in_a_new_thread(self._loop)
                    status = "succeeded" if ok else ("cancelled" if self.interrupted else "failed")
                    if self.run.close(status):
                        break
                    self.run.look_for_additions(force=True)   # `lanes add` landed as the run ended: go on
                self.progress.update(self.run.sched, force=True)     # the last frame shows the end
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
        self.wall = time.time() - started
        return ok

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is None:
            self.signal = signum

    def _loop(self) -> bool:
        run = self.run
        while not self.interrupted:
            launches = run.launches()
            for launch in launches:
                self.executor.start(launch)
            self._record_spawned()              # (their process groups go with their records)
            run.record_deferred()               # the ends that let these start (see Run.finished)
            run.commit_if_due()                 # after the starts: a commit never delays one
            self.progress.update(run.sched)
            self.progress.flush()
            if run.look_for_additions():
                continue
            if run.done:
                break
            run.refresh()
            waiting = run.waiting_for_person()
            t0 = time.monotonic()
            outcomes = self.executor.wait(self._timeout())
            if waiting:
                self.waited += time.monotonic() - t0
            self._record_spawned()
            for o in outcomes:
                run.finished(o, defer=True)
        run.record_deferred()
        if self.interrupted:
            self._cancel_running()
        run.cancel_rest(self.interrupted)
        if self.interrupted:
            self.progress.event("interrupted: running tasks terminated and recorded as cancelled; "
                                f"continue with `lanes resume {run.run_id}`")
        return not self.interrupted and run.succeeded()

    def _timeout(self) -> float:
        run = self.run
        timeout = IDLE_WAKE_S
        wake = run.sched.next_wake()
        if wake is not None:
            timeout = min(timeout, max(0.0, wake - time.time()))
        for due in (run.commit_due(), run.dashboard_due()):
            if due is not None:
                timeout = min(timeout, due)
        if run.sched.waiting_set:
            timeout = min(timeout, APPROVAL_POLL_S)
        return timeout

    def _record_spawned(self) -> None:
        while self.spawned:
            self.run.started(*self.spawned.popleft())

    def _cancel_running(self) -> None:
        """Terminate every running process group; what ends on its own meanwhile keeps its
        outcome, the rest is recorded as cancelled."""
        run = self.run
        self.executor.cancel_all()
        deadline = time.time() + getattr(self.executor, "grace_s", 5.0) + 5
        while (run.sched.n_running or run.undoing is not None) and time.time() < deadline:
            self._record_spawned()
            for o in self.executor.wait(0.2):
                run.cancel_running(o)
        self._record_spawned()
