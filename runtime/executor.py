"""What an executor is: it runs one command and reports how it ended.

Executors know nothing of the graph, lanes or retries (the scheduler decides
those); the driver hands them a `Launch` and collects `Outcome`s.
"""
from __future__ import annotations

from dataclasses import dataclass
import re
import shlex
from typing import Protocol

# Characters that need a shell. Without any of them a command is split into argv
# and executed directly, as make does: no bash start-up per task.
_SHELL_SYNTAX = re.compile(r"[|&;<>()$`\\\"'*?\[\]#~=%{}!\n]")
_SHELL_WORDS = {"if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case",
                "esac", "function", "select", "time", "[[", "]]", "!", "{", "}", "export", "cd",
                "source", ".", "exec", "exit", "set", "unset", "alias", "eval", "ulimit", "umask",
                "read", "trap", "shift", "return", "break", "continue", "local", "declare", "type",
                "hash", "wait", "jobs", "kill", "command", "builtin", "let", "test"}


def argv_of(command: str) -> list[str]:
    """The argv to execute `command` with: its words when it has no shell syntax, else bash -c."""
    if not _SHELL_SYNTAX.search(command):
        words = shlex.split(command)
        if words and words[0] not in _SHELL_WORDS:
            return words
    return ["bash", "-c", command]


@dataclass(frozen=True)
class Launch:
    run_id: str
    node_id: str
    attempt: int                          # 1-based
    command: str
    cwd: str                              # the plan's workdir (absolute)
    env: tuple[tuple[str, str], ...]      # only what lanes adds; executors add os.environ
    log_path: str
    timeout_s: float | None


@dataclass(frozen=True)
class Outcome:
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
