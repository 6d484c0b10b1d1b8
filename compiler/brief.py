"""One Markdown brief per agent (SPEC section 6), rendered from a jinja2 template.

The brief reads the plan only. A user template (`--template`) is rendered in a
SandboxedEnvironment: it sees the same data, and cannot reach Python internals.
"""
from __future__ import annotations

import os

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from lanes.compiler.planfile import Plan


class BriefError(Exception):
    """A template that cannot be read or rendered (with its file and line)."""


def _duration(seconds: float) -> str:
    from lanes.dsl.fmt import duration
    return duration(seconds)


def _code_list(items) -> str:
    return ", ".join(f"`{i}`" for i in items) if items else "nothing"


def _code_block(text: str, indent: str = "") -> str:
    """A fenced block long enough that backticks inside cannot close it."""
    fence = "```"
    while fence in text:
        fence += "`"
    body = "\n".join(indent + line for line in text.splitlines() or [""])
    return f"{indent}{fence}sh\n{body}\n{indent}{fence}"


def _setup(env: jinja2.Environment) -> jinja2.Environment:
    env.filters.update(duration=_duration, code_list=_code_list, code_block=_code_block)
    return env


def brief_context(plan: Plan, agent_id: str) -> dict:
    agent = plan.agent_by_id[agent_id]
    mine = [n for n in plan.nodes if n.agent == agent_id]
    ids = {n.id for n in mine}
    waits, waited, gates, seen = [], [], [], set()
    by_id = plan.node_by_id
    for t in mine:
        for up in t.needs:
            u = by_id[up]
            if up not in ids:
                waits.append({"id": up, "kind": u.kind, "agent": u.agent, "before": t.id})
        for d in plan.dependents[t.id]:
            n = by_id[d]
            if d not in ids:
                waited.append({"id": d, "kind": n.kind, "agent": n.agent, "after": t.id})
    # gates downstream of any of this agent's tasks
    stack = [d for t in mine for d in plan.dependents[t.id]]
    while stack:
        nid = stack.pop()
        if nid in seen:
            continue
        seen.add(nid)
        if by_id[nid].is_gate:
            gates.append(by_id[nid])
        stack.extend(plan.dependents[nid])
    order = {n.id: i for i, n in enumerate(plan.nodes)}
    gates.sort(key=lambda g: order[g.id])
    return {"plan": plan, "agent": agent, "tasks": mine, "waits_for": waits, "waited_by": waited,
            "gates": gates}


def render_brief(plan: Plan, agent_id: str, template_path: str | None = None) -> str:
    if template_path is None:
        env = _setup(jinja2.Environment(loader=jinja2.PackageLoader("lanes.templates", "."),
                                        autoescape=False, keep_trailing_newline=True,
                                        undefined=jinja2.StrictUndefined))
        template = env.get_template("brief.md.j2")
    else:
        env = _setup(SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(os.path.dirname(os.path.abspath(template_path))),
            autoescape=False, keep_trailing_newline=True))
        try:
            template = env.get_template(os.path.basename(template_path))
        except jinja2.TemplateNotFound:
            raise BriefError(f"{template_path}: no such template") from None
        except jinja2.TemplateSyntaxError as exc:
            raise BriefError(f"{exc.filename or template_path}:{exc.lineno}: template syntax error: "
                             f"{exc.message}") from None
    try:
        return template.render(**brief_context(plan, agent_id))
    except jinja2.exceptions.SecurityError as exc:
        raise BriefError(f"{template_path}: refused by the sandbox: {exc}") from None
    except jinja2.TemplateError as exc:
        raise BriefError(f"{template_path or 'brief.md.j2'}: cannot render: {exc}") from None


def render_briefs(plan: Plan, template_path: str | None = None) -> dict[str, str]:
    return {a.id: render_brief(plan, a.id, template_path) for a in plan.agents}
