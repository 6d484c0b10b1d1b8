"""Hostile and real-looking shapes (issue 15): asserted on counts and outcomes, never on
time. Where the shape is about cost, what is counted is the work done (intersections
of patterns), which grows with what the analysis does and not with the machine."""
from __future__ import annotations

import json
from pathlib import Path
import re
import sys

from helpers import lanes_cli, write
import pytest
from test_domains_property import brute_force

from lanes import api
import lanes.compiler.overlaps as overlaps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import gen_workflow as gen  # noqa: E402


@pytest.fixture
def intersections(monkeypatch):
    """How many pattern pairs the analysis intersects."""
    count = {"n": 0}
    real = overlaps.intersect

    def counted(a, b):
        count["n"] += 1
        return real(a, b)
    monkeypatch.setattr(overlaps, "intersect", counted)
    return count


def _codes(comp) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in comp.diagnostics:
        out[d.code] = out.get(d.code, 0) + 1
    return out


def test_chain_of_tasks_each_reading_everything_is_proved_ordered(tmp_path, intersections):
    comp = api.check(write(tmp_path, "chain.yaml", gen.chain_reading_all(3000)))
    assert _codes(comp) == {"W401": 45}                 # the ten agents pairwise; no E301 at all
    # one intersection per distinct written pattern against `**`, plus the agents' own
    assert intersections["n"] <= 3000 + 100


def test_unordered_readers_of_everything_every_pair_listed(tmp_path):
    text = re.sub(r", needs: \[t\d+\]", "", gen.chain_reading_all(60))
    comp = api.check(write(tmp_path, "free.yaml", text))
    e301 = [d for d in comp.diagnostics if d.code == "E301"]
    assert len(e301) == 60 * 59 == len(brute_force(comp.model))      # directed pairs, uncapped
    r = lanes_cli("check", "--format", "json", tmp_path / "free.yaml")
    out = json.loads(r.stdout)
    assert out["errors"] == len(out["diagnostics"]) == 60 * 59 and "truncated" not in out


def test_sixteen_thousand_copies_of_one_pattern(tmp_path, intersections):
    comp = api.check(write(tmp_path, "dup.yaml", gen.duplicated_pattern(16000)))
    assert _codes(comp) == {"W401": 1}
    assert intersections["n"] <= 4                       # one distinct pattern
    free = gen.duplicated_pattern(16000).replace(", needs: [t1]", "")
    comp = api.check(write(tmp_path, "dup_free.yaml", free))
    assert _codes(comp) == {"E300": 2}                   # t0-t2 and t1-t2, once each


@pytest.mark.parametrize("ordered,expected", [(False, {"E300": 1}), (True, {"W401": 1})])
def test_two_tasks_with_two_thousand_patterns_each(tmp_path, intersections, ordered, expected):
    comp = api.check(write(tmp_path, "wide.yaml", gen.wide_domains(2000, ordered=ordered)))
    assert _codes(comp) == expected
    # every one of the 4,000,000 pattern pairs meets; a handful are intersected
    assert intersections["n"] <= 10


def test_more_than_five_hundred_conflicts_all_listed(tmp_path):
    agents = "\n".join(f"  a{i}: {{domain: {{writes: [\"src/**\"]}}}}" for i in range(40))
    tasks = "\n".join(f"  t{i}: {{agent: a{i}, run: \"true\"}}" for i in range(40))
    p = write(tmp_path, "many.yaml", f"workflow: w\nagents:\n{agents}\ntasks:\n{tasks}\n")
    out = json.loads(lanes_cli("check", "--format", "json", p).stdout)
    assert out["errors"] == len(out["diagnostics"]) == 40 * 39 // 2
    cut = json.loads(lanes_cli("check", "--format", "json", "--max", "10", p).stdout)
    assert len(cut["diagnostics"]) == 10 and cut["errors"] == 780
    assert cut["truncated"] == {"listed": 10, "total": 780}
    human = lanes_cli("check", p).stdout
    assert human.rstrip().endswith("780 errors, 0 warnings")


def test_one_broad_pattern_does_not_crowd_out_the_rest(tmp_path):
    """A broad owner overlapping 300 others, and 30 narrow real overlaps elsewhere: the
    first 31 of the list hold every narrow overlap and one broad one."""
    agents = ["  broad: {domain: {writes: [\"**/OWNERS\"]}}"]
    tasks = ["  tb: {agent: broad, run: \"true\"}"]
    for i in range(300):
        agents.append(f"  d{i}: {{domain: {{writes: [\"dir{i}/\"]}}}}")
        tasks.append(f"  td{i}: {{agent: d{i}, run: \"true\"}}")
    for i in range(30):
        agents.append(f"  n{i}: {{domain: {{writes: [\"dir{i}/sub/*.py\"]}}}}")
        tasks.append(f"  tn{i}: {{agent: n{i}, run: \"true\"}}")
    text = "workflow: w\nagents:\n" + "\n".join(agents) + "\ntasks:\n" + "\n".join(tasks) + "\n"
    p = write(tmp_path, "owners.yaml", text)
    out = json.loads(lanes_cli("check", "--format", "json", "--max", "31", p).stdout)
    assert out["errors"] == 300 + 30                      # broad x dirs, narrow x dirs
    broad = [d for d in out["diagnostics"] if "OWNERS" in json.dumps(d["related"])]
    assert len(broad) == 1
    assert len(out["diagnostics"]) - len(broad) == 30


def test_codeowners_like_rules_equal_the_twin(tmp_path):
    comp = api.check(write(tmp_path, "owners.yaml", gen.codeowners(400)))
    found = {("E300", *sorted(d.nodes)) for d in comp.diagnostics if d.code == "E300"}
    assert found == brute_force(comp.model)
    assert len(found) > 400                               # real overlaps, far more than rules


def test_many_tasks_of_one_lane_sharing_a_pattern(tmp_path):
    """Thousands of unordered tasks of one single-instance agent: one lane, no pair; and
    the same tasks over ten agents of two instances, in a chain: all ordered."""
    lane = "\n".join(f"  t{i}: {{agent: a, run: \"true\"}}" for i in range(3000))
    comp = api.check(write(tmp_path, "lane.yaml", f"workflow: w\nagents:\n  a: {{domain: {{writes: [\"src/**\"]}}}}\n"
                                                  f"tasks:\n{lane}\n"))
    assert _codes(comp) == {}
    agents = "\n".join(f"  a{i}: {{domain: {{writes: [\"src/**\"]}}, instances: 2}}" for i in range(10))
    chain = "\n".join(f"  t{i}: {{agent: a{i % 10}, run: \"true\"" + (f", needs: [t{i - 1}]" if i else "") + "}"
                      for i in range(3000))
    comp = api.check(write(tmp_path, "chain.yaml", f"workflow: w\nagents:\n{agents}\ntasks:\n{chain}\n"))
    assert _codes(comp) == {"W401": 45}
