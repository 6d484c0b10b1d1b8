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
