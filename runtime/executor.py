"""What an executor is: it runs one command and reports how it ended.

Executors know nothing of the graph, lanes or retries (the scheduler decides
those); the driver hands them a `Launch` and collects `Outcome`s.
"""
from __future__ import annotations

from collections.abc import Mapping
import os
import re
import shlex
from typing import NamedTuple, Protocol

# Characters that need a shell. Without any of them a command is split into argv
# and executed directly, as make does: no bash start-up per task. What bash would run
# differently is still given to bash: its keywords and builtins (all of bash 5.2's,
# `compgen -k; compgen -b`, but those made of shell syntax: `!`, `[[`, `{`), a program
# that is not found or cannot be exec'd (the local executor's `_argv` and `start`),
# and every command when the environment has a start-up file or exported functions
# for bash to apply (`needs_bash`).
_SHELL_SYNTAX = re.compile(r"[|&;<>()$`\\\"'*?\[\]#~=%{}!\n]")
_SHELL_WORDS = frozenset("""
    case coproc do done elif else esac fi for function if in select then time until while
    . : alias bg bind break builtin caller cd command compgen complete compopt continue declare dirs
    disown enable eval exec exit export fc fg getopts hash help history jobs kill let local logout
    mapfile popd pushd pwd read readarray readonly return set shift shopt source suspend test times
    trap type typeset ulimit umask unalias unset wait
    """.split())
# Builtins that are also programs, run directly as make runs them (a task of `true` pays
# no bash start-up); not with an argument of --, where the program would print its
# --help or --version and bash's builtin would not.
_ALSO_PROGRAMS = frozenset({"echo", "false", "printf", "true"})


def argv_of(command: str, shell: bool = False) -> list[str]:
    """The argv to execute `command` with: its words when it has no shell syntax and
    bash would only execute the program they name, else bash -c (and always with
    `shell`: see `needs_bash`)."""
    if not shell and not _SHELL_SYNTAX.search(command):
        words = shlex.split(command)
        if words and words[0] not in _SHELL_WORDS and \
                not (words[0] in _ALSO_PROGRAMS and any(w.startswith("--") for w in words[1:])):
            return words
    return ["bash", "-c", command]


def needs_bash(env: Mapping[str, str]) -> bool:
    """Does this environment change what `bash -c` runs? A start-up file (BASH_ENV, which
    a non-interactive bash reads first) or exported functions (BASH_FUNC_*) only bash
    itself applies: with either, every command goes to bash."""
    return "BASH_ENV" in env or any(k.startswith("BASH_FUNC_") for k in env)


class Launch(NamedTuple):          # (tuples: made for every attempt, cheaply)
    run_id: str
    node_id: str
    attempt: int                          # 1-based
    command: str
    cwd: str                              # the plan's workdir (absolute)
    env: tuple[tuple[str, str], ...]      # only what lanes adds; executors add os.environ
    log_path: str
    timeout_s: float | None


class Outcome(NamedTuple):
    node_id: str
    attempt: int
    exit_code: int | None                 # None when it never ran or was killed by a signal
    timed_out: bool
    lost: bool                            # the executor or its worker died
    error: str | None
    started_at: float
    finished_at: float
    # Output that could not be written to the log (a full disk, a log directory removed):
    # "lost N bytes of output: REASON (PATH)". The attempt's result stands; the run loop
    # records and shows this.
    log_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.lost


class Executor(Protocol):
    def start(self, launch: Launch) -> None: ...
    def wait(self, timeout: float | None) -> list[Outcome]: ...
    def cancel(self, node_id: str) -> None: ...
    def cancel_all(self) -> None: ...
    def close(self) -> None: ...


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
