"""A tiny package that three agents extend in parallel (examples/worktree.*)."""
