"""What a dead runtime left running: its process groups, found by the ones it recorded
and by the run's key in the environment of every process it started (so an unrecorded
group is found too, and never one of another run that shares the run id)."""
from __future__ import annotations

from collections.abc import Iterable

from lanes.runtime.procs import GRACE_S, group_alive, kill_group, orphan_groups


def end_groups(run_key: str, recorded: Iterable[int], grace_s: float = GRACE_S) -> list[int]:
    """SIGTERM, then SIGKILL after `grace_s`, every live group of the run; the groups ended."""
    groups = set(recorded) | (orphan_groups(run_key) if run_key else set())
    ended = []
    for pgid in sorted(groups):
        if group_alive(pgid):
            kill_group(pgid, grace_s)
            ended.append(pgid)
    return ended
