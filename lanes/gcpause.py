"""Pausing Python's cyclic garbage collector while a command builds what it keeps.

Loading a workflow or a plan builds many small objects and no cycles; the
collector would only scan them again and again while they are built (half the
time of a 100k-task check), and a run loop would rescan them at every full
collection for as long as it runs. `paused()` stops the collector while its body
builds them, then freezes everything alive (later collections skip it, see
`gc.freeze`) and lets the collector go on with what is made afterwards.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
import gc


@contextmanager
def paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
