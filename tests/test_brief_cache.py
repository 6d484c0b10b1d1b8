"""A run's briefs: rendered beside the run's set-up (lanes.brief_job), kept in the state
directory's cache under the digest of the plan, the template and the rendering code."""
from __future__ import annotations

import os
from pathlib import Path

from runtime_helpers import run, workflow

from lanes import brief_job

FLOW = """
    agents:
      a: {domain: {writes: ["a/**"]}}
      b: {domain: {writes: ["b/**"]}}
    tasks:
      t1: {agent: a, run: "true"}
      t2: {agent: b, run: "true", needs: [t1]}
    """


def _run(tmp_path: Path, wf: Path, rid: str) -> Path:
    r = run("run", wf, "--run-id", rid, "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    return tmp_path / ".lanes" / "runs" / rid / "briefs"


def _entries(tmp_path: Path) -> list[Path]:
    return sorted(_entries_in(tmp_path / ".lanes" / "cache" / "briefs"))


def test_a_plan_run_again_takes_its_briefs_from_the_cache_and_a_changed_plan_does_not(tmp_path):
    wf = workflow(tmp_path, FLOW)
    first = _run(tmp_path, wf, "r1")
    (entry,) = _entries(tmp_path)
    assert sorted(p.name for p in entry.iterdir()) == ["a.md", "b.md"]
    for agent in ("a", "b"):            # what the run wrote is what `lanes brief` renders
        assert (first / f"{agent}.md").read_text() == run("brief", wf, agent).stdout
    # the cache is what a second run of the same plan copies (seen by marking it) ...
    (entry / "a.md").write_text("kept brief\n")
    assert (_run(tmp_path, wf, "r2") / "a.md").read_text() == "kept brief\n"
    # ... and never what a changed plan gets
    wf.write_text(wf.read_text().replace('t2: {agent: b, run: "true"', 't2: {agent: b, run: "echo 2"'))
    third = _run(tmp_path, wf, "r3")
    assert (third / "a.md").read_text() == run("brief", wf, "a").stdout != "kept brief\n"
    assert len(_entries(tmp_path)) == 2


def test_an_incomplete_cache_entry_is_rendered_again(tmp_path):
    wf = workflow(tmp_path, FLOW)
    _run(tmp_path, wf, "r1")
    (entry,) = _entries(tmp_path)
    (entry / "b.md").unlink()
    second = _run(tmp_path, wf, "r2")
    assert (second / "b.md").read_text() == run("brief", wf, "b").stdout


def test_the_cache_keeps_the_newest_plans_only(tmp_path, monkeypatch):
    monkeypatch.setattr(brief_job, "KEPT", 2)
    kept = tmp_path / "briefs"
    kept.mkdir()
    for i in range(4):
        brief_job._keep(str(kept), f"k{i}", {"a": f"brief {i}\n"})
        os.utime(kept / f"k{i}", ns=(i * 10**9, i * 10**9))     # in order, whatever the clock
    assert sorted(p.name for p in kept.iterdir()) == ["k2", "k3"]
    assert brief_job._cached(str(kept / "k3"), ["a"]) == {"a": "brief 3\n"}
    assert brief_job._cached(str(kept / "k3"), ["a", "b"]) is None


def test_the_digest_covers_the_plan_and_the_template(tmp_path, monkeypatch):
    one, two = brief_job._digest('{"a": 1}'), brief_job._digest('{"a": 2}')
    assert one and two and one != two and one == brief_job._digest('{"a": 1}')
    template = tmp_path / "brief.md.j2"
    template.write_text("changed\n")

    class Spec:
        submodule_search_locations = [str(tmp_path)]
        origin = None
    real = brief_job.importlib.util.find_spec
    monkeypatch.setattr(brief_job.importlib.util, "find_spec",
                        lambda name: Spec if name == "lanes.templates" else real(name))
    assert brief_job._digest('{"a": 1}') not in (None, one)


def test_briefs_too_long_to_keep_are_rendered_and_not_cached(tmp_path, monkeypatch):
    from runtime_helpers import make_plan
    plan = make_plan([{"id": "t"}], workdir=str(tmp_path))
    monkeypatch.setattr(brief_job, "KEPT_CHARS", 10)
    assert brief_job._write_briefs(plan, "{}", str(tmp_path / "out"), str(tmp_path / "cache")) is None
    assert (tmp_path / "out" / "a.md").read_text().startswith("# Brief for agent `a`")
    assert not (tmp_path / "cache" / "briefs").exists()
    monkeypatch.setattr(brief_job, "KEPT_CHARS", 8 << 20)
    assert brief_job._write_briefs(plan, "{}", str(tmp_path / "out"), str(tmp_path / "cache")) is None
    assert len(_entries_in(tmp_path / "cache" / "briefs")) == 1


def _entries_in(kept: Path) -> list[Path]:
    return [p for p in kept.iterdir() if not p.name.startswith(".")]
