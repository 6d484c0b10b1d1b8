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

from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
import os
import select
import shutil
import signal
import subprocess
import sys
import time

from lanes.runtime.executor import Launch, Outcome, argv_of

GRACE_S = 5.0
_RESTORED = (signal.SIGPIPE, signal.SIGXFSZ)     # Python ignores these; a command must not
# What marks a command and everything it starts (inherited environment) as one attempt
# of one task of one run.
IDENTITY = ("LANES_RUN_KEY", "LANES_RUN_ID", "LANES_TASK", "LANES_ATTEMPT")
LOOK_EVERY_S = 0.05             # how often leftovers still alive are looked at again
RANGE_TRUSTED_S = 1.0           # pids cannot go all the way round during a shorter task
_PROBE_MAX = 64                 # more new pids than this: read them from a listing of /proc
_PR_SET_CHILD_SUBREAPER, _PR_GET_CHILD_SUBREAPER = 36, 37


# -- processes, as /proc shows them ------------------------------------------------------------

@dataclass(frozen=True)
class _Proc:
    pid: int
    state: str                  # "Z": a zombie, waiting for its parent to reap it
    ppid: int
    pgid: int
    sid: int
    start: int                  # clock ticks after boot: tells a pid's process from a later one


@lru_cache(maxsize=1)
def _proc_is_ours() -> bool:
    """Does /proc show our pid namespace (so its pids are the ones we signal)?"""
    try:
        return os.readlink("/proc/self") == str(os.getpid())
    except OSError:
        return False


def _proc(pid: int) -> _Proc | None:
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.read(fd, 1024)
    except OSError:
        return None
    finally:
        os.close(fd)
    fields = data.rsplit(b")", 1)[-1].split()          # the command's name may hold anything
    if len(fields) < 20:
        return None
    return _Proc(pid, fields[0].decode(), int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19]))


def _environ(pid: int) -> set[bytes]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return set(f.read().split(b"\0"))
    except OSError:
        return set()


