"""Raw tree -> AST: the one builder behind both forms.

Both front ends hand over the same raw maps, lists and scalars, so field names,
value checks and their diagnostics (E101, E102, E103) are written once here and
read the same for YAML and for the grammar. The builder never stops at the first
problem: a bad field is reported and left out (None), and building goes on.
"""
from __future__ import annotations

from collections.abc import Callable
import math
import re
from typing import TypeVar

from . import fields as declared
from .ast import (
    Agent,
    Axis,
    Backoff,
    Command,
    Defaults,
    Domain,
    DomainRef,
    Duration,
    EnvVar,
    Flag,
    ForEach,
    Gate,
    Limit,
    Name,
    Number,
    RunnerRef,
    Task,
    Text,
    Workflow,
)
from .diagnostics import Diagnostic, diag, did_you_mean
from .durations import NUMBER as _NUMBER, parse_duration
from .raw import Map, Raw, Scalar, Seq
from .span import Span

ID = re.compile(declared.ID_PATTERN + r"\Z")
ITEM = re.compile(declared.ITEM_PATTERN + r"\Z")
ENV_NAME = re.compile(declared.ENV_NAME_PATTERN + r"\Z")
_COUNT = re.compile(r"\d{1,18}")                 # a whole number (at most 18 digits: plan_fields.MAX_COUNT)

ON_FAIL = declared.ON_FAIL
WORKSPACES = declared.WORKSPACES
PRESETS = declared.PRESETS
RUNNERS = declared.RUNNERS
# YAML's core schema spells booleans these ways (yaml-language-server reads them so)
FLAGS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}

TOP_FIELDS = declared.TOP.names
DEFAULTS_FIELDS = declared.DEFAULTS.names
DOMAIN_FIELDS = declared.DOMAIN.names
AGENT_FIELDS = declared.AGENT.names
RUNNER_FIELDS = declared.RUNNER.names
TASK_FIELDS = declared.TASK.names
GATE_FIELDS = declared.GATE.names
BACKOFF_FIELDS = declared.BACKOFF.names
_MORE_TASK_FIELDS = frozenset(TASK_FIELDS) - {"for_each", "agent", "requires", "needs", "run", "prompt"}

_Node = TypeVar("_Node")


class _Fields(dict[str, tuple[Scalar, Raw]]):
    """The fields of a mapping by name: (key, value). `value` gives a field's value, None
    when the field is not written (set by `_fields`: no __init__ of our own, as one is
    made for every mapping)."""

    __slots__ = ("value",)
    value: Callable[[str], Raw | None]


