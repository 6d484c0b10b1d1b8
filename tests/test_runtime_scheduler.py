"""The scheduler alone (no processes, no clock): priorities, lanes, slots, stages,
retries, gates, the failure cascade; and an incremental-vs-naive property test."""
from __future__ import annotations

import random

from hypothesis import given, settings, strategies as st
from runtime_helpers import make_plan

from lanes.runtime.scheduler import (
    CANCELLED,
    FAILED,
    PENDING,
    READY,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    WAITING,
    Scheduler,
    priority_order,
)


def test_longest_remaining_path_goes_first():
    plan = make_plan([
        {"id": "short", "estimate_s": 5},
        {"id": "head", "estimate_s": 5},
        {"id": "tail", "needs": ["head"], "estimate_s": 100},
        {"id": "mid", "estimate_s": 50},
    ], agents={"a": 4})
    s = Scheduler(plan, jobs=1)
    assert s.next_launches(0) == ["head"]            # 105 s ahead of it
    s.finished("head", True, 1)
    assert s.next_launches(1) == ["tail"]
    s.finished("tail", True, 2)
    assert s.next_launches(2) == ["mid"]


def test_ties_keep_plan_order():
    plan = make_plan([{"id": i} for i in ("b", "a", "c")], agents={"a": 3})
    s = Scheduler(plan, jobs=3)
    assert s.next_launches(0) == ["a", "b", "c"]     # plan order: stage, then id


def test_agent_lanes_and_job_slots():
    plan = make_plan([{"id": f"x{i}", "agent": "one"} for i in range(3)]
                     + [{"id": f"y{i}", "agent": "two"} for i in range(3)], agents={"one": 1, "two": 2})
    s = Scheduler(plan, jobs=10)
    started = s.next_launches(0)
    assert sorted(started) == ["x0", "y0", "y1"]     # one lane for `one`, two for `two`
    assert s.next_launches(0) == []
    s.finished("y0", True, 1)
    assert s.next_launches(1) == ["y2"]
    s2 = Scheduler(plan, jobs=2)
    assert len(s2.next_launches(0)) == 2             # --jobs caps everything


def test_stage_barrier():
    plan = make_plan([{"id": "a"}, {"id": "slow"}, {"id": "b", "needs": ["a"]}], agents={"a": 3})
    eager = Scheduler(plan, jobs=3)
    eager.next_launches(0)
    eager.finished("a", True, 1)
    assert eager.next_launches(1) == ["b"]           # eager: as soon as its needs are met
    barrier = Scheduler(plan, jobs=3, stages=True)
    barrier.next_launches(0)
    barrier.finished("a", True, 1)
    assert barrier.next_launches(1) == []            # stage 0 still runs `slow`
    barrier.finished("slow", True, 2)
    assert barrier.next_launches(2) == ["b"]


def test_failure_cascades_and_stops_or_keeps_going():
    nodes = [{"id": "bad"}, {"id": "after", "needs": ["bad"]}, {"id": "deeper", "needs": ["after"]},
             {"id": "other"}, {"id": "later", "needs": ["other"]}]
    s = Scheduler(make_plan(nodes, agents={"a": 2}), jobs=2)
    assert sorted(s.next_launches(0)) == ["bad", "other"]
    assert s.finished("bad", False, 1) == FAILED
    assert s.status["after"] == SKIPPED and s.status["deeper"] == SKIPPED
    s.finished("other", True, 2)
    assert s.next_launches(2) == [] and s.done        # nothing new after a failure
    assert s.status["later"] in (PENDING, READY)      # the driver records it as cancelled
    k = Scheduler(make_plan(nodes, agents={"a": 2}), jobs=2, keep_going=True)
    k.next_launches(0)
    k.finished("bad", False, 1)
    k.finished("other", True, 2)
    assert k.next_launches(2) == ["later"] and k.failed_run


def test_retries_wait_for_their_backoff():
    plan = make_plan([{"id": "t", "retries": 2, "backoff": {"initial_s": 10, "factor": 3, "max_s": 20}}])
    s = Scheduler(plan, jobs=1, rng=random.Random(7))
    s.next_launches(0)
    assert s.finished("t", False, 100) == PENDING
    assert 110 <= s.not_before["t"] <= 111            # 10 s plus up to 10% jitter
    assert s.next_launches(109) == [] and s.next_wake() == s.not_before["t"]
    assert s.next_launches(111.5) == ["t"] and s.attempts["t"] == 2
    s.finished("t", False, 200)
    assert 220 <= s.not_before["t"] <= 222            # min(20, 10 * 3)
    s.next_launches(223)
    assert s.finished("t", False, 300) == FAILED      # three attempts: the budget is spent


def test_resumed_attempts_keep_numbering_with_a_fresh_retry_budget():
    plan = make_plan([{"id": "t", "retries": 1}])
    s = Scheduler(plan, jobs=1, attempts={"t": 4}, tries_before={"t": 4})
    s.next_launches(0)
    assert s.attempts["t"] == 5
    assert s.finished("t", False, 0) == PENDING       # its first failure in this session