def _pids() -> list[int]:
    try:
        return [int(e) for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return []


@cache
def _opened(path: str) -> int | None:
    """A /proc file kept open: reading it again from its start is one system call, not three."""
    try:
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None


def _last_field(path: str) -> int | None:
    fd = _opened(path)
    try:
        return None if fd is None else int(os.pread(fd, 256, 0).split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def _last_pid() -> int | None:
    """The pid handed out last in our pid namespace (/proc/loadavg's last field says it too)."""
    if not _proc_is_ours():
        return None
    last = _last_field("/proc/sys/kernel/ns_last_pid")
    return last if last is not None else _last_field("/proc/loadavg")


@lru_cache(maxsize=1)
def _pid_max() -> int:
    return _last_field("/proc/sys/kernel/pid_max") or 1 << 22


def _forks() -> int | None:
    """Processes and threads created on this machine since boot: unlike pids, this count
    does not go round."""
    try:
        with open("/proc/stat", "rb") as f:
            data = f.read()
        at = data.index(b"\nprocesses ") + 11
        return int(data[at:data.index(b"\n", at)])
    except (OSError, ValueError):
        return None


def _signal(p: _Proc, sig: int) -> None:
    """Signal the process `p` describes, and not one that got its pid since."""
    try:
        fd = os.pidfd_open(p.pid)
    except (AttributeError, OSError):
        fd = None
    try:
        again = _proc(p.pid)
        if again is None or again.start != p.start:
            return
        if fd is None:
            os.kill(p.pid, sig)
        else:
            signal.pidfd_send_signal(fd, sig)
    except OSError:
        pass
    finally:
        if fd is not None:
            os.close(fd)


def _reap(pid: int) -> None:
    """Reap a zombie child of ours that a task left: it is no running task's leader (those
    are reaped by pid when their pidfd says so) and no child that other code started and
    waits for (those are never a task's), so its exit status is nobody else's."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


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
    for pid in _pids():
        p = _proc(pid)
        if p is not None and p.pgid == pgid and p.state != "Z":
            return True
    return False


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_group(pgid: int, grace: float = GRACE_S, alive: Callable[[], bool] | None = None) -> None:
    """SIGTERM the group, then SIGKILL whatever is left after `grace` seconds. Blocking:
    for groups whose leader is not ours to reap (after a crash, on a Dask worker);
    `alive` tells whether our own child leader still runs (a zombie would look alive)."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if (alive is None or not alive()) and not group_alive(pgid):
            return
        time.sleep(0.05)
    signal_group(pgid, signal.SIGKILL)


def orphan_groups(run_key: str) -> set[int]:
    """Process groups of live processes of the run with this key (their environment holds
    LANES_RUN_KEY=run_key, as every command of the run and what it starts inherit):
    catches a task whose pgid the dead runtime had not recorded yet, and what a task moved
    out of its group. A run's key, unlike its id, is not shared with a run of the same id
    in another state directory."""
    marker = os.fsencode(f"LANES_RUN_KEY={run_key}")
    own = {os.getpid(), os.getpgid(0)}
    found = set()
    for pid in _pids():
        if pid in own or marker not in _environ(pid):
            continue
        try:
            pgid = os.getpgid(pid)
        except OSError:
            continue
        if pgid not in own:
            found.add(pgid)
    return found


def identity(env: Iterable[tuple[str, str]]) -> frozenset[bytes]:
    """The entries of a command's environment (lanes' own, IDENTITY) that its descendants
    inherit and that tell them from any other attempt's; empty when they do not (no task,
    or no run to tell it from a task of the same name in another run)."""
    marks = {k: os.fsencode(f"{k}={v}") for k, v in env if k in IDENTITY}
    if "LANES_TASK" not in marks or not ({"LANES_RUN_KEY", "LANES_RUN_ID"} & marks.keys()):
        return frozenset()
    return frozenset(marks.values())


class Leftovers:
    """What a task that ended left running, found without looking at every process: the
    members of its session (its leader led one), and the processes created since it
    started that carry its identity in their environment, with the members of their
    sessions: these may have left its group and its session (setsid, a double fork).
    `look` signals them, SIGTERM when first found and SIGKILL once the grace period is
    over, and reaps those that became our children (a subreaper's).

    Processes created since the task started have pids after its leader's, up to the
    last pid handed out (pids go round at pid_max); `full` when they may have gone all
    the way round: then every process is looked at."""

    def __init__(self, leader: int, env: Iterable[tuple[str, str]], grace: float, full: bool = False) -> None:
        now = time.monotonic()
        self.env = env                           # the task's, for its identity (only if needed)
        self.sessions = {leader}
        self.after = leader                      # pids after this one are new since the last look
        self.full = full
        self.found: dict[int, int] = {}          # pid -> start time, of what was found
        self.kill_at = now + grace
        self.give_up_at = self.kill_at + 1.0     # SIGKILL did not end it (not ours to signal): leave it
        self.next_look = now

    def look(self, skip: Container[int] = ()) -> bool:
        """One pass over what is new since the last pass and what was found before; True
        while some of it is alive. `skip`: the running tasks' leaders (and sessions)."""
        now = time.monotonic()
        last = _last_pid()
        if last is None:
            return False
        me, my_session = os.getpid(), os.getsid(0)
        sig = signal.SIGKILL if now >= self.kill_at else signal.SIGTERM
        alive = False
        for pid in dict.fromkeys([*self._new(last), *self.found]):
            p = None if pid == me or pid in skip else _proc(pid)
            known = self.found.pop(pid, None)
            if p is None or p.sid == my_session or p.sid in skip or (known is not None and known != p.start):
                continue                                 # gone, ours (not a task's), another task's
            if known is None and p.sid not in self.sessions and not (p.state != "Z" and self._carries_identity(pid)):
                continue
            if p.state == "Z":
                if p.ppid == me:
                    _reap(pid)
                else:
                    self.found[pid] = p.start            # its parent, ending too, leaves it to us
                continue
            self.sessions.add(p.sid)
            if known is None or sig == signal.SIGKILL:
                _signal(p, sig)
            self.found[pid] = p.start
            alive = True
        self.after, self.full, self.next_look = last, False, now + LOOK_EVERY_S
        return alive and now < self.give_up_at

    @cached_property
    def marks(self) -> frozenset[bytes]:
        return identity(self.env)

    def _carries_identity(self, pid: int) -> bool:
        return bool(self.marks) and self.marks <= _environ(pid)

    def _new(self, last: int) -> list[int]:
        span = (last - self.after) % _pid_max()
        if self.full:
            return _pids()
        if span <= _PROBE_MAX:
            return [(self.after + i) % _pid_max() for i in range(1, span + 1)]
        return [pid for pid in _pids() if 0 < (pid - self.after) % _pid_max() <= span]


@lru_cache(maxsize=1)
def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


_subreaper_holders = 0          # open executors
_subreaper_was_set = False      # by someone else before the first: theirs, left set


def _hold_subreaper(hold: bool) -> None:
    """Be a child subreaper while some executor is open (Linux; nothing elsewhere): a
    task's descendants whose parent dies then become our children, not init's, so they
    stay within reach of `Leftovers`, which reaps them."""
    global _subreaper_holders, _subreaper_was_set
    prctl = _prctl()
    if prctl is None:
        return
    import ctypes
    _subreaper_holders += 1 if hold else -1
    if hold and _subreaper_holders == 1:
        flag = ctypes.c_int(0)
        prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0)
        _subreaper_was_set = bool(flag.value)
        prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    elif not hold and _subreaper_holders == 0 and not _subreaper_was_set:
        prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@lru_cache(maxsize=4096)
def _argv(command: str, path: str | None) -> tuple[str, ...]:
    """The argv of a command, its program looked up in PATH once (as the shell's hash
    table does) rather than in every child."""
    argv = argv_of(command)
    if "/" not in argv[0]:
        found = shutil.which(argv[0], path=path)
        if found:
            argv = [found, *argv[1:]]
    return tuple(argv)


@lru_cache(maxsize=64)
def _same_dir(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _spawn(argv: tuple[str, ...], cwd: str, env: dict[str, str], out: int) -> int:
    """Start `argv` in a new session (its own process group) with stdout and stderr on
    `out`; its pid. posix_spawn when the command runs in our own directory, which
    `lanes run` makes the plan's workdir; Popen otherwise (posix_spawn cannot change
    directory before Python 3.13)."""
    if _same_dir(cwd, os.getcwd()):
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_DUP2, out, 1), (os.POSIX_SPAWN_DUP2, out, 2)]
        return os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=True, setsigdef=_RESTORED)
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                            start_new_session=True)
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


