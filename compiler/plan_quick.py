"""The quick verdicts on a plan read from a file, which are all that a valid plan costs:
`looks_valid` (the schema holds: plan_check.py's walk would find nothing) and
`invariants_hold` (plan_invariants.py's walk would find nothing).

`lanes run plan.json` reads every plan it runs, and a field-by-field walk of a
1,000-node plan costs more than parsing it. So nodes (and agents) are grouped by
their keys, each group's keys are judged once, and each field is judged for all
objects at once: the set of its values' types, their minimum and maximum, one
regular expression over the ids joined by newlines. Whatever it does not expect
(an unhashable kind, a whole number written as 1.0) makes it answer "not sure", and
the thorough walk decides and says why. tests/test_plan_validation.py holds this
verdict to the walk's. Neither imports what diagnostics need: that is the error
path's (plan_read.py).
"""
from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from operator import itemgetter
import re
from typing import cast

from lanes.compiler import plan_fields as F
from lanes.compiler.planfile import Plan

_ID_LINES = re.compile(f"{F.ID_PATTERN}(?:\n{F.ID_PATTERN})*")
_DIGEST_LINES = re.compile(f"{F.DIGEST_PATTERN}(?:\n{F.DIGEST_PATTERN})*")
_ENV_NAME = re.compile(F.ENV_NAME_PATTERN + r"\Z")
_NUMBER_TYPES = frozenset((int, float))

Values = list[object]
Judge = Callable[[Values], bool]


def _types(values: Values) -> set[type]:
    return set(map(type, values))


def _lines(values: list[str], pattern: re.Pattern[str]) -> bool:
    """Each value one whole line of `pattern` (joined by newlines, none holding one)."""
    text = "\n".join(values)
    return text.count("\n") == len(values) - 1 and pattern.fullmatch(text) is not None


def _strings(values: Values) -> bool:
    return not values or _types(values) == {str}


def _lists(values: Values) -> list[object] | None:
    """The items of all the lists in `values` in one list, or None if one is not a list."""
    if values and _types(values) != {list}:
        return None
    return list(chain.from_iterable(cast(list[list[object]], values)))


def _numbers(values: Values, low: float, high: float, above: bool = False) -> bool:
    if not values:
        return True
    if not _types(values) <= _NUMBER_TYPES:
        return False
    nums = cast(list[float], values)
    least = min(nums)
    return (least > low if above else least >= low) and max(nums) <= high


