"""A run just created builds its view from the plan instead of reading the nodes back:
that view must be what the database gives back, value for value and type for type."""
from __future__ import annotations

from runtime_helpers import make_plan

from lanes.runtime.run import VIEW_FIELDS, Options, Run
from lanes.runtime.store import Store


def test_the_view_of_a_created_run_is_what_the_database_holds(tmp_path):
    plan = make_plan([{"id": "one", "agent": "a"}, {"id": "two", "agent": "b", "needs": ["one"]},
                      {"id": "check", "gate": True, "needs": ["two"]}],
                     agents={"a": 1, "b": 2}, workdir=str(tmp_path))
    store = Store(str(tmp_path / "state"))
    run = Run.create(store, plan, "r1", "{}", None, "run", Options(), {})
    held = {nid: {k: r[k] for k in VIEW_FIELDS} for nid, r in store.nodes("r1").items()}
    assert run.view == held
    assert {(nid, k): type(v) for nid, r in run.view.items() for k, v in r.items()} == \
        {(nid, k): type(v) for nid, r in held.items() for k, v in r.items()}
    assert run.view["check"]["agent"] is None and run.view["two"]["agent"] == "b"


def test_a_tasks_environment_is_the_agents_the_tasks_and_lanes_variables(tmp_path):
    """env() makes an agent's part once: what each task gets is what building it whole gives."""
    plan = make_plan([{"id": "one", "agent": "a", "writes": ["src/**"]},
                      {"id": "two", "agent": "a", "env": {"MODE": "x", "LANES_TASK": "mine"}, "reads": ["**"]},
                      {"id": "three", "agent": "b", "needs": ["one"]}, {"id": "g", "gate": True, "needs": ["two"]}],
                     agents={"a": 1, "b": 1}, workdir=str(tmp_path))
    run = Run.create(Store(str(tmp_path / "state")), plan, "r1", "{}", None, "run", Options(), {})
    for n in plan.nodes:
        got = run.env(n, 2)
        assert run.env(n, 2) == got                                   # kept for a retry
        env = dict(n.env)
        env.update(LANES_RUN_ID="r1", LANES_RUN_KEY=run.run_key, LANES_TASK=n.id, LANES_AGENT=n.agent or "",
                   LANES_WRITES="\n".join(n.writes), LANES_READS="\n".join(n.reads))
        if n.agent:
            env["LANES_BRIEF"] = str(tmp_path / "state" / "runs" / "r1" / "briefs" / f"{n.agent}.md")
        assert got == (*env.items(), ("LANES_ATTEMPT", "2"))
