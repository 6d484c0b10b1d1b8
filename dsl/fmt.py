"""AST -> canonical text in either form (`lanes fmt`).

Both writers print exactly what the AST holds (fields the author did not write
stay absent), so that parsing the output gives an equal AST: a round trip
through both forms changes nothing but layout.
"""
from __future__ import annotations

import json
import re

from .ast import Agent, Backoff, Defaults, Domain, Duration, EnvVar, Gate, Name, Number, Task, Text, Workflow

_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")


def duration(s: float) -> str:
    """Canonical duration: 250ms, 90 -> 1m30s, 5m, 1h30m."""
    if s < 1 and s != 0:
        ms = round(s * 1000, 6)
        return f"{int(ms) if float(ms).is_integer() else ms}ms"
    if not float(s).is_integer():
        whole = int(s)
        frac = s - whole
        ms = round(frac * 1000, 6)
        if float(ms).is_integer():
            head = duration(whole) if whole else ""
            return (head if head != "0s" else "") + f"{int(ms)}ms"
        return f"{s}s"
    s = int(s)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{sec}s" if sec else "")
    return out or "0s"


def _num(n: Number) -> str:
    v = n.value
    return str(int(v)) if float(v).is_integer() else repr(float(v))


# -- the grammar form ---------------------------------------------------------------------------

def _q(text: str) -> str:
    """A double-quoted string, or a triple-quoted one for several lines when that is exact."""
    if "\n" in text and '"""' not in text and "\\" not in text and not text.endswith('"') \
            and not text.startswith("\n"):
        return '"""\n' + text + '"""'
    return json.dumps(text, ensure_ascii=False)


_HEAD_WORDS = {"by", "needs", "requires", "max"}


def _word(value: str) -> str:
    return value if _PLAIN.match(value) and value not in _HEAD_WORDS else _q(value)


def _names(names) -> str:
    return ", ".join(_word(n.value) for n in names)


def _texts(texts) -> str:
    return ", ".join(_q(t.value) for t in texts)


def _env_block(env: tuple[EnvVar, ...]) -> str:
    return "env { " + "; ".join(f"{e.name.value} {_q(e.value.value)}" for e in env) + " }"


def _backoff_lanes(b: Backoff) -> str:
    if b.initial is None:                     # only factor/max given: the block form says so
        parts = []
        if b.factor is not None:
            parts.append(f"factor {_num(b.factor)}")
        if b.max is not None:
            parts.append(f"max {duration(b.max.seconds)}")
        return "backoff { " + "; ".join(parts) + " }"
    out = f"backoff {duration(b.initial.seconds)}"
    if b.factor is not None:
        out += f" * {_num(b.factor)}"
    if b.max is not None:
        out += f" max {duration(b.max.seconds)}"
    return out


def _domain_lanes(d: Domain) -> list[str]:
    out = []
    if d.writes:
        out.append(f"writes {_texts(d.writes)}")
    if d.reads:
        out.append(f"reads {_texts(d.reads)}")
    return out


def _block(statements: list[str], indent: str = "") -> str:
    if not statements:
        return ""
    one = " { " + "; ".join(statements) + " }"
    if len(one) <= 100 and not any("\n" in s for s in statements):
        return one
    inner = "\n".join(f"{indent}  {s}" for s in statements)
    return " {\n" + inner + f"\n{indent}}}"


def _common(n, fields) -> list[str]:
    out = []
    for name in fields:
        v = getattr(n, name)
        if v is None:
            continue
        if isinstance(v, Duration):
            out.append(f"{name} {duration(v.seconds)}")
        elif isinstance(v, Number):
            out.append(f"{name} {_num(v)}")
        elif isinstance(v, Text):
            out.append(f"{name} {_q(v.value)}")
        elif isinstance(v, Name):
            out.append(f"{name} {_word(v.value)}")
        elif isinstance(v, Backoff):
            out.append(_backoff_lanes(v))
    return out


def to_lanes(wf: Workflow) -> str:
    lines = []
    head = f"workflow {_word(wf.id.value) if wf.id else ''}".rstrip()
    if wf.description is not None:
        head += f" {_q(wf.description.value)}"
    lines.append(head)
    if wf.workdir is not None:
        lines.append(f"workdir {_q(wf.workdir.value)}")
    if wf.defaults is not None:
        d = wf.defaults
        stmts = _common(d, ("timeout", "retries", "backoff"))
        if d.env:
            stmts.append(_env_block(d.env))
        lines.append("defaults" + (_block(stmts) or " {}"))
    if wf.domains:
        lines.append("")
    for d in wf.domains:
        lines.append(f"domain {d.id.value}" + (_block(_domain_lanes(d)) or " {}"))
    if wf.agents:
        lines.append("")
    for a in wf.agents:
        lines.append(f"agent {a.id.value}" + (_block(_agent_lanes(a)) or " {}"))
    if wf.tasks:
        lines.append("")
    for t in wf.tasks:
        lines.append(_task_lanes(t))
    if wf.gates:
        lines.append("")
    for g in wf.gates:
        head = f"gate {g.id.value}" + (f" needs {_names(g.needs)}" if g.needs else "")
        lines.append(head + _block(_common(g, ("run", "approve", "on_fail", "estimate", "timeout",
                                                   "retries", "description"))))
    return "\n".join(lines) + "\n"