class _Quick:
    def __init__(self, ids: bool) -> None:
        self.ids = ids
        self.max_number = F.MAX_NUMBER
        self.max_count = F.MAX_COUNT
        self.good: set[object] = set()           # strings already judged to be ids

    def idents(self, values: Values) -> bool:
        if self.good.issuperset(values):
            return True
        if not _strings(values) or (self.ids and not _lines(cast(list[str], values), _ID_LINES)):
            return False
        self.good.update(values)
        return True

    def id_lists(self, values: Values) -> bool:
        items = _lists(values)
        return items is not None and self.idents(items)

    def optional_ids(self, values: Values) -> bool:
        return self.idents([v for v in values if v is not None])

    def patterns(self, values: Values) -> bool:
        items = _lists(values)
        return items is not None and _strings(items) and "" not in items

    def seconds(self, values: Values) -> bool:
        return _numbers(values, 0, self.max_number)

    def timeouts(self, values: Values) -> bool:
        return _numbers([v for v in values if v is not None], 0, self.max_number, above=True)

    def counts(self, values: Values, low: int = 0) -> bool:
        if not values:
            return True
        if _types(values) != {int}:
            return False
        nums = cast(list[int], values)
        return min(nums) >= low and max(nums) <= self.max_count

    def instances(self, values: Values) -> bool:
        return self.counts(values, 1)

    def on_fail(self, values: Values) -> bool:
        return set(F.ON_FAIL).issuperset(values)

    def workspaces(self, values: Values) -> bool:
        return set(F.WORKSPACES).issuperset(values)

    def node_runners(self, values: Values) -> bool:
        return set(F.NODE_RUNNERS).issuperset(values)

    def agent_runners(self, values: Values) -> bool:
        for v in values:
            if type(v) is dict:
                if v.keys() != {"command"} or type(v["command"]) is not str:
                    return False
            elif v not in F.AGENT_RUNNERS:
                return False
        return True

    def dollars(self, values: Values) -> bool:
        return _numbers(values, 0, self.max_number, above=True)

    def limits(self, value: object) -> bool:
        if type(value) is not dict:
            return False
        limits = cast(dict[str, object], value)
        return set(F.PRESETS).issuperset(limits) and self.counts(list(limits.values()), 1)

    def booleans(self, values: Values) -> bool:
        return not values or _types(values) == {bool}

    def digests(self, values: Values) -> bool:
        return not values or (_strings(values) and _lines(cast(list[str], values), _DIGEST_LINES))

    def envs(self, values: Values) -> bool:
        if values and _types(values) != {dict}:
            return False
        return all(all(type(v) is str for v in e.values()) and all(_ENV_NAME.match(k) for k in e)
                   for e in cast(list[dict[str, object]], values) if e)

    def backoffs(self, values: Values) -> bool:
        if values and _types(values) != {dict}:
            return False
        maps = cast(list[dict[str, object]], values)
        if not all(len(keys) == 3 and set(keys) == {"initial_s", "factor", "max_s"}
                   for keys in set(map(tuple, maps))):
            return False
        return (_numbers(list(map(itemgetter("initial_s"), maps)), 0, self.max_number)
                and _numbers(list(map(itemgetter("factor"), maps)), 1, self.max_number)
                and _numbers(list(map(itemgetter("max_s"), maps)), 0, self.max_number))


def _columns(items: object, keys_ok: Callable[[object, frozenset[str]], bool]) -> dict[str, Values] | None:
    """field -> its values over all the items (objects), or None when an item is not an
    object or a group of items with the same kind and keys fails `keys_ok`."""
    if type(items) is not list or (items and _types(items) != {dict}):
        return None
    groups: dict[tuple[object, tuple[str, ...]], list[dict[str, object]]] = {}
    for item in cast(list[dict[str, object]], items):
        groups.setdefault((item.get("kind"), tuple(item)), []).append(item)
    out: dict[str, Values] = {}
    for (kind, keys), members in groups.items():
        if not keys_ok(kind, frozenset(keys)):
            return None
        for k in keys:
            out.setdefault(k, []).extend(map(itemgetter(k), members))
    return out


def _judged(cols: dict[str, Values] | None, judges: dict[str, Judge], order: tuple[str, ...]) -> bool:
    """Every column judged good; the fields in `order` first (ids before what refers to them)."""
    if cols is None:
        return False
    first = [k for k in order if k in cols]
    return all(judges[k](cols[k]) for k in (*first, *(k for k in cols if k not in order)))


def _node_keys(kind: object, keys: frozenset[str]) -> bool:
    if not (keys <= F.NODE_FIELDS and keys.issuperset(F.NODE_REQUIRED)):
        return False
    if kind == "task":
        prompt = keys.intersection(F.PROMPT_FIELDS)
        return (keys.issuperset(F.TASK_REQUIRED) and not keys & F.GATE_ONLY and ("run" in keys) != ("prompt" in keys)
                and len(prompt) in (0, len(F.PROMPT_FIELDS)))
    if kind == "gate":
        return "on_fail" in keys and ("run" in keys) != ("approve" in keys) and not keys & F.TASK_ONLY
    return False


def _agent_keys(kind: object, keys: frozenset[str]) -> bool:
    return keys <= F.AGENT_FIELDS and keys.issuperset(F.AGENT_REQUIRED)


def looks_valid(d: object, *, ids: bool) -> bool:
    """True only if the document holds to the schema (False: not sure)."""
    try:
        return _looks_valid(d, _Quick(ids))
    except (TypeError, KeyError, AttributeError):     # an unhashable value, a missing key: not sure
        return False


