"""What every command that reads or writes run state shares: where the state lives
(`--state DIR`, else `$LANES_STATE`, else `.lanes/` in the current directory), which
run ids are acceptable, and opening the store with a message instead of a traceback."""
from __future__ import annotations

import argparse
import os
import re
import sys
import time

from lanes.runtime.store import Store, StoreError

# A run id becomes a directory name and, in worktree mode, a git branch: letters,
# digits, `_` and `-`, starting with a letter, digit or `_`, at most 100 characters.
RUN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,99}\Z")
STATE_HELP = "state directory (default: $LANES_STATE, else .lanes/ in the current directory)"


def add_state(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", metavar="DIR", help=STATE_HELP)


def state_dir(args: argparse.Namespace) -> str:
    return os.path.abspath(args.state or os.environ.get("LANES_STATE") or ".lanes")


def run_id_problem(run_id: str) -> str | None:
    if RUN_ID.match(run_id):
        return None
    shown = run_id if len(run_id) <= 60 else run_id[:57] + "..."
    return (f"--run-id {shown!r} is not a run id: use letters, digits, '_' and '-' (at most 100 "
            "characters, not starting with '-'); it names a directory and a branch")


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + os.urandom(2).hex()   # (secrets: 3 ms of imports)


def open_store(args: argparse.Namespace, create: bool = False) -> Store | None:
    """The store of `args`, or None after printing why not (a missing state is an error
    for every command but those that create runs)."""
    try:
        return Store(state_dir(args), create=create)
    except StoreError as exc:
        print(f"lanes: {exc}", file=sys.stderr)
        return None


def pick_run(store: Store, run_id: str | None, unfinished: bool = False) -> str | None:
    """The run named, or the latest one; None after printing why there is none."""
    if run_id is not None:
        try:
            store.run(run_id)
        except StoreError as exc:
            print(f"lanes: {exc}", file=sys.stderr)
            return None
        return run_id
    latest = store.latest_run(unfinished=unfinished)
    if latest is None:
        print(f"lanes: no {'unfinished ' if unfinished else ''}run in {store.dir}", file=sys.stderr)
    return latest
