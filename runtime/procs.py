"""Processes as /proc shows them: process groups (alive? end them), the processes of one
run found by its identity in their environment, what a task leaves behind outside
its group (`Leftovers`), and the child-subreaper flag. Used by the local executor, the
Dask worker and resume; it starts nothing itself."""
from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from functools import cache, cached_property, lru_cache
import os
import signal
import sys
import time
from typing import NamedTuple

GRACE_S = 5.0
# What marks a command and everything it starts (inherited environment) as one attempt
# of one task of one run.
IDENTITY = ("LANES_RUN_KEY", "LANES_RUN_ID", "LANES_TASK", "LANES_ATTEMPT")
LOOK_EVERY_S = 0.05             # how often leftovers still alive are looked at again
RANGE_TRUSTED_S = 1.0           # pids cannot go all the way round during a shorter task
_PROBE_MAX = 64                 # more new pids than this: read them from a listing of /proc
_PR_SET_CHILD_SUBREAPER, _PR_GET_CHILD_SUBREAPER = 36, 37
_PF_KTHREAD = 0x00200000        # in /proc/PID/stat's flags
UNSURE_LOOKS = 3                # a process that shows no environment is looked at again this often


# -- processes, as /proc shows them ------------------------------------------------------------

class _Proc(NamedTuple):
    pid: int
    state: str                  # "Z": a zombie, waiting for its parent to reap it
    ppid: int
    pgid: int
    sid: int
    start: int                  # clock ticks after boot: tells a pid's process from a later one
    kernel: bool = False        # a kernel thread (it has no environment, ever)


@lru_cache(maxsize=1)
def _proc_is_ours() -> bool:
    """Does /proc show our pid namespace (so its pids are the ones we signal)?"""
    return _proc_shows(os.getpid())


@lru_cache(maxsize=4)
def _proc_shows(pid: int) -> bool:
    """(Asked once per process: a fork's child has another pid, so it asks again.)"""
    try:
        return os.readlink("/proc/self") == str(pid)
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
    return _Proc(pid, fields[0].decode(), int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19]),
                 bool(int(fields[6]) & _PF_KTHREAD))


def _environ(pid: int) -> set[bytes] | None:
    """The entries of a process's environment; None while it cannot be told: a process in
    the middle of an exec shows none (the new image's is not set up yet), and neither
    does one that has no environment at all."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            data = f.read()
    except OSError:
        return set()
    return set(data.split(b"\0")) if data else None


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


def none_but(leader: int, ours: Callable[[int], bool]) -> bool:
    """Has every pid handed out since `leader`'s gone to a process `ours` names (the
    commands started after it, as when a task that started nothing ends while others
    run)? Then nothing it started can be alive, and its leftovers need no look (pids
    cannot have gone round: the caller knows how long it ran)."""
    last = _last_pid()
    if last is None:
        return False
    top = pid_max()
    span = (last - leader) % top
    if span > _PROBE_MAX:
        return False
    for i in range(1, span + 1):
        if not ours((leader + i) % top):
            return False
    return True


@lru_cache(maxsize=1)
def pid_max() -> int:
    return _last_field("/proc/sys/kernel/pid_max") or 1 << 22


def forks() -> int | None:
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
        if pid in own or marker not in (_environ(pid) or ()):
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
        self.leader = leader
        self.sessions = {leader}
        self.after = leader                      # pids after this one are new since the last look
        self.full = full
        self.found: dict[int, int] = {}          # pid -> start time, of what was found
        self.unsure: dict[int, tuple[int, int]] = {}   # pid -> (start time, looks left), of what
                                                        # showed no environment yet
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
        for pid in dict.fromkeys([*self._new(last), *self.found, *self.unsure]):
            p = None if pid == me or pid in skip else _proc(pid)
            known = self.found.pop(pid, None)
            start, looks = self.unsure.pop(pid, (None, UNSURE_LOOKS))
            if p is None or p.sid == my_session or p.sid in skip or (known is not None and known != p.start) \
                    or (start is not None and start != p.start):
                continue                                 # gone, ours (not a task's), another task's
            if known is None and p.sid not in self.sessions:
                if p.state == "Z" or p.kernel or not self._may_descend(p, me, last):
                    continue
                carries = self._carries_identity(pid)
                if carries is None and looks > 0:        # mid-exec, most likely: look again
                    self.unsure[pid] = (p.start, looks - 1)
                    alive = True
                    continue
                if not carries:
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

    def _may_descend(self, p: _Proc, me: int, last: int) -> bool:
        """Can `p` descend from the task's leader? While we are a child subreaper a
        descendant's parent is the leader, another descendant (created since the leader)
        or, once its own parent died, us: a process whose parent is older than the leader
        is another's, and its environment need not be read (on a busy machine most new
        processes are). Without the subreaper, or when pids may have gone round, any may."""
        if self.full or not subreaper_held():
            return True
        ppid = p.ppid
        return ppid == me or ppid == self.leader or \
            0 < (ppid - self.leader) % pid_max() <= (last - self.leader) % pid_max()

    @cached_property
    def marks(self) -> frozenset[bytes]:
        return identity(self.env)

    def _carries_identity(self, pid: int) -> bool | None:
        """Does the process carry the task's identity (None: it cannot be told yet)?"""
        if not self.marks:
            return False
        env = _environ(pid)
        return None if env is None else self.marks <= env

    def _new(self, last: int) -> list[int]:
        span = (last - self.after) % pid_max()
        if self.full:
            return _pids()
        if span <= _PROBE_MAX:
            return [(self.after + i) % pid_max() for i in range(1, span + 1)]
        return [pid for pid in _pids() if 0 < (pid - self.after) % pid_max() <= span]


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
_subreaper_on = False           # we set it and it took


def subreaper_held() -> bool:
    """Is this process a child subreaper because an open executor made it one?"""
    return _subreaper_on and _subreaper_holders > 0


def hold_subreaper(hold: bool) -> None:
    """Be a child subreaper while some executor is open (Linux; nothing elsewhere): a
    task's descendants whose parent dies then become our children, not init's, so they
    stay within reach of `Leftovers`, which reaps them."""
    global _subreaper_holders, _subreaper_was_set, _subreaper_on
    prctl = _prctl()
    if prctl is None:
        return
    import ctypes
    _subreaper_holders += 1 if hold else -1
    if hold and _subreaper_holders == 1:
        flag = ctypes.c_int(0)
        prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0)
        _subreaper_was_set = bool(flag.value)
        _subreaper_on = prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    elif not hold and _subreaper_holders == 0:
        _subreaper_on = False
        if not _subreaper_was_set:
            prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
