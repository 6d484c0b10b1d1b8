"""What worktree mode enforces, built where the compiler may be imported: the matcher of
a task's `writes` (the exact pattern language of SPEC section 4), handed to the runtime,
which reads plans and knows no pattern language."""
from __future__ import annotations

from collections.abc import Callable

from lanes.compiler.planfile import PlanNode


def allowed_by(node: PlanNode) -> Callable[[str], bool]:
    """Does a changed path (relative to the workdir) match one of the task's writes?"""
    from lanes.compiler.patterns import compile_pattern, matches
    patterns = [compile_pattern(p) for p in node.writes]      # a scheme's pattern matches no path
    return lambda path: any(matches(p, path) for p in patterns)
