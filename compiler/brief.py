"""One Markdown brief per agent (SPEC section 6), rendered from a jinja2 template.

The brief reads the plan only. Markdown is not HTML, so autoescape is off; instead
the filters below keep user strings from breaking the brief's structure: ids,
patterns and commands go in code spans or fenced blocks long enough that the
text cannot close them, and free text (descriptions) goes in block quotes, which
contain any heading, list or fence a user wrote. A user template (`--template`)
is rendered in a SandboxedEnvironment: it sees the same data and the same
filters, and cannot reach Python internals.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
import contextlib
from contextlib import contextmanager
from functools import lru_cache
import os
import re
import signal
import threading
from typing import Any, TypedDict

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from lanes.compiler.planfile import Plan, PlanAgent, PlanNode
from lanes.dsl.diagnostics import did_you_mean
from lanes.dsl.durations import duration

PACKAGE_TEMPLATE = "brief.md.j2"
_BACKTICKS = re.compile(r"`+")
# the inline constructs a sentence of plain text must not open: code, emphasis, links, HTML
_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<>])")


class BriefError(Exception):
    """An unknown agent, or a template that cannot be read or rendered (with file and line)."""


def code(text: object) -> str:
    """An inline code span that no backtick inside can close. Line breaks become spaces:
    block structure is parsed before code spans, so a newline could start a heading."""
    s = " ".join(str(text).splitlines()) if text is not None else ""
    longest = max((len(m) for m in _BACKTICKS.findall(s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if (not s or s.startswith("`") or s.endswith("`")) else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def code_list(items: Iterable[object] | None) -> str:
    return ", ".join(code(i) for i in items) if items else "nothing"


def code_block(text: object, indent: str = "", lang: str = "sh") -> str:
    """A fenced block longer than any run of backticks inside, so none can close it."""
    s = "" if text is None else str(text)
    longest = max((len(m) for m in _BACKTICKS.findall(s)), default=0)
    fence = "`" * max(3, longest + 1)
    body = "\n".join((indent + line).rstrip() for line in s.splitlines() or [""])
    return f"{indent}{fence}{lang}\n{body}\n{indent}{fence}"


def quote(text: object, indent: str = "") -> str:
    """Free text as a block quote: the user's Markdown still renders, but a heading,
    list or fence inside stays inside the quote. `<` is escaped so that raw HTML
    (an unclosed `<details>`, a `<script>`) cannot swallow what follows."""
    lines = str(text).replace("<", "\\<").splitlines() or [""]
    return "\n".join(f"{indent}> {line}".rstrip() for line in lines)


def inline(text: object) -> str:
    """Plain text inside a sentence: one line, with inline Markdown characters escaped."""
    return _INLINE_SPECIAL.sub(r"\\\1", " ".join(str(text).splitlines()))


FILTERS: dict[str, Callable[..., str]] = {"duration": duration, "code": code, "code_list": code_list,
           "code_block": code_block, "quote": quote, "inline": inline}


# A node of another agent that this agent's tasks wait for (`for`: those tasks), and one
# that waits for them (`after`: the tasks it waits for); keys as the templates read them.
WaitsFor = TypedDict("WaitsFor", {"id": str, "kind": str, "agent": str | None, "for": list[str]})
WaitedBy = TypedDict("WaitedBy", {"id": str, "kind": str, "agent": str | None, "after": list[str]})


class BriefContext(TypedDict):
    plan: Plan
    agent: PlanAgent
    tasks: list[PlanNode]
    waits_for: list[WaitsFor]
    waited_by: list[WaitedBy]
    gates: list[PlanNode]


def _waits_for(plan: Plan, mine: list[PlanNode], ids: set[str]) -> list[WaitsFor]:
    """Upstream nodes outside this agent, each once, with the own tasks that need it."""
    found: dict[str, WaitsFor] = {}
    for t in mine:
        for up in t.needs:
            if up not in ids:
                u = plan.node_by_id[up]
                entry = found.setdefault(up, {"id": up, "kind": u.kind, "agent": u.agent, "for": []})
                entry["for"].append(t.id)
    return list(found.values())


def _waited_by(plan: Plan, mine: list[PlanNode], ids: set[str]) -> list[WaitedBy]:
    found: dict[str, WaitedBy] = {}
    for t in mine:
        for down in plan.dependents[t.id]:
            if down not in ids:
                d = plan.node_by_id[down]
                entry = found.setdefault(down, {"id": down, "kind": d.kind, "agent": d.agent, "after": []})
                entry["after"].append(t.id)
    return list(found.values())


class _Index:
    """What every brief of one plan needs, computed once for all of them."""

    def __init__(self, plan: Plan) -> None:
        self.position = {n.id: i for i, n in enumerate(plan.nodes)}
        self.tasks: dict[str, list[PlanNode]] = {a.id: [] for a in plan.agents}
        for n in plan.nodes:
            if n.agent is not None and n.agent in self.tasks:
                self.tasks[n.agent].append(n)
        # gates downstream of each node; plan order is topological, so walk it backwards
        self.gates_below: dict[str, frozenset[str]] = {}
        for n in reversed(plan.nodes):
            below: set[str] = set()
            for d in plan.dependents[n.id]:
                below |= self.gates_below[d]
                if plan.node_by_id[d].is_gate:
                    below.add(d)
            self.gates_below[n.id] = frozenset(below)


def brief_context(plan: Plan, agent_id: str, index: _Index | None = None) -> BriefContext:
    """What a brief template sees: `plan`, `agent`, `tasks` (in plan order), `waits_for`
    and `waited_by` (dicts with id, kind, agent, and the own tasks concerned), `gates`
    (every gate downstream of the agent's tasks, in plan order)."""
    if agent_id not in plan.agent_by_id:
        raise BriefError(f"no agent '{agent_id}' in workflow '{plan.workflow}'"
                         f"{did_you_mean(agent_id, plan.agent_by_id)}")
    index = index or _Index(plan)
    mine = index.tasks[agent_id]
    ids = {n.id for n in mine}
    gates: set[str] = set().union(*(index.gates_below[t.id] for t in mine))
    return {"plan": plan, "agent": plan.agent_by_id[agent_id], "tasks": mine,
            "waits_for": _waits_for(plan, mine, ids), "waited_by": _waited_by(plan, mine, ids),
            "gates": [plan.node_by_id[g] for g in sorted(gates, key=index.position.__getitem__)]}


def _environment(env_class: type[jinja2.Environment], loader: jinja2.BaseLoader,
                 cache: jinja2.BytecodeCache | None = None) -> jinja2.Environment:
    env = env_class(loader=loader, autoescape=False, keep_trailing_newline=True,
                    undefined=jinja2.StrictUndefined, bytecode_cache=cache)
    env.filters.update(FILTERS)
    return env


def _template_line(exc: BaseException, filename: str | None) -> int | None:
    """jinja2 rewrites tracebacks so that frames point into the template: take the last."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if filename and tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


MAX_TEMPLATE_BYTES = 1 << 20      # a template (and each file it includes) read at most this long
MAX_OUTPUT_CHARS = 8 << 20        # a brief longer than this is refused
RENDER_SECONDS = 10.0             # a user's template that renders longer is stopped
MAX_SEQUENCE = 1 << 20            # `"a" * n`, `[x] * n`, `a + b` in a template: results capped


class _Sandbox(SandboxedEnvironment):
    """The sandbox, with the arithmetic that can build huge values in one step bounded
    (jinja2's own sandbox bounds `range` only)."""

    intercepted_binops = frozenset(["*", "**", "+"])

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        sized = (str, bytes, list, tuple)
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, sized) and isinstance(n, int) and len(seq) * n > MAX_SEQUENCE:
                    raise jinja2.exceptions.SecurityError(f"a repetition longer than {MAX_SEQUENCE} items")
        if operator == "+" and isinstance(left, sized) and isinstance(right, sized) \
                and len(left) + len(right) > MAX_SEQUENCE:
            raise jinja2.exceptions.SecurityError(f"a concatenation longer than {MAX_SEQUENCE} items")
        if operator == "**" and isinstance(right, int) and not isinstance(right, bool) and abs(right) > 1024:
            raise jinja2.exceptions.SecurityError("an exponent above 1024")
        return super().call_binop(context, operator, left, right)


class _RegularFileLoader(jinja2.BaseLoader):
    """Templates from one directory, each read only when it is a regular file and at
    most MAX_TEMPLATE_BYTES long (a FIFO or a device never blocks or floods a brief)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        from lanes.dsl.source import read_regular
        parts = template.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise jinja2.TemplateNotFound(template)
        path = os.path.join(self.directory, *parts)
        data, problem = read_regular(path, MAX_TEMPLATE_BYTES)
        if data is None:
            if problem and problem.endswith("no such file"):
                raise jinja2.TemplateNotFound(template)
            raise BriefError(problem or f"{path}: cannot read")
        if len(data) > MAX_TEMPLATE_BYTES:
            raise BriefError(f"{path}: a template larger than {MAX_TEMPLATE_BYTES // 1024} KB; refused")
        return data.decode("utf-8"), path, lambda: False


@lru_cache(maxsize=2)
def _package_template(cache_dir: str | None = None) -> jinja2.Template:
    """Compiled once per process and kept in memory; a compile-time command writes
    nothing but its output, so only a run, which has a state directory, keeps jinja2's
    bytecode there (`cache_dir`: compiling the template is most of rendering the briefs)."""
    cache = None
    if cache_dir is not None:
        os.makedirs(cache_dir, exist_ok=True)
        cache = jinja2.FileSystemBytecodeCache(cache_dir)
    env = _environment(jinja2.Environment, jinja2.PackageLoader("lanes.templates", "."), cache)
    return env.get_template(PACKAGE_TEMPLATE)


def load_template(template_path: str | None, cache_dir: str | None = None) -> jinja2.Template:
    if template_path is None:
        return _package_template(cache_dir)
    env = _environment(_Sandbox, _RegularFileLoader(os.path.dirname(os.path.abspath(template_path))))
    try:
        return env.get_template(os.path.basename(template_path))
    except jinja2.TemplateNotFound:
        raise BriefError(f"{template_path}: no such template") from None
    except jinja2.TemplateSyntaxError as exc:
        raise BriefError(f"{exc.filename or template_path}:{exc.lineno}: template syntax error: "
                         f"{exc.message}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BriefError(f"{template_path}: cannot read: {exc}") from None


class _TooLong(Exception):
    pass


@contextmanager
def _time_bound(seconds: float) -> Iterator[None]:
    """Stop what runs inside after `seconds` (SIGALRM; only in the main thread, where
    the commands run: elsewhere only the size bound holds)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise _TooLong

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _TooLong:                    # fired between two briefs
        raise BriefError(f"rendering took longer than {seconds:g} s; stopped") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _generate(template: jinja2.Template, context: BriefContext) -> str:
    out: list[str] = []
    size = 0
    for chunk in template.generate(**context):
        size += len(chunk)
        if size > MAX_OUTPUT_CHARS:
            raise BriefError(f"{template.filename or template.name}: the brief grows past "
                             f"{MAX_OUTPUT_CHARS // (1 << 20)} MB; refused")
        out.append(chunk)
    return "".join(out)


def _render(template: jinja2.Template, context: BriefContext) -> str:
    try:
        return _generate(template, context)
    except _TooLong:
        raise BriefError(f"{template.filename or template.name}: rendering took longer than "
                         f"{RENDER_SECONDS:g} s; stopped") from None
    except jinja2.TemplateError as exc:
        where = template.filename or template.name
        line = _template_line(exc, template.filename)
        at = f"{where}:{line}" if line else f"{where}"
        kind = ("refused by the sandbox" if isinstance(exc, jinja2.exceptions.SecurityError)
                else "cannot render")
        raise BriefError(f"{at}: {kind}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError, RecursionError,
            MemoryError) as exc:
        # errors raised by Python operations inside a user's template expression
        line = _template_line(exc, template.filename)
        raise BriefError(f"{template.filename}:{line or '?'}: cannot render: "
                         f"{type(exc).__name__}: {exc}") from None


def _bounded_if_users(template_path: str | None) -> contextlib.AbstractContextManager[None]:
    """A user's template gets RENDER_SECONDS for all its briefs together; ours is trusted."""
    return _time_bound(RENDER_SECONDS) if template_path is not None else contextlib.nullcontext()


def render_brief(plan: Plan, agent_id: str, template_path: str | None = None) -> str:
    """The Markdown brief of one agent; raises BriefError (a message for the user)."""
    template = load_template(template_path)
    context = brief_context(plan, agent_id)
    with _bounded_if_users(template_path):
        return _render(template, context)


def render_briefs(plan: Plan, template_path: str | None = None, cache_dir: str | None = None) -> dict[str, str]:
    """agent id -> brief, for every agent in declaration order (the template is loaded once;
    `cache_dir`: where a run keeps the package template's bytecode)."""
    template, index = load_template(template_path, cache_dir), _Index(plan)
    contexts = [(a.id, brief_context(plan, a.id, index)) for a in plan.agents]
    with _bounded_if_users(template_path):
        return {agent: _render(template, context) for agent, context in contexts}
