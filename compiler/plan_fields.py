"""What plan.schema.json says, as Python: the fields of each object and the limits.
Read by the two checkers of a plan document (plan_check.py and plan_quick.py)."""
from __future__ import annotations

import sys

PLAN_VERSION = 1
ID_PATTERN = r"[A-Za-z_][A-Za-z0-9_-]*"
DIGEST_PATTERN = r"sha256:[0-9a-f]{64}"
ENV_NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"
MAX_NUMBER = sys.float_info.max      # numbers are finite (1e400 reads as inf)
MAX_COUNT = 10**18 - 1               # whole numbers as the workflow builder takes them (18 digits)

TOP_REQUIRED = ("lanes_plan", "workflow", "source_digest", "nodes", "stages", "critical_path",
                "estimate", "workdir", "agents")
TOP_FIELDS = frozenset((*TOP_REQUIRED, "description", "workspace", "limits", "max_budget_usd", "pools"))
ESTIMATE_FIELDS = ("sequential_s", "parallel_s", "efficiency")
BACKOFF_FIELDS = ("initial_s", "factor", "max_s")
AGENT_REQUIRED = ("id", "skills", "instances", "domain", "writes", "reads", "env")
AGENT_FIELDS = frozenset((*AGENT_REQUIRED, "description", "runner", "model", "max_turns", "max_budget_usd"))
NODE_REQUIRED = ("id", "kind", "needs", "estimate_s", "timeout_s", "retries", "backoff", "stage",
                 "critical", "digest", "env")
NODE_FIELDS = frozenset((*NODE_REQUIRED, "agent", "requires", "run", "approve", "on_fail", "writes",
                         "reads", "rollback", "description", "workspace", "expect_changes", "prompt", "runner",
                         "command"))
TASK_REQUIRED = ("agent", "writes", "reads")           # and exactly one of run and prompt
PROMPT_FIELDS = ("prompt", "runner", "command")        # a prompt task has all three, others none
TASK_ONLY = frozenset(("agent", "requires", "writes", "reads", "rollback", "workspace", "expect_changes",
                       *PROMPT_FIELDS))
GATE_ONLY = frozenset(("approve", "on_fail"))
KINDS = ("task", "gate")
ON_FAIL = ("stop", "rollback", "continue")
WORKSPACES = ("shared", "worktree")
PRESETS = ("claude", "codex", "gemini", "aider")
AGENT_RUNNERS = ("shell", *PRESETS)                    # or {"command": TEMPLATE}
NODE_RUNNERS = (*PRESETS, "command")
