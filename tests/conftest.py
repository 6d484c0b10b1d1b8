"""Every test that has a tmp_path keeps lanes' run state there: `LANES_STATE` points
at tmp_path/.lanes, which is where the tests look (tests of the default itself unset it)."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _state_in_tmp(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "tmp_path" in request.fixturenames:
        tmp_path = request.getfixturevalue("tmp_path")
        monkeypatch.setenv("LANES_STATE", str(tmp_path / ".lanes"))
    else:
        monkeypatch.delenv("LANES_STATE", raising=False)
