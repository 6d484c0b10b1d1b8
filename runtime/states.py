"""The states of a node (SPEC section 7): one Enum whose values are the spec's strings.

`State` is a `str`, so a state compares equal to its text, is stored in SQLite and
written to JSON as that text; `State(text)` reads one back.
"""
from __future__ import annotations

from enum import Enum


class State(str, Enum):
    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    WAITING = "waiting"            # an approval gate waiting for a person
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"            # something upstream failed
    CANCELLED = "cancelled"
    ROLLED_BACK = "rolled-back"    # it had succeeded and a rollback gate undid it

    def __str__(self) -> str:      # f"{state}" is its text on every Python (3.11 changed the default)
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


STATES: tuple[State, ...] = tuple(State)
FINAL: frozenset[State] = frozenset({State.SUCCEEDED, State.FAILED, State.SKIPPED, State.CANCELLED,
                                     State.ROLLED_BACK})
