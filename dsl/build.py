"""Raw tree -> AST: the one builder behind both forms.

Both front ends hand over the same raw maps, lists and scalars, so field names,
value checks and their diagnostics (E101, E102, E103) are written once here and
read the same for YAML and for the grammar. The builder never stops at the first
problem: a bad field is reported and left out (None), and building goes on.
"""
from __future__ import annotations

import math
import re

from .ast import (Agent, Backoff, Defaults, Domain, Duration, EnvVar, Gate, Name, Number, Task,
                  Text, Workflow)
from .durations import NUMBER as _NUMBER, parse_duration
from .diagnostics import Diagnostic, diag, did_you_mean
from .raw import Map, Raw, Scalar, Seq

ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

ON_FAIL = ("stop", "rollback", "continue")

TOP_FIELDS = ("workflow", "description", "workdir", "defaults", "domains", "agents", "tasks", "gates")
DEFAULTS_FIELDS = ("timeout", "retries", "backoff", "env")
DOMAIN_FIELDS = ("writes", "reads")
AGENT_FIELDS = ("domain", "skills", "instances", "description", "env")
TASK_FIELDS = ("agent", "requires", "needs", "run", "domain", "estimate", "timeout", "retries",
               "backoff", "rollback", "env", "description")
GATE_FIELDS = ("needs", "run", "approve", "on_fail", "estimate", "timeout", "retries", "description")
BACKOFF_FIELDS = ("initial", "factor", "max")


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.diags: list[Diagnostic] = []

    def error(self, code: str, message: str, span) -> None:
        self.diags.append(diag(code, message, span))

    # -- shapes -----------------------------------------------------------------------------

    def fields(self, node: Raw, allowed: tuple[str, ...], what: str) -> dict[str, tuple[Scalar, Raw]]:
        """The entries of a mapping by field name; unknown and repeated fields reported."""
        if isinstance(node, Scalar) and node.value is None:
            return {}
        if not isinstance(node, Map):
            self.error("E102", f"{what} must be a mapping of fields", node.span)
            return {}
        out: dict[str, tuple[Scalar, Raw]] = {}
        for key, value in node.entries:
            name = key.value or ""
            if name not in allowed:
                self.error("E101", f"unknown field '{name}' in {what}{did_you_mean(name, allowed)}",
                           key.span)
            elif name in out:
                self.error("E102", f"field '{name}' is given twice in {what}", key.span)
            else:
                out[name] = (key, value)
        return out

    def entries(self, node: Raw | None, what: str) -> tuple[tuple[Scalar, Raw], ...]:
        """The id -> definition entries of `domains`, `agents`, `tasks`, `gates`."""
        if node is None or (isinstance(node, Scalar) and node.value is None):
            return ()
        if not isinstance(node, Map):
            self.error("E102", f"'{what}' must be a mapping from ids to definitions", node.span)
            return ()
        return node.entries

    def scalar(self, node: Raw, what: str) -> Scalar | None:
        if isinstance(node, Scalar) and node.value is not None:
            return node
        kind = "nothing" if isinstance(node, Scalar) else "a list" if isinstance(node, Seq) else "a mapping"
        self.error("E102", f"{what} must be a single value, not {kind}", node.span)
        return None

    def items(self, node: Raw, what: str) -> tuple[Scalar, ...]:
        """A list of scalars; a single scalar is a one-item list, null an empty one."""
        if isinstance(node, Scalar):
            return () if node.value is None else (node,)
        if isinstance(node, Map):
            self.error("E102", f"{what} must be a list, not a mapping", node.span)
            return ()
        out = []
        for item in node.items:
            s = self.scalar(item, f"each item of {what}")
            if s is not None:
                out.append(s)
        return tuple(out)

    # -- values -----------------------------------------------------------------------------

    def ident(self, s: Scalar | None, what: str) -> Name | None:
        if s is None:
            return None
        if not ID.match(s.value or ""):
            self.error("E102", f"{what} '{s.value}' is not a valid id "
                       "(letters, digits, '_' and '-', not starting with a digit or '-')", s.span)
            return None
        return Name(s.value, s.span)

    def id_of(self, node: Raw | None, what: str) -> Name | None:
        return None if node is None else self.ident(self.scalar(node, what), what)

    def names(self, node: Raw | None, what: str) -> tuple[Name, ...]:
        if node is None:
            return ()
        return tuple(n for n in (self.ident(s, what) for s in self.items(node, what)) if n is not None)

    def text(self, node: Raw | None, what: str) -> Text | None:
        if node is None:
            return None
        s = self.scalar(node, what)
        return None if s is None else Text(s.value, s.span)

    def texts(self, node: Raw | None, what: str) -> tuple[Text, ...]:
        return () if node is None else tuple(Text(s.value, s.span) for s in self.items(node, what))

    def duration(self, node: Raw | None, what: str) -> Duration | None:
        s = None if node is None else self.scalar(node, what)
        if s is None:
            return None
        seconds = parse_duration(s.value)
        if seconds is None:
            self.error("E102", f"{what} '{s.value}' is not a duration "
                       "(examples: 90, 90s, 5m, 1h30m, 250ms)", s.span)
            return None
        return Duration(seconds, s.span)

    def integer(self, node: Raw | None, what: str, minimum: int) -> Number | None:
        s = None if node is None else self.scalar(node, what)
        if s is None:
            return None
        if not re.fullmatch(r"\d{1,18}", s.value.strip()) or int(s.value) < minimum:
            self.error("E102", f"{what} must be a whole number >= {minimum}, not '{s.value}'", s.span)
            return None
        return Number(int(s.value), s.span)

    def factor(self, node: Raw | None) -> Number | None:
        s = None if node is None else self.scalar(node, "backoff factor")
        if s is None:
            return None
        if not _NUMBER.match(s.value.strip()) or not math.isfinite(float(s.value)) or float(s.value) < 1:
            self.error("E102", f"backoff factor must be a number >= 1, not '{s.value}'", s.span)
            return None
        v = float(s.value)
        return Number(int(v) if v.is_integer() else v, s.span)

    def env(self, node: Raw | None, what: str) -> tuple[EnvVar, ...]:
        if node is None or (isinstance(node, Scalar) and node.value is None):
            return ()
        if not isinstance(node, Map):
            self.error("E102", f"env of {what} must be a mapping of NAME: value", node.span)
            return ()
        out, seen = [], set()
        for key, value in node.entries:
            if not ENV_NAME.match(key.value or ""):
                self.error("E102", f"'{key.value}' is not a valid environment variable name", key.span)
                continue
            if key.value in seen:
                self.error("E102", f"environment variable '{key.value}' is given twice in {what}", key.span)
                continue
            seen.add(key.value)
            v = self.text(value, f"the value of {key.value}")
            if v is not None:
                out.append(EnvVar(Name(key.value, key.span), v))
        return tuple(out)

    def backoff(self, node: Raw | None, what: str) -> Backoff | None:
        if node is None:
            return None
        if isinstance(node, Scalar) and node.value is not None:   # `backoff: 2s` = initial delay
            d = self.duration(node, "backoff")
            return None if d is None else Backoff(d, None, None, node.span)
        f = self.fields(node, BACKOFF_FIELDS, f"the backoff of {what}")
        get = lambda k: f[k][1] if k in f else None  # noqa: E731
        return Backoff(self.duration(get("initial"), "backoff initial"), self.factor(get("factor")),
                       self.duration(get("max"), "backoff max"), node.span)

    # -- definitions --------------------------------------------------------------------------

    def domain_body(self, ident: Name | None, node: Raw, what: str) -> Domain:
        f = self.fields(node, DOMAIN_FIELDS, what)
        get = lambda k: f[k][1] if k in f else None  # noqa: E731
        return Domain(ident, self.texts(get("writes"), "writes"), self.texts(get("reads"), "reads"),
                      node.span)

    def domain_ref(self, node: Raw | None, what: str):
        if node is None:
            return None
        if isinstance(node, Map):
            return self.domain_body(None, node, f"the domain of {what}")
        return self.id_of(node, "domain")

    def defaults(self, node: Raw) -> Defaults:
        f = self.fields(node, DEFAULTS_FIELDS, "defaults")
        get = lambda k: f[k][1] if k in f else None  # noqa: E731
        return Defaults(self.duration(get("timeout"), "timeout"),
                        self.integer(get("retries"), "retries", 0),
                        self.backoff(get("backoff"), "defaults"), self.env(get("env"), "defaults"),
                        node.span)

    def agent(self, ident: Name, node: Raw) -> Agent:
        what = f"agent '{ident.value}'"
        f = self.fields(node, AGENT_FIELDS, what)
        get = lambda k: f[k][1] if k in f else None  # noqa: E731
        return Agent(ident, self.domain_ref(get("domain"), what), self.names(get("skills"), "skill"),
                     self.integer(get("instances"), "instances", 1),
                     self.text(get("description"), "description"), self.env(get("env"), what),
                     node.span)

    def task(self, ident: Name, node: Raw) -> Task:
        what = f"task '{ident.value}'"
        f = self.fields(node, TASK_FIELDS, what)
        get = lambda k: f[k][1] if k in f else None  # noqa: E731
        if ("agent" in f) == ("requires" in f):
            self.error("E103", f"{what} needs exactly one of 'agent' and 'requires'"
                       + (", not both" if "agent" in f else ""),
                       f["requires"][0].span if "agent" in f else ident.span)
        if "run" not in f:
            self.error("E103", f"{what} has no 'run' command", ident.span)
        requires = self.names(get("requires"), "skill") if "requires" in f else None
        return Task(ident, self.id_of(get("agent"), "agent"), requires, self.names(get("needs"), "need"),
                    self.text(get("run"), "run"), self.domain_ref(get("domain"), what),
                    self.duration(get("estimate"), "estimate"), self.duration(get("timeout"), "timeout"),
                    self.integer(get("retries"), "retries", 0), self.backoff(get("backoff"), what),
                    self.text(get("rollback"), "rollback"), self.env(get("env"), what),
                    self.text(get("description"), "description"), node.span)

    def gate(self, ident: Name, node: Raw) -> Gate:
        what = f"gate '{ident.value}'"
        f = self.fields(node, GATE_FIELDS, what)
        get = lambda k: f[k][1] if k in f else None  # noqa: E731
        needs = self.names(get("needs"), "need")
        raw_needs = get("needs")
        if raw_needs is None or raw_needs == Scalar(None, raw_needs.span) or (
                isinstance(raw_needs, Seq) and not raw_needs.items):
            self.error("E103", f"{what} needs a non-empty 'needs' list",
                       f["needs"][0].span if "needs" in f else ident.span)
        if ("run" in f) == ("approve" in f):
            self.error("E103", f"{what} needs exactly one of 'run' and 'approve'"
                       + (", not both" if "run" in f else ""),
                       f["approve"][0].span if "run" in f else ident.span)
        on_fail = None
        if "on_fail" in f:
            s = self.scalar(f["on_fail"][1], "on_fail")
            if s is not None and s.value not in ON_FAIL:
                self.error("E102", f"on_fail must be one of stop, rollback, continue, not '{s.value}'"
                           + did_you_mean(s.value, ON_FAIL), s.span)
            elif s is not None:
                on_fail = Name(s.value, s.span)
        return Gate(ident, needs, self.text(get("run"), "run"), self.text(get("approve"), "approve"),
                    on_fail, self.duration(get("estimate"), "estimate"),
                    self.duration(get("timeout"), "timeout"), self.integer(get("retries"), "retries", 0),
                    self.text(get("description"), "description"), node.span)

    def collection(self, node: Raw | None, what: str, make):
        out = []
        for key, value in self.entries(node, what):
            ident = self.ident(key, what[:-1])
            if ident is not None:
                out.append(make(ident, value))
        return tuple(out)

    def workflow(self, raw: Map) -> Workflow:
        f = self.fields(raw, TOP_FIELDS, "the workflow")
        get = lambda k: f[k][1] if k in f else None  # noqa: E731
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
            raw.span)


def build_workflow(raw: Map, file: str) -> tuple[Workflow, list[Diagnostic]]:
    b = _Builder(file)
    wf = b.workflow(raw)
    return wf, b.diags