def _fields(by_name: dict[str, Raw]) -> _Fields:
    out = _Fields()
    out.value = by_name.get
    return out


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.diags: list[Diagnostic] = []
        self.ids: set[str] = set()                  # the texts found to be valid ids

    def error(self, code: str, message: str, span: Span) -> None:
        self.diags.append(diag(code, message, span))

    # -- shapes -----------------------------------------------------------------------------

    def fields(self, node: Raw, allowed: tuple[str, ...], what: str) -> _Fields:
        """The entries of a mapping by field name; unknown and repeated fields reported."""
        by_name: dict[str, Raw] = {}
        out = _fields(by_name)
        if not isinstance(node, Map):
            if not (isinstance(node, Scalar) and node.value is None):
                self.error("E102", f"{what} must be a mapping of fields", node.span)
            return out
        for entry in node.entries:
            key = entry[0]
            name = key.value or ""
            if name not in allowed:
                self.error("E101", f"unknown field '{name}' in {what}{did_you_mean(name, allowed)}",
                           key.span)
            elif name in out:
                self.error("E102", f"field '{name}' is given twice in {what}", key.span)
            else:
                out[name] = entry
                by_name[name] = entry[1]
        return out

    def entries(self, node: Raw | None, what: str) -> tuple[tuple[Scalar, Raw], ...]:
        """The id -> definition entries of `domains`, `agents`, `tasks`, `gates`."""
        if node is None or (isinstance(node, Scalar) and node.value is None):
            return ()
        if not isinstance(node, Map):
            self.error("E102", f"'{what}' must be a mapping from ids to definitions", node.span)
            return ()
        return node.entries

    def scalar(self, node: Raw, what: str) -> str | None:
        """The text of a single value (the node is then a Scalar, whose span is the value's)."""
        if isinstance(node, Scalar) and node.value is not None:
            return node.value
        kind = "nothing" if isinstance(node, Scalar) else "a list" if isinstance(node, Seq) else "a mapping"
        self.error("E102", f"{what} must be a single value, not {kind}", node.span)
        return None

    def items(self, node: Raw, what: str) -> tuple[tuple[str, Span], ...]:
        """The (text, span) of a list of scalars; a single scalar is a one-item list, null an empty one."""
        if isinstance(node, Scalar):
            return () if node.value is None else ((node.value, node.span),)
        if isinstance(node, Map):
            self.error("E102", f"{what} must be a list, not a mapping", node.span)
            return ()
        out = []
        for item in node.items:
            if isinstance(item, Scalar) and item.value is not None:      # as scalar() says, sooner
                out.append((item.value, item.span))
            else:
                self.scalar(item, f"each item of {what}")
        return tuple(out)

    # -- values -----------------------------------------------------------------------------

    def ident(self, value: str | None, span: Span, what: str) -> Name | None:
        # most ids come again (needs, agents): each text is matched once
        if value in self.ids:
            return Name(value, span)
        if value is None or not ID.match(value):
            self.error("E102", f"{what} '{value}' is not a valid id "
                       "(letters, digits, '_' and '-', not starting with a digit or '-')", span)
            return None
        self.ids.add(value)
        return Name(value, span)

    def id_of(self, node: Raw | None, what: str) -> Name | None:
        if node is None:
            return None
        if isinstance(node, Scalar) and node.value is not None:      # as scalar() says, sooner
            return self.ident(node.value, node.span, what)
        self.scalar(node, what)
        return None

    def names(self, node: Raw | None, what: str, keys: tuple[str, ...] = ()) -> tuple[Name, ...]:
        """Ids; with `keys` (a template's for_each), ids that hold `{KEY}` placeholders too."""
        if node is None:
            return ()
        if isinstance(node, Seq) and not keys:
            # the usual list: ids already seen (needs of earlier tasks), nothing to report
            ids, known = self.ids, []
            for item in node.items:
                if not (isinstance(item, Scalar) and item.value in ids):
                    break
                known.append(Name(item.value, item.span))
            else:
                return tuple(known)
        if keys:
            return tuple(n for n in (self.template_ident(value, span, what, keys)
                                     for value, span in self.items(node, what)) if n is not None)
        out = []
        for value, span in self.items(node, what):
            n = self.ident(value, span, what)
            if n is not None:
                out.append(n)
        return tuple(out)

    def template_ident(self, value: str, span: Span, what: str, keys: tuple[str, ...]) -> Name | None:
        """An id of a template, where `{KEY}` stands for an item (checked again once expanded)."""
        plain = value
        for k in keys:
            plain = plain.replace("{" + k + "}", "x")
        if "{" in plain or not ID.match(plain):
            return self.ident(value, span, what)
        return Name(value, span)

    def for_each(self, node: Raw | None, what: str) -> ForEach | None:
        """`for_each: {KEY: [items], ...}`: each key an id, each item an id fragment."""
        if node is None:
            return None
        if not isinstance(node, Map):
            self.error("E102", f"for_each of {what} must be a mapping of KEY: [items] "
                       "(for_each: {port: [8000, 8001]})", node.span)
            return None
        axes: list[Axis] = []
        seen: set[str] = set()
        for key, value in node.entries:
            ident = self.ident(key.value, key.span, "for_each key")
            if ident is None:
                continue
            if ident.value in seen:
                self.error("E102", f"for_each key '{ident.value}' is given twice in {what}", key.span)
                continue
            seen.add(ident.value)
            given = self.items(value, f"the items of '{ident.value}'")
            if not given:
                self.error("E102", f"for_each key '{ident.value}' of {what} has no items", value.span)
                continue
            items: list[Text] = []
            for text, span in given:
                if ITEM.match(text):
                    items.append(Text(text, span))
                else:
                    self.error("E102", f"item '{text}' of for_each key '{ident.value}' is not an id fragment "
                               "(letters, digits, '_' and '-'): it becomes part of a task id", span)
            if len(items) == len(given):
                axes.append(Axis(ident, tuple(items)))
        if not node.entries:
            self.error("E102", f"for_each of {what} has no keys (for_each: {{port: [8000, 8001]}})", node.span)
        return ForEach(tuple(axes), node.span) if axes else None

    def text(self, node: Raw | None, what: str) -> Text | None:
        if node is None:
            return None
        if isinstance(node, Scalar) and node.value is not None:      # as scalar() says, sooner
            return Text(node.value, node.span)
        self.scalar(node, what)
        return None

    def texts(self, node: Raw | None, what: str) -> tuple[Text, ...]:
        return () if node is None else tuple(Text(value, span) for value, span in self.items(node, what))

    def duration(self, node: Raw | None, what: str) -> Duration | None:
        value = None if node is None else self.scalar(node, what)
        if node is None or value is None:
            return None
        seconds = parse_duration(value)
        if seconds is None:
            self.error("E102", f"{what} '{value}' is not a duration "
                       "(examples: 90, 90s, 5m, 1h30m, 250ms)", node.span)
            return None
        return Duration(seconds, node.span)

    def integer(self, node: Raw | None, what: str, minimum: int) -> Number | None:
        value = None if node is None else self.scalar(node, what)
        if node is None or value is None:
            return None
        if not _COUNT.fullmatch(value.strip()) or int(value) < minimum:
            self.error("E102", f"{what} must be a whole number >= {minimum}, not '{value}'", node.span)
            return None
        return Number(int(value), node.span)

    def factor(self, node: Raw | None) -> Number | None:
        value = None if node is None else self.scalar(node, "backoff factor")
        if node is None or value is None:
            return None
        if not _NUMBER.match(value.strip()) or not math.isfinite(float(value)) or float(value) < 1:
            self.error("E102", f"backoff factor must be a number >= 1, not '{value}'", node.span)
            return None
        v = float(value)
        return Number(int(v) if v.is_integer() else v, node.span)

    def amount(self, node: Raw | None, what: str) -> Number | None:
        """A number > 0 (dollars)."""
        value = None if node is None else self.scalar(node, what)
        if node is None or value is None:
            return None
        if not _NUMBER.match(value.strip()) or not math.isfinite(float(value)) or float(value) <= 0:
            self.error("E102", f"{what} must be a number > 0, not '{value}'", node.span)
            return None
        v = float(value)
        return Number(int(v) if v.is_integer() else v, node.span)

    def runner(self, node: Raw | None, what: str) -> RunnerRef | None:
        """A preset by name, or `{command: TEMPLATE}`."""
        if node is None:
            return None
        if isinstance(node, Map):
            f = self.fields(node, RUNNER_FIELDS, f"the runner of {what}")
            if "command" not in f:
                self.error("E103", f"the runner of {what} is a mapping without 'command' (the command "
                           "template)", node.span)
            return Command(self.text(f.value("command"), "command"), node.span)
        value = self.scalar(node, "runner")
        if value is None:
            return None
        if value not in RUNNERS:
            self.error("E102", f"unknown runner '{value}'{did_you_mean(value, RUNNERS)}; the runners are "
                       + ", ".join(RUNNERS) + " and {command: TEMPLATE}", node.span)
            return None
        return Name(value, node.span)

    def limits(self, node: Raw | None) -> tuple[Limit, ...]:
        if node is None or (isinstance(node, Scalar) and node.value is None):
            return ()
        if not isinstance(node, Map):
            self.error("E102", "limits must be a mapping of RUNNER: N (at most N tasks of that runner "
                       "at once)", node.span)
            return ()
        out: list[Limit] = []
        seen: set[str] = set()
        for key, value in node.entries:
            name = key.value or ""
            if name not in PRESETS:
                self.error("E102", f"'{name}' in limits is not a coding agent runner"
                           + did_you_mean(name, PRESETS) + "; the runners are " + ", ".join(PRESETS),
                           key.span)
            elif name in seen:
                self.error("E102", f"runner '{name}' is given twice in limits", key.span)
            else:
                seen.add(name)
                count = self.integer(value, f"the limit of {name}", 1)
                if count is not None:
                    out.append(Limit(Name(name, key.span), count))
        return tuple(out)

    def choice(self, node: Raw | None, what: str, choices: tuple[str, ...]) -> Name | None:
        """One word of a fixed set (`on_fail`, `workspace`)."""
        value = None if node is None else self.scalar(node, what)
        if node is None or value is None:
            return None
        if value not in choices:
            self.error("E102", f"{what} must be one of {', '.join(choices)}, not '{value}'"
                       + did_you_mean(value, choices), node.span)
            return None
        return Name(value, node.span)

    def flag(self, node: Raw | None, what: str) -> Flag | None:
        value = None if node is None else self.scalar(node, what)
        if node is None or value is None:
            return None
        if value not in FLAGS:
            self.error("E102", f"{what} must be true or false, not '{value}'", node.span)
            return None
        return Flag(FLAGS[value], node.span)

    def env(self, node: Raw | None, what: str) -> tuple[EnvVar, ...]:
        if node is None or (isinstance(node, Scalar) and node.value is None):
            return ()
        if not isinstance(node, Map):
            self.error("E102", f"env of {what} must be a mapping of NAME: value", node.span)
            return ()
        out: list[EnvVar] = []
        seen: set[str] = set()
        for key, value in node.entries:
            name = key.value
            if name is None or not ENV_NAME.match(name):
                self.error("E102", f"'{name}' is not a valid environment variable name", key.span)
                continue
            if name in seen:
                self.error("E102", f"environment variable '{name}' is given twice in {what}", key.span)
                continue
            seen.add(name)
            v = self.text(value, f"the value of {name}")
            if v is not None:
                out.append(EnvVar(Name(name, key.span), v))
        return tuple(out)

    def backoff(self, node: Raw | None, what: str) -> Backoff | None:
        if node is None:
            return None
        if isinstance(node, Scalar) and node.value is not None:   # `backoff: 2s` = initial delay
            d = self.duration(node, "backoff")
            return None if d is None else Backoff(d, None, None, node.span)
        get = self.fields(node, BACKOFF_FIELDS, f"the backoff of {what}").value
        return Backoff(self.duration(get("initial"), "backoff initial"), self.factor(get("factor")),
                       self.duration(get("max"), "backoff max"), node.span)

    # -- definitions --------------------------------------------------------------------------

    def domain_body(self, ident: Name | None, node: Raw, what: str) -> Domain:
        get = self.fields(node, DOMAIN_FIELDS, what).value
        return Domain(ident, self.texts(get("writes"), "writes"), self.texts(get("reads"), "reads"),
                      node.span)

    def domain_ref(self, node: Raw | None, what: str) -> DomainRef | None:
        if node is None:
            return None
        if isinstance(node, Map):
            return self.domain_body(None, node, f"the domain of {what}")
        return self.id_of(node, "domain")

    def task_domain(self, f: _Fields, what: str) -> DomainRef | None:
        """A task's `domain`, or its inline form: `writes`/`reads` as fields of the task."""
        inline = [f[name] for name in DOMAIN_FIELDS if name in f]
        if not inline:
            return self.domain_ref(f.value("domain"), what)
        if "domain" in f:
            key = min((k for k, _ in inline), key=lambda k: k.span)
            self.error("E103", f"{what} gives both 'domain' and '{key.value}': write its domain once, "
                       "as 'domain' or as 'writes'/'reads'", key.span)
            return self.domain_ref(f.value("domain"), what)
        first = min(k.span for k, _ in inline)
        last = max((v.span for _, v in inline), key=lambda s: (s.end_line, s.end_column))
        span = Span(first.file, first.line, first.column, last.end_line, last.end_column)
        return Domain(None, self.texts(f.value("writes"), "writes"), self.texts(f.value("reads"), "reads"), span)

    def defaults(self, node: Raw) -> Defaults:
        get = self.fields(node, DEFAULTS_FIELDS, "defaults").value
        return Defaults(self.duration(get("timeout"), "timeout"),
                        self.integer(get("retries"), "retries", 0),
                        self.backoff(get("backoff"), "defaults"), self.env(get("env"), "defaults"),
                        node.span)

    def agent(self, ident: Name, node: Raw) -> Agent:
        what = f"agent '{ident.value}'"
        get = self.fields(node, AGENT_FIELDS, what).value
        return Agent(ident, self.domain_ref(get("domain"), what), self.names(get("skills"), "skill"),
                     self.integer(get("instances"), "instances", 1),
                     self.text(get("description"), "description"), self.env(get("env"), what),
                     node.span, workspace=self.choice(get("workspace"), "workspace", WORKSPACES),
                     runner=self.runner(get("runner"), what), model=self.text(get("model"), "model"),
                     max_turns=self.integer(get("max_turns"), "max_turns", 1),
                     max_budget_usd=self.amount(get("max_budget_usd"), "max_budget_usd"))

    def usual_task(self, ident: Name, node: Raw) -> Task | None:
        """The task that most are, `agent`, `run` and maybe `needs`, each once, built as
        `task` builds it but without its table of fields (nothing in it can be reported
        but what id_of, names and text report); None for any other."""
        if not isinstance(node, Map) or not 2 <= len(node.entries) <= 3:
            return None
        agent = run = needs = None
        for key, value in node.entries:
            name = key.value
            if name == "agent" and agent is None:
                agent = value
            elif name == "run" and run is None:
                run = value
            elif name == "needs" and needs is None:
                needs = value
            else:
                return None
        if agent is None or run is None:
            return None
        return Task(ident, self.id_of(agent, "agent"), None, self.names(needs, "need"), self.text(run, "run"),
                    None, None, None, None, None, None, (), None, node.span, None, None, None)

    def task(self, ident: Name, node: Raw) -> Task:
        usual = self.usual_task(ident, node)
        if usual is not None:
            return usual
        what = f"task '{ident.value}'"
        f = self.fields(node, TASK_FIELDS, what)
        get = f.value
        if ("agent" in f) == ("requires" in f):
            self.error("E103", f"{what} needs exactly one of 'agent' and 'requires'"
                       + (", not both" if "agent" in f else ""),
                       f["requires"][0].span if "agent" in f else ident.span)
        if ("run" in f) == ("prompt" in f):
            self.error("E103", f"{what} needs exactly one of 'run' (a shell command) and 'prompt' "
                       "(instructions for a coding agent)" + (", not both" if "run" in f else ""),
                       f["prompt"][0].span if "run" in f else ident.span)
        requires = self.names(get("requires"), "skill") if "requires" in f else None
        for_each = self.for_each(get("for_each"), what) if "for_each" in f else None
        keys = () if for_each is None else tuple(a.key.value for a in for_each.axes)
        # most tasks write only agent, run and needs: the other fields are not looked up one by one
        more = not f.keys().isdisjoint(_MORE_TASK_FIELDS)
        return Task(ident, self.id_of(get("agent"), "agent"), requires, self.names(get("needs"), "need", keys),
                    self.text(get("run"), "run"), self.task_domain(f, what) if more else None,
                    self.duration(get("estimate"), "estimate") if more else None,
                    self.duration(get("timeout"), "timeout") if more else None,
                    self.integer(get("retries"), "retries", 0) if more else None,
                    self.backoff(get("backoff"), what) if more else None,
                    self.text(get("rollback"), "rollback") if more else None,
                    self.env(get("env"), what) if more else (),
                    self.text(get("description"), "description") if more else None, node.span,
                    # expect_changes, prompt, for_each: by position too (keywords cost a third of the call)
                    self.flag(get("expect_changes"), "expect_changes") if more else None,
                    self.text(get("prompt"), "prompt") if "prompt" in f else None, for_each)

    def gate(self, ident: Name, node: Raw) -> Gate:
        what = f"gate '{ident.value}'"
        f = self.fields(node, GATE_FIELDS, what)
        get = f.value
        needs = self.names(get("needs"), "need")
        raw_needs = get("needs")
        if raw_needs is None or (isinstance(raw_needs, Scalar) and raw_needs.value is None) or (
                isinstance(raw_needs, Seq) and not raw_needs.items):
            self.error("E103", f"{what} needs a non-empty 'needs' list",
                       f["needs"][0].span if "needs" in f else ident.span)
        if ("run" in f) == ("approve" in f):
            self.error("E103", f"{what} needs exactly one of 'run' and 'approve'"
                       + (", not both" if "run" in f else ""),
                       f["approve"][0].span if "run" in f else ident.span)
        on_fail = self.choice(get("on_fail"), "on_fail", ON_FAIL)
        return Gate(ident, needs, self.text(get("run"), "run"), self.text(get("approve"), "approve"),
                    on_fail, self.duration(get("estimate"), "estimate"),
                    self.duration(get("timeout"), "timeout"), self.integer(get("retries"), "retries", 0),
                    self.text(get("description"), "description"), node.span)

    def collection(self, node: Raw | None, what: str,
                   make: Callable[[Name, Raw], _Node]) -> tuple[_Node, ...]:
        out = []
        singular = what[:-1]
        for key, value in self.entries(node, what):
            ident = self.ident(key.value, key.span, singular)
            if ident is not None:
                out.append(make(ident, value))
        return tuple(out)

    def workflow(self, raw: Map) -> Workflow:
        f = self.fields(raw, TOP_FIELDS, "the workflow")
        get = f.value
        if "workflow" not in f:
            self.error("E103", "missing required field 'workflow' (the workflow's id)", raw.span)
        defaults = get("defaults")
        return Workflow(
            self.id_of(get("workflow"), "workflow id"), self.text(get("description"), "description"),
            self.text(get("workdir"), "workdir"),
            None if defaults is None else self.defaults(defaults),
            self.collection(get("domains"), "domains",
                            lambda i, v: self.domain_body(i, v, f"domain '{i.value}'")),
            self.collection(get("agents"), "agents", self.agent),
            self.collection(get("tasks"), "tasks", self.task),
            self.collection(get("gates"), "gates", self.gate),
            raw.span, workspace=self.choice(get("workspace"), "workspace", WORKSPACES),
            limits=self.limits(get("limits")),
            max_budget_usd=self.amount(get("max_budget_usd"), "max_budget_usd"))


def build_workflow(raw: Map, file: str) -> tuple[Workflow, list[Diagnostic]]:
    b = _Builder(file)
    wf = b.workflow(raw)
    return wf, b.diags