class LogFile:
    """A node's log, created when the first byte arrives (creating files is the dearest
    part of starting a no-op task). Output that cannot be written (a full disk, a log
    directory removed) does not stop the command or the run, but is counted: `problem`
    says how much was lost and why, for Outcome.log_error."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = None
        self.lost = 0                            # bytes that did not reach the log
        self.reason: str | None = None           # why, the first time

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            if self.fd is None:
                self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            while view:
                view = view[os.write(self.fd, view):]
        except OSError as exc:
            self.lost += len(view)
            if self.reason is None:
                self.reason = exc.strerror or str(exc)

    @property
    def problem(self) -> str | None:
        if not self.lost:
            return None
        return f"lost {self.lost:,} bytes of output: {self.reason} ({self.path})"

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@dataclass
class _Running:
    launch: Launch
    pid: int
    pidfd: int | None
    out: int | None                  # the read end of its output pipe, None once closed
    log: LogFile
    started: float
    begun: float                     # monotonic
    forks: int | None                # the machine's fork count (as last read) when it started
    timeout_at: float | None         # monotonic
    kill_at: float | None = None     # SIGKILL due (after a SIGTERM)
    timed_out: bool = False
    cancelled: bool = False


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
        self.leftovers: list[Leftovers] = []     # of ended tasks, still being ended
        self.forks = _forks()
        self.closed = False
        _keep_descriptors_to_ourselves()
        _hold_subreaper(True)

    def start(self, launch: Launch) -> None:
        # PWD as a shell would set it after `cd`: posix_spawn does not change it
        env = {**self.base_env, "PWD": launch.cwd, **dict(launch.env)}
        log = LogFile(launch.log_path)
        started = time.time()
        out = into = None
        try:
            out, into = os.pipe()
            pid = _spawn(_argv(launch.command, env.get("PATH")), launch.cwd, env, into)
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
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):            # not Linux: `wait` polls the pid instead
            pidfd = None
        begun = time.monotonic()
        timeout_at = None if launch.timeout_s is None else begun + launch.timeout_s
        r = _Running(launch, pid, pidfd, out, log, started, begun, self.forks, timeout_at)
        self.running[launch.node_id] = r
        for fd in (out, pidfd):
            if fd is not None:
                self.fds[fd] = r
                self.poller.register(fd, select.POLLIN)
        if self.on_started:
            self.on_started(launch.node_id, launch.attempt, pid)

    def wait(self, timeout: float | None) -> list[Outcome]:
        """Outcomes of the commands that ended; [] when none did within `timeout`."""
        end = None if timeout is None else time.monotonic() + timeout
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
                if fd == r.out:
                    self._copy(r)
                else:
                    out.append(self._end(r))
            for r in [r for r in self.running.values() if r.pidfd is None]:
                if os.waitid(os.P_PID, r.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    out.append(self._end(r))
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

    def _copy(self, r: _Running) -> None:
        """Move what the command wrote into its log; close the pipe at its end."""
        while r.out is not None:
            try:
                data = os.read(r.out, 65536)
            except BlockingIOError:
                return
            if data:
                r.log.write(data)
                continue
            self._forget(r.out)
            os.close(r.out)
            r.out = None

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

    def _end_leftovers(self, r: _Running) -> None:
        """Start ending what the task left outside its group (the group had SIGKILL). A
        task that ran long may have seen pids go all the way round (the fork count says)."""
        full = False
        if time.monotonic() - r.begun > RANGE_TRUSTED_S:
            forks = _forks()
            full = forks is None or r.forks is None or forks - r.forks >= _pid_max() // 2
            self.forks = forks
        left = Leftovers(r.pid, r.launch.env, self.grace_s, full)
        if left.look({r.pid for r in self.running.values()}):
            self.leftovers.append(left)

    def _forget(self, fd: int) -> None:
        self.poller.unregister(fd)
        del self.fds[fd]

    def _end(self, r: _Running) -> Outcome:
        """The command exited: reap it, end what it left, keep the last output."""
        _, status = os.waitpid(r.pid, 0)
        code = os.waitstatus_to_exitcode(status)
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
        self._end_leftovers(r)
        error = None
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
        while self.running or self.leftovers:    # leftovers give up grace + 1 s after their task
            self.wait(0.1)
        if not self.closed:
            self.closed = True
            _hold_subreaper(False)