def _agent_lanes(a: Agent) -> list[str]:
    out = []
    if isinstance(a.domain, Name):
        out.append(f"domain {a.domain.value}")
    elif isinstance(a.domain, Domain):
        out += _domain_lanes(a.domain)
    if a.skills:
        out.append(f"skills {_names(a.skills)}")
    out += _common(a, ("instances", "description"))
    if a.env:
        out.append(_env_block(a.env))
    return out


def _task_lanes(t: Task) -> str:
    head = f"task {t.id.value}"
    if t.agent is not None:
        head += f" by {_word(t.agent.value)}"
    if t.requires:
        head += f" requires {_names(t.requires)}"
    if t.needs:
        head += f" needs {_names(t.needs)}"
    stmts = _common(t, ("run",))
    if isinstance(t.domain, Name):
        stmts.append(f"domain {t.domain.value}")
    elif isinstance(t.domain, Domain):
        stmts += _domain_lanes(t.domain)
    stmts += _common(t, ("estimate", "timeout", "retries", "backoff", "rollback", "description"))
    if t.env:
        stmts.append(_env_block(t.env))
    return head + _block(stmts)


# -- the YAML form --------------------------------------------------------------------------

def _y(text: str) -> str:
    """A YAML scalar that reads back as this exact string."""
    return json.dumps(text, ensure_ascii=False)          # JSON strings are YAML strings


def _yid(value: str) -> str:
    return value if _PLAIN.match(value) and value.lower() not in ("null", "true", "false", "yes", "no",
                                                                   "on", "off", "y", "n") else _y(value)


def _flow(pairs: list[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"


def _ylist(items, conv) -> str:
    return "[" + ", ".join(conv(i.value) for i in items) + "]"


def _ydomain(d: Domain) -> str:
    pairs = []
    if d.writes or not d.reads:
        pairs.append(("writes", _ylist(d.writes, _y)))
    if d.reads:
        pairs.append(("reads", _ylist(d.reads, _y)))
    return _flow(pairs)


def _yvalue(v) -> str:
    if isinstance(v, Duration):
        return duration(v.seconds)
    if isinstance(v, Number):
        return _num(v)
    if isinstance(v, Text):
        return _y(v.value)
    if isinstance(v, Name):
        return _yid(v.value)
    if isinstance(v, Backoff):
        return _flow([(k, _yvalue(getattr(v, k))) for k in ("initial", "factor", "max")
                      if getattr(v, k) is not None])
    raise TypeError(type(v))


def _ycommon(n, fields) -> list[tuple[str, str]]:
    return [(f, _yvalue(getattr(n, f))) for f in fields if getattr(n, f) is not None]


def _yenv(env) -> str:
    return _flow([(_yid(e.name.value), _y(e.value.value)) for e in env])


def _ybody(pairs: list[tuple[str, str]], indent: str) -> str:
    one = _flow(pairs)
    if len(one) <= 110:
        return " " + one
    return "\n" + "\n".join(f"{indent}  {k}: {v}" for k, v in pairs)


def to_yaml(wf: Workflow) -> str:
    lines = [f"workflow: {_yid(wf.id.value) if wf.id else ''}".rstrip()]
    if wf.description is not None:
        lines.append(f"description: {_y(wf.description.value)}")
    if wf.workdir is not None:
        lines.append(f"workdir: {_y(wf.workdir.value)}")
    if wf.defaults is not None:
        d: Defaults = wf.defaults
        pairs = _ycommon(d, ("timeout", "retries", "backoff"))
        if d.env:
            pairs.append(("env", _yenv(d.env)))
        lines.append("defaults:" + _ybody(pairs, ""))
    if wf.domains:
        lines.append("domains:")
        for dom in wf.domains:
            lines.append(f"  {_yid(dom.id.value)}: {_ydomain(dom)}")
    if wf.agents:
        lines.append("agents:")
        for a in wf.agents:
            pairs = []
            if isinstance(a.domain, Name):
                pairs.append(("domain", a.domain.value))
            elif isinstance(a.domain, Domain):
                pairs.append(("domain", _ydomain(a.domain)))
            if a.skills:
                pairs.append(("skills", _ylist(a.skills, _yid)))
            pairs += _ycommon(a, ("instances", "description"))
            if a.env:
                pairs.append(("env", _yenv(a.env)))
            lines.append(f"  {_yid(a.id.value)}:" + _ybody(pairs, "  "))
    if wf.tasks:
        lines.append("tasks:")
        for t in wf.tasks:
            pairs = []
            if t.agent is not None:
                pairs.append(("agent", _yid(t.agent.value)))
            if t.requires is not None:
                pairs.append(("requires", _ylist(t.requires, _yid)))
            if t.needs:
                pairs.append(("needs", _ylist(t.needs, _yid)))
            pairs += _ycommon(t, ("run",))
            if isinstance(t.domain, Name):
                pairs.append(("domain", t.domain.value))
            elif isinstance(t.domain, Domain):
                pairs.append(("domain", _ydomain(t.domain)))
            pairs += _ycommon(t, ("estimate", "timeout", "retries", "backoff", "rollback", "description"))
            if t.env:
                pairs.append(("env", _yenv(t.env)))
            lines.append(f"  {_yid(t.id.value)}:" + _ybody(pairs, "  "))
    if wf.gates:
        lines.append("gates:")
        for g in wf.gates:
            pairs = [("needs", _ylist(g.needs, _yid))] + _ycommon(
                g, ("run", "approve", "on_fail", "estimate", "timeout", "retries", "description"))
            lines.append(f"  {_yid(g.id.value)}:" + _ybody(pairs, "  "))
    return "\n".join(lines) + "\n"