def _looks_valid(d: object, q: _Quick) -> bool:
    if type(d) is not dict:
        return False
    doc = cast(dict[str, object], d)
    version = doc.get("lanes_plan")
    if type(version) is not int or version != F.PLAN_VERSION \
            or not (doc.keys() <= F.TOP_FIELDS and doc.keys() >= set(F.TOP_REQUIRED)):
        return False
    estimate = doc["estimate"]
    stages = doc["stages"]
    if type(estimate) is not dict or estimate.keys() != set(F.ESTIMATE_FIELDS):
        return False
    if type(stages) is not list or [] in stages:
        return False
    node_judges: dict[str, Judge] = {
        "id": q.idents, "agent": q.idents, "requires": q.id_lists, "needs": q.id_lists,
        "kind": lambda v: True,                           # judged with the keys of its group
        "run": _strings, "approve": _strings, "rollback": _strings, "description": _strings,
        "on_fail": q.on_fail, "writes": q.patterns, "reads": q.patterns, "estimate_s": q.seconds,
        "timeout_s": q.timeouts, "retries": q.counts, "stage": q.counts, "critical": q.booleans,
        "digest": q.digests, "env": q.envs, "backoff": q.backoffs, "workspace": q.workspaces,
        "expect_changes": q.booleans, "prompt": _strings, "runner": q.node_runners, "command": _strings}
    agent_judges: dict[str, Judge] = {
        "id": q.idents, "skills": q.id_lists, "instances": q.instances, "domain": q.optional_ids,
        "writes": q.patterns, "reads": q.patterns, "env": q.envs, "description": _strings,
        "runner": q.agent_runners, "model": _strings, "max_turns": q.instances, "max_budget_usd": q.dollars}
    return (_judged(_columns(doc["agents"], _agent_keys), agent_judges, ("id",))
            and _judged(_columns(doc["nodes"], _node_keys), node_judges, ("id",))
            and q.idents([doc["workflow"]]) and _strings([doc.get("description", "")])
            and q.digests([doc["source_digest"]]) and _strings([doc["workdir"]])
            and q.workspaces([doc.get("workspace", "shared")])
            and ("limits" not in doc or q.limits(doc["limits"]))
            and ("max_budget_usd" not in doc or q.dollars([doc["max_budget_usd"]]))
            and ("pools" not in doc or (type(doc["pools"]) is dict and q.idents(list(doc["pools"]))
                                        and q.id_lists(list(doc["pools"].values()))
                                        and [] not in doc["pools"].values()))
            and q.id_lists(cast(Values, stages)) and q.id_lists([doc["critical_path"]])
            and q.seconds([estimate["sequential_s"], estimate["parallel_s"]])
            and _numbers([estimate["efficiency"]], 0, 1))


def invariants_hold(plan: Plan) -> bool:
    """True exactly when plan_invariants.py's walk finds nothing wrong. Stages that rise
    along every edge also prove that there is no cycle."""
    ids = [n.id for n in plan.nodes]
    known = set(ids)
    agents = {a.id for a in plan.agents}
    if len(known) != len(ids) or len(agents) != len(plan.agents):
        return False
    if not agents.issuperset([n.agent for n in plan.nodes if n.kind == "task"]):
        return False
    stage_of = {n.id: n.stage for n in plan.nodes}
    seq = list(stage_of.values())
    if seq != sorted(seq):
        return False
    get = stage_of.get
    for n in plan.nodes:
        stage = n.stage
        for u in n.needs:
            if get(u, stage) >= stage:               # unknown, or not in an earlier stage
                return False
    listed = [x for members in plan.stages for x in members]
    if len(listed) != len(ids) or set(listed) != known:
        return False
    if any(stage_of[x] != k for k, members in enumerate(plan.stages) for x in members):
        return False
    return known.issuperset(plan.critical_path) and all(known.issuperset(m) for _, m in plan.pools)
