"""A node's delays between retries, and the estimate a node gets when it gives none.

In a module of their own, not in planfile.py where the plan holds them: the resolver
and the model use both, and a check, which builds no plan, then does not import the
plan file's classes and json at every start.
"""
from __future__ import annotations

from lanes.dsl.frozen import dataclass

DEFAULT_ESTIMATE_S = 60


@dataclass(frozen=True)
class Backoff:
    """The delays between the retries of a node: initial_s, then times factor, at most max_s."""

    initial_s: float = 1
    factor: float = 2
    max_s: float = 60

    def delay(self, attempt: int) -> float:
        """Delay before retry number `attempt` (1 = the first retry), without jitter."""
        try:
            return min(self.max_s, self.initial_s * self.factor ** (attempt - 1))
        except OverflowError:               # factor ** attempt beyond a float: long past max_s
            return self.max_s
