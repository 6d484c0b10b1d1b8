"""Run commands as local processes, each in its own process group.

One thread does everything, as make does: `start` spawns the command at once
(posix_spawn: a vfork and an exec, no shell when the command has no shell
syntax, see lanes.runtime.executor.argv_of) and `wait` is a poll loop over every
running command's pidfd (it has exited) and output pipe (copied into the node's
log, which is created by the first byte: a silent task costs no file). Worker
threads were tried first: they lose more time queueing for the GIL than they save.

Timeouts and cancels give the whole process group SIGTERM, then SIGKILL after a
grace period, so grandchildren do not outlive their task. When a task ends, what
it left is ended as well: its group at once (SIGKILL), and what left the group or
the session (`setsid`, a double fork) through `Leftovers` (SIGTERM, SIGKILL after
the grace period). While an executor is open its process is a child subreaper
(Linux), so such orphans become its children rather than init's and it reaps them.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
import os
import select
import shutil
import signal
import time

from lanes.runtime.executor import Launch, LogFile, Outcome, argv_of, needs_bash
from lanes.runtime.procs import (
    GRACE_S,
    RANGE_TRUSTED_S,
    Leftovers,
    forks,
    hold_subreaper,
    none_but,
    pid_max,
    signal_group,
)

_RESTORED = (signal.SIGPIPE, signal.SIGXFSZ)     # Python ignores these; a command must not
_LEADERS_KEPT = 256                             # more than procs' probe of new pids looks at


@lru_cache(maxsize=4096)
def _argv(command: str, path: str | None, shell: bool = False) -> tuple[str, tuple[str, ...]]:
    """The program to execute for a command and its argv (`argv_of`; argv[0] as written,
    as bash passes it), the program looked up in PATH once (as bash's hash table does)
    rather than in every child. A program not found goes to bash, which says so in the
    words a user expects (or runs what it knows by that name)."""
    argv = argv_of(command, shell)
    if "/" in argv[0]:
        return argv[0], tuple(argv)
    found = shutil.which(argv[0], path=path)
    if found is None and argv[0] != "bash":
        return _argv(command, path, True)
    return found or argv[0], tuple(argv)


@lru_cache(maxsize=64)
def _same_dir(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _spawn(program: tuple[str, tuple[str, ...]], cwd: str, env: dict[str, str], out: int) -> int:
    """Start a program and its argv (`_argv`) in a new session (its own process group)
    with stdout and stderr on `out`; its pid. posix_spawn when the command runs in our
    own directory, which `lanes run` makes the plan's workdir; Popen otherwise
    (posix_spawn cannot change directory before Python 3.13)."""
    path, argv = program
    if _same_dir(cwd, os.getcwd()):
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_DUP2, out, 1), (os.POSIX_SPAWN_DUP2, out, 2)]
        return os.posix_spawn(path, argv, env, file_actions=actions, setsid=True, setsigdef=_RESTORED)
    import subprocess  # (only for another directory)
    proc = subprocess.Popen(argv, executable=path, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=out, start_new_session=True)
    proc.returncode = 0          # reaped by the executor with waitpid; Popen's __del__ must not try
    return proc.pid


def _keep_descriptors_to_ourselves() -> None:
    """posix_spawn does not close descriptors as Popen does: make any that we inherited
    (ours are close-on-exec already) close on exec, so commands do not hold them open."""
    try:
        fds = [int(f) for f in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in fds:
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    os.set_inheritable(fd, False)
            except OSError:
                pass


class _Running:
    __slots__ = ("launch", "pid", "pidfd", "out", "log", "started", "begun", "forks", "timeout_at", "serial",
                 "kill_at", "timed_out", "cancelled")

    def __init__(self, launch: Launch, pid: int, pidfd: int | None, out: int | None, log: LogFile,
                 started: float, begun: float, forks: int | None, timeout_at: float | None, serial: int) -> None:
        self.launch, self.pid, self.pidfd, self.log = launch, pid, pidfd, log
        self.out = out                       # the read end of its output pipe, None once closed
        self.started = started
        self.begun = begun                   # monotonic
        self.forks = forks                   # the machine's fork count (as last read) when it started
        self.timeout_at = timeout_at         # monotonic
        self.serial = serial                 # the executor's count of starts, this one included
        self.kill_at: float | None = None    # SIGKILL due (after a SIGTERM)
        self.timed_out = False
        self.cancelled = False


class LocalExecutor:
    """The Executor protocol (lanes.runtime.executor) for this machine. Not thread-safe:
    one thread calls everything. `on_started(node_id, attempt, pgid)` is called by
    `start` once the process group exists. Its process is a child subreaper until
    `close`. Children that other code of the process starts are never touched: only
    what is in an ended task's session or carries its identity is."""

    def __init__(self, on_started: Callable[[str, int, int | None], None] | None = None,
                 grace_s: float = GRACE_S) -> None:
        self.on_started = on_started
        self.grace_s = grace_s
        self.running: dict[str, _Running] = {}
        self.fds: dict[int, _Running] = {}
        self.poller = select.poll()
        self.finished: list[Outcome] = []        # ended before `wait` was asked
        self.base_env = dict(os.environ)
        self.shell = needs_bash(self.base_env)   # bash has start-up code or functions: bash runs all
        self.envs: dict[str, dict[str, str]] = {}   # base_env with PWD, per directory
        self.leftovers: list[Leftovers] = []     # of ended tasks, still being ended
        self.ended: list[_Running] = []          # ended tasks whose leftovers are still to look for
        self.forks = forks()
        self.leaders: dict[int, int] = {}         # pid -> serial, of the last commands we started
        self.serial = 0
        self.closed = False
        _keep_descriptors_to_ourselves()
        hold_subreaper(True)

    def start(self, launch: Launch) -> None:
        env = self._env_in(launch.cwd).copy()
        env.update(launch.env)
        log = LogFile(launch.log_path)
        started = time.time()
        out = into = None
        try:
            out, into = os.pipe()
            path, shell = env.get("PATH"), self.shell or "BASH_ENV" in env
            program = _argv(launch.command, path, shell)
            try:
                pid = _spawn(program, launch.cwd, env, into)
            except OSError:
                if program[1][0] == "bash":
                    raise
                # exec'd directly, it would not start (no execute permission, a script
                # without #!): bash does what it does then (126, or runs it as a script)
                pid = _spawn(_argv(launch.command, path, True), launch.cwd, env, into)
        except OSError as exc:
            if out is not None:
                os.close(out)
            reason = exc.strerror or str(exc)
            log.write(f"lanes: cannot start: {reason}\n".encode())
            log.close()
            self.finished.append(Outcome(launch.node_id, launch.attempt, 127, False, False,
                                         f"cannot start: {reason}", started, time.time(), log.problem))
            return
        finally:
            if into is not None:
                os.close(into)
        os.set_blocking(out, False)
        self.serial += 1
        self.leaders.pop(pid, None)                 # (a pid used again goes to the end)
        self.leaders[pid] = self.serial
        if len(self.leaders) > _LEADERS_KEPT:
            del self.leaders[next(iter(self.leaders))]
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):            # not Linux: `wait` polls the pid instead
            pidfd = None
        begun = time.monotonic()
        timeout_at = None if launch.timeout_s is None else begun + launch.timeout_s
        r = _Running(launch, pid, pidfd, out, log, started, begun, self.forks, timeout_at, self.serial)
        self.running[launch.node_id] = r
        for fd in (out, pidfd):
            if fd is not None:
                self.fds[fd] = r
                self.poller.register(fd, select.POLLIN)
        if self.on_started:
            self.on_started(launch.node_id, launch.attempt, pid)

    def _env_in(self, cwd: str) -> dict[str, str]:
        """Our environment with PWD as a shell would set it after `cd` (posix_spawn does not
        change it), made once per directory."""
        env = self.envs.get(cwd)
        if env is None:
            env = self.envs[cwd] = {**self.base_env, "PWD": cwd}
        return env

    def wait(self, timeout: float | None) -> list[Outcome]:
        """Outcomes of the commands that ended; [] when none did within `timeout`."""
        end = None if timeout is None else time.monotonic() + timeout
        while self.ended:                        # off the path from one task's end to the next start
            self._end_leftovers(self.ended.pop())
        while True:
            out, self.finished = self.finished, []
            if not self.running and (end is None or not self.leftovers):
                self._tend()
                if not out and end is not None:
                    time.sleep(max(0.0, end - time.monotonic()))
                return out
            for fd, _ in self.poller.poll(0 if out else self._poll_ms(end)):
                r = self.fds.get(fd)
                if r is None:
                    continue
                if fd != r.out:
                    out.append(self._end(r))
                # a command closes its output as it exits: often gone already, no poll more
                elif self._copy(r) and (status := self._reaped(r)) is not None:
                    out.append(self._end(r, status))
            for r in [r for r in self.running.values() if r.pidfd is None]:
                if (status := self._reaped(r)) is not None:
                    out.append(self._end(r, status))
            self._enforce(time.monotonic())
            self._tend()
            if out or (end is not None and time.monotonic() >= end):
                return out

    def _poll_ms(self, end: float | None) -> int:
        """How long poll may block: until `end`, the next timeout, SIGKILL or look at
        leftovers due, and no more than 50 ms when some command has no pidfd to wake us."""
        due = [t for r in self.running.values()
               for t in (r.kill_at, None if r.timed_out or r.cancelled else r.timeout_at) if t is not None]
        due += [left.next_look for left in self.leftovers]
        if end is not None:
            due.append(end)
        ms = -1 if not due else max(0, int((min(due) - time.monotonic()) * 1000) + 1)
        if any(r.pidfd is None for r in self.running.values()):
            ms = 50 if ms < 0 else min(ms, 50)
        return ms

    def _copy(self, r: _Running) -> bool:
        """Move what the command wrote into its log; close the pipe at its end (then True)."""
        while r.out is not None:
            try:
                data = os.read(r.out, 65536)
            except BlockingIOError:
                return False
            if data:
                r.log.write(data)
                continue
            self._forget(r.out)
            os.close(r.out)
            r.out = None
            return True
        return False

    @staticmethod
    def _reaped(r: _Running) -> int | None:
        """The command's wait status if it has exited (then it is reaped), else None."""
        try:
            pid, status = os.waitpid(r.pid, os.WNOHANG)
        except ChildProcessError:
            return None
        return status if pid else None

    def _enforce(self, now: float) -> None:
        for r in self.running.values():
            if r.timeout_at is not None and not (r.timed_out or r.cancelled) and now >= r.timeout_at:
                r.timed_out = True
                self._terminate(r, now)
            elif r.kill_at is not None and now >= r.kill_at:
                r.kill_at = None
                signal_group(r.pid, signal.SIGKILL)

    def _terminate(self, r: _Running, now: float) -> None:
        signal_group(r.pid, signal.SIGTERM)
        r.kill_at = now + self.grace_s

    def _tend(self) -> None:
        """Look again at the leftovers due for it; keep those still alive."""
        now = time.monotonic()
        if any(now >= left.next_look for left in self.leftovers):
            leaders = {r.pid for r in self.running.values()}
            self.leftovers = [left for left in self.leftovers if left.next_look > now or left.look(leaders)]

    def _alone(self, r: _Running) -> bool:
        """Was the ended command's leader all there was of it? Yes when every pid handed out
        since its own went to a command we started after it: then nothing it started can
        exist, in its group or outside it. Not asked of a command that ran long enough for
        pids to go all the way round."""
        return time.monotonic() - r.begun <= RANGE_TRUSTED_S and \
            none_but(r.pid, lambda pid: self.leaders.get(pid, -1) > r.serial)

    def _end_leftovers(self, r: _Running) -> None:
        """Start ending what the task left outside its group (the group had SIGKILL). A
        task that ran long may have seen pids go all the way round (the fork count says)."""
        full = False
        if time.monotonic() - r.begun > RANGE_TRUSTED_S:
            count = forks()
            full = count is None or r.forks is None or count - r.forks >= pid_max() // 2
            self.forks = count
        left = Leftovers(r.pid, r.launch.env, self.grace_s, full)
        if left.look({r.pid for r in self.running.values()}):
            self.leftovers.append(left)

    def _forget(self, fd: int) -> None:
        self.poller.unregister(fd)
        del self.fds[fd]

    def _end(self, r: _Running, status: int | None = None) -> Outcome:
        """The command exited: reap it (unless `status` says it was), end what it left,
        keep the last output."""
        if status is None:
            _, status = os.waitpid(r.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        alone = self._alone(r)
        if not alone:                            # what is left of its group: at once
            signal_group(r.pid, signal.SIGKILL)
        if r.pidfd is not None:
            self._forget(r.pidfd)
            os.close(r.pidfd)
        if r.out is not None:
            self._copy(r)                        # a daemon that left the group may keep the pipe
            if r.out is not None:
                self._forget(r.out)
                os.close(r.out)
        del self.running[r.launch.node_id]
        if not alone:
            self.ended.append(r)                 # its leftovers: looked for once the loop has
        error = None                             # started what this end lets start (see wait)
        if r.timed_out:
            error = f"timed out after {r.launch.timeout_s:g}s"
            r.log.write(f"\nlanes: {error}; process group terminated\n".encode())
        elif r.cancelled:
            error = "cancelled"
        elif code < 0:
            error = f"killed by signal {-code}"
        r.log.close()
        return Outcome(r.launch.node_id, r.launch.attempt, None if code < 0 else code, r.timed_out, False,
                       error, r.started, time.time(), r.log.problem)

    def cancel(self, node_id: str) -> None:
        """SIGTERM now; `wait` sends SIGKILL after the grace period if it is still there."""
        r = self.running.get(node_id)
        if r is not None and not r.cancelled:
            r.cancelled = True
            self._terminate(r, time.monotonic())

    def cancel_all(self) -> None:
        for node_id in list(self.running):
            self.cancel(node_id)

    def close(self) -> None:
        """End whatever still runs (SIGTERM, SIGKILL after the grace period) and reap it."""
        self.cancel_all()
        end = time.monotonic() + self.grace_s + 1
        while self.running and time.monotonic() < end:
            self.wait(0.1)
        for r in list(self.running.values()):
            signal_group(r.pid, signal.SIGKILL)
        while self.ended:
            self._end_leftovers(self.ended.pop())
        while self.running or self.leftovers:    # leftovers give up grace + 1 s after their task
            self.wait(0.1)
        if not self.closed:
            self.closed = True
            hold_subreaper(False)
