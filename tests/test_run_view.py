"""The dashboard view of a run's rows: sqlite rows read by position equal rows read by name."""
import sqlite3
from types import SimpleNamespace

from lanes.runtime.run import VIEW_FIELDS, _view_of


def test_view_reads_sqlite_rows_and_dicts_alike():
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    cols = ["extra", *reversed(VIEW_FIELDS), "node_id"]          # columns in another order than the view's
    db.execute(f"CREATE TABLE nodes ({', '.join(cols)})")
    values = {k: f"{k}-value" for k in VIEW_FIELDS}
    db.execute(f"INSERT INTO nodes VALUES ({', '.join('?' * len(cols))})",
               ["x", *(values[k] for k in reversed(VIEW_FIELDS)), "a"])
    row = db.execute("SELECT * FROM nodes").fetchone()
    db.close()
    plan = SimpleNamespace(nodes=[SimpleNamespace(id="a"), SimpleNamespace(id="b")])
    view = _view_of(plan, {"a": row, "b": dict(values)})        # a store row beside a dict row
    assert view == {"a": values, "b": values}
    assert list(view["a"]) == list(VIEW_FIELDS)
