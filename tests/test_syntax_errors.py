"""Syntax errors a person can act on (issue 17): several per file in the grammar form,
misspelled statements with "did you mean", YAML mistakes placed at the line of the
mistake, and suggestions only when they are near."""
from __future__ import annotations

import pytest

from lanes.dsl.diagnostics import did_you_mean, edit_distance

TASK_FIELDS = ("for_each", "agent", "requires", "needs", "run", "prompt", "domain", "writes", "reads",
               "estimate", "timeout", "retries", "backoff", "rollback", "expect_changes", "env",
               "description")


# -- did you mean: only when near ------------------------------------------------------------------

@pytest.mark.parametrize("word,near", [
    ("retires", "retries"), ("rnu", "run"), ("estimat", "estimate"), ("Run", "run"),
    ("rollbak", "rollback"), ("requirs", "requires"), ("need", "needs"), ("timout", "timeout"),
    ("desc", "description"),
])
def test_a_near_field_is_suggested(word, near):
    assert did_you_mean(word, TASK_FIELDS) == f" (did you mean '{near}'?)"


@pytest.mark.parametrize("word,choices", [
    ("command", TASK_FIELDS),               # difflib at 0.6 offered 'domain'
    ("domain", ("command",)),
    ("dependencies", TASK_FIELDS), ("x", TASK_FIELDS), ("ab", ("run", "env")),
    ("integration-tests", ("integration",)),
])
def test_nothing_far_is_suggested(word, choices):
    assert did_you_mean(word, choices) == ""


def test_the_fewest_edits_win_then_the_order():
    assert did_you_mean("agnet", ("agents", "agent")) == " (did you mean 'agent'?)"
    assert did_you_mean("cmd", ("command", "cmdx")) == " (did you mean 'cmdx'?)"
    assert did_you_mean("ba", ("ab", "bb")) == " (did you mean 'ab'?)"   # both one edit: the first
    assert did_you_mean("cmd", ("command",)) == " (did you mean 'command'?)"


@pytest.mark.parametrize("a,b,edits", [
    ("agnet", "agent", 1), ("retires", "retries", 1), ("command", "domain", 4), ("", "abc", 3),
    ("abc", "", 3), ("kitten", "sitting", 3), ("ca", "abc", 3),
])
def test_edit_distance(a, b, edits):
    assert edit_distance(a, b, 10) == edits
    assert edit_distance(a, b, 1) == min(edits, 2)
