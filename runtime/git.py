"""A thin runner for git, the one way worktree mode (runtime/workspace.py) calls it.

`run` starts one git command and returns its exit status and standard output; an
exit status the caller did not name as expected raises WorkspaceError, whose
message names the command and carries git's standard error. The variables by
which git finds a repository (GIT_DIR, GIT_INDEX_FILE, ...) or reads pathspecs are
dropped from the environment: lanes started from a git hook or an editor's
terminal still works on the repository it was pointed at, and the pathspec magic
workspace.py relies on means what it says.
"""
from __future__ import annotations

from collections.abc import Sequence
import os
import shlex

_DROPPED = frozenset({
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX",
    "GIT_LITERAL_PATHSPECS", "GIT_GLOB_PATHSPECS", "GIT_NOGLOB_PATHSPECS", "GIT_ICASE_PATHSPECS",
})


class WorkspaceError(Exception):
    """A git command failed (the message names it and gives git's stderr), or a workspace
    operation was refused (the message says why and changes were not made)."""


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def run(cwd: str, args: Sequence[str], *, ok: Sequence[int] = (0,), stdin: bytes | None = None,
        env: dict[str, str] | None = None) -> tuple[int, bytes]:
    """`git -C cwd ARGS`: (exit status, stdout) when the status is in `ok`."""
    import subprocess  # (not at import: a run without worktrees loads none of it)
    argv = ["git", "-C", cwd, *args]
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, check=False,
                              env=environment() if env is None else env)
    except FileNotFoundError:
        raise WorkspaceError("git is not installed (worktree mode needs it)") from None
    if done.returncode not in ok:
        err = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        raise WorkspaceError(f"{shlex.join(argv)}: {err}")
    return done.returncode, done.stdout


def out(cwd: str, args: Sequence[str], *, env: dict[str, str] | None = None) -> str:
    """`git -C cwd ARGS`'s stdout without its final newline; raises unless it exits 0."""
    return run(cwd, args, env=env)[1].decode(errors="surrogateescape").rstrip("\n")


def identity(cwd: str) -> tuple[str, ...]:
    """`-c` options naming lanes as author and committer where the repository's
    configuration names nobody (none when it does; GIT_AUTHOR_NAME and the like still
    win over both)."""
    code, found = run(cwd, ["config", "--get-regexp", r"^user\.(name|email)$"], ok=(0, 1))
    keys = {line.split(b" ", 1)[0].decode() for line in found.splitlines()} if code == 0 else set()
    flags: list[str] = []
    if "user.name" not in keys:
        flags += ["-c", "user.name=lanes"]
    if "user.email" not in keys:
        flags += ["-c", "user.email=lanes@localhost"]
    return tuple(flags)
