"""The run loop starts what a task's end lets start before it records that end and those
starts (Run.finished(defer=True), Run.record_deferred). What must hold all the same: a
dependent's needs are on disk before it is handed out, every end and start is recorded
by the end of the turn, and a failure is recorded after the successes before it."""
from __future__ import annotations

import time

from runtime_helpers import make_plan

from lanes.runtime.executor import Outcome
from lanes.runtime.run import Options, Run
from lanes.runtime.states import State
from lanes.runtime.store import Store


class Seen:
    def __init__(self) -> None:
        self.events: list[str] = []

    def event(self, text: str) -> None:
        self.events.append(text)


def _run(tmp_path, nodes) -> tuple[Run, Seen]:
    seen = Seen()
    plan = make_plan(nodes, agents={"a": 3}, workdir=str(tmp_path))
    return Run.create(Store(str(tmp_path / ".lanes")), plan, "r1", "{}", None, "run", Options(), {}, seen), seen


def _ok(node_id: str, code: int = 0) -> Outcome:
    now = time.time()
    return Outcome(node_id, 1, code, False, False, None if code == 0 else f"exit {code}", now - 0.01, now)


def _on_disk(run: Run) -> dict[str, str]:
    return {n: str(r["status"]) for n, r in run.store.nodes(run.run_id).items()}


def test_a_dependent_is_handed_out_only_once_its_need_is_on_disk(tmp_path):
    run, seen = _run(tmp_path, [{"id": "a"}, {"id": "b", "needs": ["a"]}, {"id": "c"}])
    assert sorted(x.node_id for x in run.launches()) == ["a", "c"]
    run.record_deferred()
    run.finished(_ok("a"), defer=True)
    assert run.deferred and run.view["a"]["status"] == State.RUNNING     # told the scheduler only
    assert [x.node_id for x in run.launches()] == ["b"]
    assert _on_disk(run)["a"] == "succeeded"          # committed before b was handed out
    run.record_deferred()
    assert run.view["b"]["status"] == State.RUNNING and run.view["a"]["status"] == State.SUCCEEDED
    assert seen.events.index("started b (a, attempt 1)") > seen.events.index(
        next(e for e in seen.events if e.startswith("succeeded a ")))


def test_what_a_turn_deferred_is_recorded_by_its_end(tmp_path):
    run, seen = _run(tmp_path, [{"id": "a"}, {"id": "c"}])
    run.launches()
    assert run.starts and not any(e.startswith("started") for e in seen.events)
    run.record_deferred()
    assert sorted(e for e in seen.events if e.startswith("started")) == ["started a (a, attempt 1)",
                                                                         "started c (a, attempt 1)"]
    run.finished(_ok("c"), defer=True)
    assert run.launches() == []                       # nothing needs c: no commit forced
    run.commit()                                      # a commit records what was deferred first
    assert not run.deferred and _on_disk(run)["c"] == "succeeded"
    events = [(r["node_id"], r["kind"]) for r in run.store.events(run.run_id)]
    assert events.index(("c", "attempt-ok")) > events.index(("c", "started"))


def test_a_failure_is_recorded_after_the_deferred_successes_before_it(tmp_path):
    run, _ = _run(tmp_path, [{"id": "a"}, {"id": "c"}])
    run.launches()
    run.record_deferred()
    run.finished(_ok("a"), defer=True)
    run.finished(_ok("c", code=3), defer=True)        # failures are never deferred
    assert not run.deferred
    assert run.view["a"]["status"] == State.SUCCEEDED and run.view["c"]["status"] == State.FAILED
    run.commit()
    events = [(r["node_id"], r["kind"]) for r in run.store.events(run.run_id)]
    assert events.index(("a", "attempt-ok")) < events.index(("c", "attempt-failed"))