def test_gates_continue_stop_and_approval():
    nodes = [{"id": "t"}, {"id": "soft", "gate": True, "needs": ["t"], "on_fail": "continue"},
             {"id": "after", "needs": ["soft"]}]
    s = Scheduler(make_plan(nodes), jobs=1)
    s.next_launches(0)
    s.finished("t", True, 1)
    assert s.next_launches(1) == ["soft"]
    s.finished("soft", False, 2)
    assert s.next_launches(2) == ["after"] and not s.failed_run
    hard = Scheduler(make_plan([{"id": "t"}, {"id": "g", "gate": True, "needs": ["t"], "on_fail": "stop"},
                                {"id": "x", "estimate_s": 1}], agents={"a": 2}), jobs=1, keep_going=True)
    assert hard.next_launches(0) == ["t"]
    hard.finished("t", True, 1)
    assert hard.next_launches(1) == ["g"]
    hard.finished("g", False, 2)
    assert hard.stopping and hard.next_launches(2) == []   # a failed gate stops even --keep-going
    ok = Scheduler(make_plan([{"id": "t"}, {"id": "ok", "gate": True, "needs": ["t"], "approve": "ship?"},
                              {"id": "after", "needs": ["ok"]}]), jobs=1)
    ok.next_launches(0)
    ok.finished("t", True, 1)
    assert ok.next_launches(1) == [] and ok.status["ok"] == WAITING and not ok.done
    ok.approve("ok")
    assert ok.status["ok"] == SUCCEEDED and ok.next_launches(2) == ["after"]


def test_a_stopping_run_does_not_wait_for_approvals():
    plan = make_plan([{"id": "bad"}, {"id": "t"}, {"id": "ok", "gate": True, "needs": ["t"], "approve": "?"}],
                     agents={"a": 2})
    s = Scheduler(plan, jobs=2)
    s.next_launches(0)
    s.finished("t", True, 1)
    s.next_launches(1)
    assert s.status["ok"] == WAITING
    s.finished("bad", False, 2)
    assert s.done


def test_claimable_marks_nothing():
    plan = make_plan([{"id": "x", "agent": "one"}, {"id": "y", "agent": "one"}], agents={"one": 1})
    s = Scheduler(plan, jobs=5)
    assert s.claimable(0, None, {}) == ["x"]
    assert s.claimable(0, None, {}) == ["x"]          # still there for the next claimer
    assert s.claimable(0, None, {"one": 1}) == []     # its lane is held
    s.cancel("x")
    assert s.status["x"] == CANCELLED


# -- the incremental scheduler against a naive twin ---------------------------------------------

def naive_launches(plan, status, jobs, lanes, rank) -> list[str]:
    """Scan everything: ready = pending with every need succeeded; fill lanes and slots by rank."""
    running = [n for n, s in status.items() if s == RUNNING]
    busy: dict[str, int] = {}
    for n in running:
        busy[plan.node_by_id[n].agent] = busy.get(plan.node_by_id[n].agent, 0) + 1
    ready = sorted((n.id for n in plan.nodes if status[n.id] in (PENDING, READY)
                    and all(status[u] == SUCCEEDED for u in n.needs)), key=rank.__getitem__)
    out, slots = [], jobs - len(running)
    for nid in ready:
        agent = plan.node_by_id[nid].agent
        if slots > 0 and busy.get(agent, 0) < lanes[agent]:
            busy[agent] = busy.get(agent, 0) + 1
            slots -= 1
            out.append(nid)
    return out


@st.composite
def random_plans(draw):
    n = draw(st.integers(2, 14))
    agents = {f"ag{i}": draw(st.integers(1, 2)) for i in range(draw(st.integers(1, 3)))}
    nodes = []
    for i in range(n):
        needs = sorted(draw(st.sets(st.sampled_from([f"n{j}" for j in range(i)]), max_size=3))) if i else []
        nodes.append({"id": f"n{i}", "needs": needs, "agent": draw(st.sampled_from(sorted(agents))),
                      "estimate_s": draw(st.integers(1, 30))})
    return make_plan(nodes, agents=agents), draw(st.integers(1, 4)), draw(st.randoms(use_true_random=False))


def downstream(plan, node_id) -> set[str]:
    out, stack = set(), [node_id]
    while stack:
        for d in plan.dependents[stack.pop()]:
            if d not in out:
                out.add(d)
                stack.append(d)
    return out


@settings(max_examples=150, deadline=None)
@given(random_plans(), st.booleans(), st.booleans())
def test_incremental_scheduler_matches_the_naive_one(case, failures, keep_going):
    plan, jobs, rnd = case
    s = Scheduler(plan, jobs=jobs, keep_going=keep_going)
    rank = priority_order(plan)
    lanes = {a.id: a.instances for a in plan.agents}
    failed: set[str] = set()
    now = 0.0
    while not s.done:
        stopping = failed and not keep_going
        expected = [] if stopping else naive_launches(plan, dict(s.status), jobs, lanes, rank)
        assert s.next_launches(now) == expected
        running = s.running()
        assert running, "stalled with nothing running"
        assert len(running) <= jobs
        done = rnd.choice(running)                    # any running node may end first
        ok = not failures or rnd.random() > 0.25
        s.finished(done, ok, now)
        if not ok:
            failed.add(done)
        now += 1
    skipped = set().union(*(downstream(plan, f) for f in failed)) if failed else set()
    assert {n for n, v in s.status.items() if v == SKIPPED} == skipped - failed
    assert {n for n, v in s.status.items() if v == FAILED} == failed
    if not failed:
        assert set(s.status.values()) == {SUCCEEDED}
    elif keep_going:                                  # every branch clear of the failures ran
        assert all(v in (SUCCEEDED, FAILED, SKIPPED) for v in s.status.values())
