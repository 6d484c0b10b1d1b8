"""The live dashboard re-encodes only the nodes that changed; it must always say exactly
what encoding the whole run would (`dashboard`, which `lanes status` uses)."""
from __future__ import annotations

import json

from hypothesis import given, settings, strategies as st

from lanes.runtime.dashboard import LiveDashboard, dashboard
from lanes.runtime.scheduler import STATES

NODES = [f"t{i}" for i in range(6)] + ['odd "id"']

updates = st.lists(st.lists(st.tuples(
    st.sampled_from(NODES),
    st.sampled_from(STATES),
    st.integers(0, 3),
    st.one_of(st.none(), st.floats(1.7e9, 1.8e9)),
), max_size=5), max_size=8)


@settings(max_examples=200, deadline=None)
@given(updates, st.sampled_from(["running", "succeeded", "failed"]))
def test_live_dashboard_matches_a_full_encoding(turns, final):
    view = {n: {"status": "pending", "agent": "a", "attempts": 0, "started_at": None, "completed_at": None}
            for n in NODES}
    run_row = {"run_id": "r1", "workflow": "w", "started_at": 1.75e9, "status": "running"}
    board = LiveDashboard(run_row, view)
    for turn in turns:
        for node, status, attempts, when in turn:
            view[node].update(status=status, attempts=attempts, started_at=when, completed_at=when)
            board.touch(node)
        text = board.text()
        assert json.loads(text) == dashboard(run_row, view)
        assert list(json.loads(text)["tasks"]) == NODES        # plan order, always
    run_row["status"] = final
    assert json.loads(board.text()) == dashboard(run_row, view)


def test_a_failed_background_write_of_the_dashboard_is_reported(tmp_path):
    import time

    from runtime_helpers import make_plan

    from lanes.runtime.run import Options, Run
    from lanes.runtime.store import Store

    class Seen:
        def __init__(self) -> None:
            self.events: list[str] = []

        def event(self, text: str) -> None:
            self.events.append(text)

    seen = Seen()
    plan = make_plan([{"id": "x"}], workdir=str(tmp_path))
    run = Run.create(Store(str(tmp_path / ".lanes")), plan, "d1", "{}", None, "run", Options(), {}, seen)
    run.background()
    assert run.writer is not None
    run.writer.path = str(tmp_path / "gone" / "dashboard.json")     # its folder is not there
    run.refresh(force=True)
    deadline = time.monotonic() + 10
    while run.writer.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    run.refresh(force=True)
    assert any(e.startswith("cannot write ") for e in seen.events), seen.events
    run.writer.close()
