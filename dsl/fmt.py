"""AST -> canonical text in either form (`lanes fmt`).

What is printed is decided once per node (`_fields`: the fields the author wrote,
in a fixed order); how it is printed is the business of the two writers below.
Parsing the output builds an AST equal to the input (spans aside), so a round
trip through either form changes nothing, and formatting is idempotent.

Comments are not part of the AST: comments.py attaches them to slots (`Notes`: the
workflow's fields, each item and each field of an item, by key), and the writers print
each slot's comments around it, the same way in both forms: `leading` on their own
lines before it, `trailing` at the end of its line (of a block, at its head line),
`footer` inside a block after its last field. A block or mapping that holds a comment
is written over several lines, and a task's or gate's head fields (`by`, `needs`, ...)
that hold one are written in its block (`agent backend  # why`), where a line is theirs.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
import math
import re
from typing import TYPE_CHECKING, NamedTuple

from lark.exceptions import LarkError
import yaml

from . import fields as declared
from .ast import (
    Agent,
    Backoff,
    Command,
    Domain,
    Duration,
    EnvVar,
    Flag,
    ForEach,
    Gate,
    Limit,
    Name,
    Number,
    Task,
    Text,
    Workflow,
)
from .comments import NONE, Attached, Key, Notes, comments_of, read_notes, unreadable_comment
from .durations import decimal as _decimal, duration
from .loader import parse_source
from .source import Source

if TYPE_CHECKING:
    from typing_extensions import TypeIs

WIDTH = 100                  # a statement or flow mapping longer than this is broken over lines
ALIGN = 24                   # ids up to this long are padded so that domain and agent blocks line up

# -- scalars -------------------------------------------------------------------------------------


def number(n: Number) -> str:
    v = n.value
    if isinstance(v, int):
        return str(v)
    return str(int(v)) if math.isfinite(v) and v.is_integer() else _decimal(v)


def _printable(ch: str) -> bool:
    """Characters both forms may hold literally inside quotes (YAML's printable set, less
    the line separators it would fold)."""
    o = ord(ch)
    return (0x20 <= o < 0x7F or 0xA0 <= o < 0xD800 and o not in (0x2028, 0x2029)
            or 0xE000 <= o <= 0xFFFD and o != 0xFEFF or o >= 0x10000)


_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def quote(text: str) -> str:
    """A double-quoted string that both forms read back as `text` (JSON-style escapes)."""
    out = []
    for ch in text:
        if ch in _SHORT:
            out.append(_SHORT[ch])
        elif _printable(ch):
            out.append(ch)
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _verbatim_lines(text: str) -> bool:
    """Several lines that a verbatim block (`\"\"\"` or YAML `|`) can hold exactly."""
    return "\n" in text and all(ch in "\n\t" or _printable(ch) for ch in text)


# -- what is printed: the fields of each node, in order -----------------------------------------

Words = tuple[Name, ...] | tuple[Text, ...]                        # skills, needs, writes ...
Value = (Name | Text | Number | Duration | Flag | Domain | Backoff | Command | ForEach | Words
         | tuple[EnvVar, ...] | tuple[Limit, ...])
Fields = list[tuple[str, Value]]


def _fields(node: object, names: Iterable[str]) -> Fields:
    """(field, value) for the fields that are set; an empty env or list is left out,
    except `requires`, where an empty list differs from none."""
    out: Fields = []
    for name in names:
        v = getattr(node, name)
        if v is None or (v == () and name != "requires"):
            continue
        out.append((name, v))
    return out


def _is_env(v: Value) -> TypeIs[tuple[EnvVar, ...]]:
    """An `env` field (no other field holds EnvVars, and `_fields` leaves an empty one out)."""
    return isinstance(v, tuple) and bool(v) and isinstance(v[0], EnvVar)


def _is_limits(v: Value) -> TypeIs[tuple[Limit, ...]]:
    return isinstance(v, tuple) and bool(v) and isinstance(v[0], Limit)


def _id(node: Domain | Agent | Task | Gate) -> str:
    """The id of a declaration (only an inline domain has none, and it is not declared)."""
    return "" if node.id is None else node.id.value


# the order of fields is their order in fields.py; a task's writes/reads are its inline
# domain, written where `domain` goes
_HEAD = ("workflow", "description")                   # `workflow ID "description"` in the grammar form
_SECTIONS = ("defaults", "domains", "agents", "tasks", "gates")
TOP = tuple(n for n in declared.TOP.names if n not in (*_HEAD, *_SECTIONS))
DEFAULTS = declared.DEFAULTS.names
DOMAIN = declared.DOMAIN.names
BACKOFF = declared.BACKOFF.names
AGENT = declared.AGENT.names
TASK_HEAD = ("for_each", "agent", "requires", "needs")  # `task ID for K in I by A requires S needs N`
TASK_BODY = tuple(n for n in declared.TASK.names if n not in (*TASK_HEAD, *DOMAIN))
GATE_BODY = tuple(n for n in declared.GATE.names if n != "needs")


# -- the grammar form ------------------------------------------------------------------------------

def _lanes_text(text: str) -> str:
    if _verbatim_lines(text) and '"""' not in text and not text.endswith('"') and "\r" not in text:
        return '"""\n' + text + '"""'
    return quote(text)


def _flag(v: Flag) -> str:
    return "true" if v.value else "false"


def _lanes_value(v: Name | Text | Number | Duration | Flag | Words) -> str:
    if isinstance(v, Name):                           # a template's need may hold `{KEY}`
        return v.value if ID_START.match(v.value) else quote(v.value)
    if isinstance(v, Flag):
        return _flag(v)
    if isinstance(v, Text):
        return _lanes_text(v.value)
    if isinstance(v, Duration):
        return duration(v.seconds)
    if isinstance(v, Number):
        return number(v)
    return ", ".join(_lanes_value(i) for i in v)       # a list


def _lanes_statements(fields: Fields) -> list[tuple[str, str]]:
    """(field, statement) in order; an inline domain is a statement per writes/reads."""
    out = []
    for name, v in fields:
        if isinstance(v, Domain):
            body: Fields = [(k, getattr(v, k)) for k in DOMAIN if getattr(v, k)]
            out += [(name, s) for _, s in _lanes_statements(body)] if body else [(name, "domain {}")]
        elif isinstance(v, Backoff):
            out.append((name, _lanes_backoff(v)))
        elif isinstance(v, Command):
            out.append((name, "runner { " + (f"command {_lanes_text(v.command.value)}" if v.command else "")
                        + " }"))
        elif isinstance(v, ForEach):                      # (a task writes it in its head)
            out.append((name, "for_each { " + "; ".join(f"{a.key.value} " + ", ".join(i.value for i in a.items)
                                                        for a in v.axes) + " }"))
        elif _is_limits(v):
            out.append((name, "limits { " + "; ".join(f"{x.runner.value} {number(x.count)}" for x in v) + " }"))
        elif _is_env(v):
            out.append((name, "env { " + "; ".join(f"{e.name.value} {_lanes_text(e.value.value)}" for e in v)
                        + " }"))
        elif v == ():
            out.append((name, name))                      # a bare field is an empty list
        else:
            out.append((name, f"{name} {_lanes_value(v)}"))
    return out


def _lanes_backoff(b: Backoff) -> str:
    if b.initial is None:
        parts = [f"{k} {_lanes_value(getattr(b, k))}" for k in ("factor", "max") if getattr(b, k) is not None]
        return "backoff { " + "; ".join(parts) + " }" if parts else "backoff {}"
    out = f"backoff {duration(b.initial.seconds)}"
    if b.factor is not None:
        out += f" * {number(b.factor)}"
    if b.max is not None:
        out += f" max {duration(b.max.seconds)}"
    return out


# -- comments, in either form ----------------------------------------------------------------------

class _Notes:
    """The comments of each slot (comments.py); none when the text had none."""

    def __init__(self, notes: Notes | None) -> None:
        self.notes = notes or {}

    def __call__(self, *key: str | int) -> Attached:
        return self.notes.get(key, NONE)

    def of(self, *node: str | int) -> Of:
        """The comments of the fields of a node, by field name."""
        return lambda name: self.notes.get((*node, name), NONE)


def _lead(note: Attached, indent: str) -> list[str]:
    return [indent + c for c in note.leading]


def _after(note: Attached) -> str:
    return f"  {note.trailing}" if note.trailing else ""


def _first_line(text: str, note: Attached) -> str:
    """The trailing comment at the end of the first line (of a block, its head)."""
    if not note.trailing:
        return text
    head, nl, rest = text.partition("\n")
    return head + _after(note) + nl + rest


def _with(note: Attached, indent: str, text: str) -> list[str]:
    """Leading comments, then the statement with its trailing comment at its end (the end
    of its last line: a statement's first lines may be inside a verbatim string)."""
    return [*_lead(note, indent), text + _after(note)]


# -- the grammar form, continued ---------------------------------------------------------------------

Statements = list[tuple[str, str]]
Of = Callable[[str], Attached]                    # the comments of a field of the node at hand


def _lanes_block(head: str, statements: Statements, note: Attached = NONE, of: Of = lambda _: NONE) -> str:
    """A block on one line when it fits and holds no comment, else one statement a line
    (the block's trailing comment after its '{'). The block's leading comments are the
    caller's to write."""
    commented = bool(note.footer) or any(of(name) for name, _ in statements)
    if not statements:
        return head.rstrip() + _after(note)
    one = f"{head} {{ " + "; ".join(s for _, s in statements) + " }"
    if len(one) <= WIDTH and "\n" not in one and not commented:
        return one + _after(note)
    lines = [head.rstrip() + " {" + _after(note)]
    for i, (name, s) in enumerate(statements):
        first = i == 0 or statements[i - 1][0] != name       # an inline domain: several statements
        last = i + 1 == len(statements) or statements[i + 1][0] != name
        field = of(name)
        if first:
            lines += _lead(field, "  ")
        lines.append(f"  {s}" + (_after(field) if last else ""))
    lines += _lead(Attached(note.footer), "  ")
    return "\n".join(lines) + "\n}"


def _pad(ids: Iterable[str]) -> int:
    return min(max((len(i) for i in ids), default=0), ALIGN)


def to_lanes(wf: Workflow, notes: Notes | None = None) -> str:
    """The grammar form; with the comments of `notes`, attached to the same slots."""
    n = _Notes(notes)
    head = "workflow" + (f" {wf.id.value}" if wf.id else "")
    own, desc = n("workflow"), n("description")
    if wf.description is None:
        first = _with(own, "", head)
    elif own.trailing or desc.leading:            # each comment on its own statement's line
        first = _with(own, "", head) + _with(desc, "", f"description {_lanes_text(wf.description.value)}")
    else:
        first = _lead(own, "") + _with(desc, "", f"{head} {_lanes_text(wf.description.value)}")
    sections = [first]
    for name, s in _lanes_statements(_fields(wf, TOP)):
        sections[0] += _with(n(name), "", s)
    if wf.defaults is not None:
        stmts = _lanes_statements(_fields(wf.defaults, DEFAULTS))
        note = n("defaults")
        sections[0] += _lead(note, "") + [_lanes_block("defaults", stmts, note, n.of("defaults"))
                                          if stmts else "defaults {}" + _after(note)]
    w = _pad(_id(d) for d in wf.domains)
    sections.append(["\n".join(_lead(n("domains", i), "") + [
        _lanes_block(f"domain {_id(d):<{w}}", _lanes_statements(_fields(d, DOMAIN)), n("domains", i),
                     n.of("domains", i))]) for i, d in enumerate(wf.domains)])
    w = _pad(a.id.value for a in wf.agents)
    sections.append(["\n".join(_lead(n("agents", i), "") + [
        _lanes_block(f"agent {a.id.value:<{w}}", _lanes_statements(_fields(a, AGENT)), n("agents", i),
                     n.of("agents", i))]) for i, a in enumerate(wf.agents)])
    sections.append(["\n".join(_lead(n("tasks", i), "") + [_lanes_task(t, n, i)]) for i, t in enumerate(wf.tasks)])
    sections.append(["\n".join(_lead(n("gates", i), "") + [_lanes_gate(g, n, i)]) for i, g in enumerate(wf.gates)])
    text = "\n\n".join("\n".join(s) for s in sections if s) + "\n"
    return text + "".join(c + "\n" for c in n().footer)


def _head_commented(n: _Notes, section: str, i: int, names: tuple[str, ...]) -> bool:
    return any(n(section, i, name) for name in names)


def _lanes_task(t: Task, n: _Notes, i: int) -> str:
    head = f"task {t.id.value}"
    body = _node_fields(t, TASK_BODY)
    if _head_commented(n, "tasks", i, TASK_HEAD):
        body = _fields(t, TASK_HEAD) + body              # in the block, a line each for their comments
    else:
        if t.for_each is not None:
            # items are id fragments, plain words of the grammar
            head += "".join(f" for {a.key.value} in " + ", ".join(item.value for item in a.items)
                            for a in t.for_each.axes)
        if t.agent is not None:
            head += f" by {t.agent.value}"
        if t.requires:
            head += f" requires {_lanes_value(t.requires)}"
        elif t.requires is not None:
            body.insert(0, ("requires", ()))              # no skills: only a block can say it
        if t.needs:
            head += f" needs {_lanes_value(t.needs)}"
    return _lanes_block(head, _lanes_statements(body), n("tasks", i), n.of("tasks", i))


def _lanes_gate(g: Gate, n: _Notes, i: int) -> str:
    head = f"gate {g.id.value}"
    body = _fields(g, GATE_BODY)
    if _head_commented(n, "gates", i, ("needs",)):
        body = _fields(g, ("needs",)) + body
    elif g.needs:
        head += f" needs {_lanes_value(g.needs)}"
    return _lanes_block(head, _lanes_statements(body), n("gates", i), n.of("gates", i))


# -- the YAML form ----------------------------------------------------------------------------------

ID_START = re.compile(declared.ID_PATTERN + r"\Z")
_YAML_WORDS = {"null", "true", "false", "yes", "no", "on", "off", "y", "n", "~"}


def _yaml_id(value: str) -> str:
    """Ids are plain; those a YAML reader would take for null or a boolean are quoted."""
    return quote(value) if value.lower() in _YAML_WORDS or not ID_START.match(value) else value


def _yaml_value(v: Value, indent: str | None = None) -> str:
    """A value; `indent` is that of its key in block style, None inside a flow collection."""
    if isinstance(v, Name):
        return _yaml_id(v.value)
    if isinstance(v, Flag):
        return _flag(v)
    if isinstance(v, Text):
        return (indent is not None and _yaml_literal(v.value, indent)) or quote(v.value)
    if isinstance(v, Duration):
        return duration(v.seconds)
    if isinstance(v, Number):
        return number(v)
    if isinstance(v, Domain):
        return _flow([(k, getattr(v, k)) for k in DOMAIN if getattr(v, k)])
    if isinstance(v, Backoff):
        return _flow([(k, getattr(v, k)) for k in BACKOFF if getattr(v, k) is not None])
    if isinstance(v, Command):
        return _flow([] if v.command is None else [("command", v.command)])
    if isinstance(v, ForEach):
        return "{" + ", ".join(f"{a.key.value}: [" + ", ".join(_yaml_item(i.value) for i in a.items) + "]"
                               for a in v.axes) + "}"
    if _is_limits(v):
        return "{" + ", ".join(f"{x.runner.value}: {number(x.count)}" for x in v) + "}"
    if _is_env(v):
        return "{" + ", ".join(f"{_yaml_id(e.name.value)}: {quote(e.value.value)}" for e in v) + "}"
    return "[" + ", ".join(_yaml_value(i) for i in v) + "]"


def _yaml_item(value: str) -> str:
    """An item of a for_each (an id fragment): plain, unless YAML would read it as something else
    than that text (`null`, `true`, `1e3`...)."""
    return value if value.isdigit() or (ID_START.match(value) and value.lower() not in _YAML_WORDS) \
        else quote(value)


def _yaml_literal(text: str, indent: str) -> str | None:
    """A literal block (`|-`) for a multi-line text it can hold exactly, else None."""
    if not _verbatim_lines(text) or text.endswith("\n\n") or not text.strip():
        return None
    lines = text[:-1].split("\n") if text.endswith("\n") else text.split("\n")
    # an explicit indentation when the first line's own blanks would be taken for indentation
    marker = "|" + ("2" if text[0] in " \n" or any(not ln.strip() for ln in lines) else "")
    marker += "" if text.endswith("\n") else "-"
    pad = indent + "  "
    return marker + "".join(f"\n{pad}{ln}" if ln else "\n" for ln in lines)


def _flow(pairs: Fields) -> str:
    return "{" + ", ".join(f"{k}: {_yaml_value(v)}" for k, v in pairs) + "}"


def _yaml_entry(key: str, pairs: Fields, indent: str, pad: int = 0, note: Attached = NONE,
                of: Of = lambda _: NONE) -> str:
    """`key: {a: 1, b: 2}` when it fits on a line and holds no multi-line text and no comment,
    else one field per line (where a multi-line text is a literal block). The entry's
    leading comments are the caller's to write."""
    one = f"{indent}{key + ':':<{pad + 1}} " + _flow(pairs)
    if len(one) <= WIDTH and not any(isinstance(v, Text) and _yaml_literal(v.value, "") for _, v in pairs) \
            and not note.footer and not any(of(k) for k, _ in pairs):
        return one + _after(note)
    inner = indent + "  "
    lines = [f"{indent}{key}:" + _after(note)]
    for k, v in pairs:
        field = of(k)
        lines += _lead(field, inner)
        lines.append(_first_line(f"{inner}{k}: {_yaml_value(v, inner)}", field))
    lines += _lead(Attached(note.footer), inner)
    return "\n".join(lines)


def to_yaml(wf: Workflow, notes: Notes | None = None) -> str:
    """The YAML form; with the comments of `notes`, attached to the same slots."""
    n = _Notes(notes)
    head = _lead(n("workflow"), "") + [_first_line(f"workflow: {_yaml_id(wf.id.value)}" if wf.id else "workflow:",
                                                   n("workflow"))]
    if wf.description is not None:
        head += _lead(n("description"), "") + [_first_line(f"description: {_yaml_value(wf.description, '')}",
                                                           n("description"))]
    for k, v in _fields(wf, TOP):
        head += _lead(n(k), "") + [_first_line(f"{k}: {_yaml_value(v, '')}", n(k))]
    if wf.defaults is not None:
        head += _lead(n("defaults"), "") + [_yaml_entry("defaults", _fields(wf.defaults, DEFAULTS), "", 0,
                                                        n("defaults"), n.of("defaults"))]
    sections = [head] + [s for s in (_yaml_section("domains", wf.domains, DOMAIN, n),
                                     _yaml_section("agents", wf.agents, AGENT, n),
                                     _yaml_section("tasks", wf.tasks, TASK_HEAD + TASK_BODY, n),
                                     _yaml_section("gates", wf.gates, ("needs",) + GATE_BODY, n)) if s]
    return "\n\n".join("\n".join(s) for s in sections) + "\n" + "".join(c + "\n" for c in n().footer)


def _yaml_section(title: str, nodes: Sequence[Domain | Agent | Task | Gate],
                  names: tuple[str, ...], n: _Notes) -> list[str]:
    """`domains:` and so on with an entry per node; nothing when there are no nodes. The
    first node's leading comments are written before the title, which has none of its own
    (so that the same comments are before `tasks:` and before the first `task` line)."""
    if not nodes:
        return []
    keys = [_yaml_id(_id(node)) for node in nodes]
    pad = _pad(keys)
    out = _lead(n(title, 0), "") + [f"{title}:"]
    for i, (k, node) in enumerate(zip(keys, nodes)):
        out += _lead(n(title, i), "  ") if i else []
        out.append(_yaml_entry(k, _node_fields(node, names), "  ", pad, n(title, i),
                               n.of(title, i)))
    return out


def _node_fields(node: Domain | Agent | Task | Gate, names: tuple[str, ...]) -> Fields:
    """The fields of a node as both forms write them: a task's inline domain is its own
    `writes`/`reads` fields (an empty one stays `domain: {}`, which differs from none)."""
    fields = _fields(node, names)
    if not isinstance(node, Task) or not isinstance(node.domain, Domain) or node.domain.id is not None:
        return fields
    inline: Fields = [(k, getattr(node.domain, k)) for k in DOMAIN if getattr(node.domain, k)]
    if not inline:
        return fields
    at = [name for name, _ in fields].index("domain")
    return fields[:at] + inline + fields[at + 1:]



# -- both ---------------------------------------------------------------------------------------------

def write(wf: Workflow, form: str, notes: Notes | None = None) -> str:
    """The canonical text of `wf` in `form` ('yaml' or 'lanes'), with the comments of `notes`."""
    return to_yaml(wf, notes) if form == "yaml" else to_lanes(wf, notes)


def slots(wf: Workflow) -> set[Key]:
    """The keys of what the writers print (comments.py attaches comments to these)."""
    out: set[Key] = {("workflow",)}
    if wf.description is not None:
        out.add(("description",))
    out |= {(k,) for k, _ in _fields(wf, TOP)}
    if wf.defaults is not None:
        out |= {("defaults",)} | {("defaults", k) for k, _ in _fields(wf.defaults, DEFAULTS)}
    groups: tuple[tuple[str, Sequence[Domain | Agent | Task | Gate], tuple[str, ...]], ...] = (
        ("domains", wf.domains, DOMAIN), ("agents", wf.agents, AGENT),
        ("tasks", wf.tasks, TASK_HEAD + TASK_BODY), ("gates", wf.gates, ("needs",) + GATE_BODY))
    for title, nodes, names in groups:
        for i, node in enumerate(nodes):
            out |= {(title, i)} | {(title, i, k) for k, _ in _node_fields(node, names)}
    return out


class Refusal(NamedTuple):
    """Why a text is not formatted, at the place of the comment concerned (1, 1 otherwise)."""

    line: int
    column: int
    why: str


def reformat(text: str, file: str, wf: Workflow, own: str, form: str) -> str | Refusal:
    """The canonical text of `wf` (built from `text`, a file in the form `own`) in `form`,
    with every comment of `text`; read back before it is returned: it must build `wf` again
    and hold the same comments (the same multiset of texts), or it is refused."""
    read = read_notes(text, file, own, slots(wf))
    if isinstance(read, str):
        return Refusal(1, 1, read)
    notes, comments = read
    for c in comments:
        why = unreadable_comment(c.text, form)
        if why:
            return Refusal(c.line, c.column, f"this comment cannot be written in the {form} form: {why}")
    out = write(wf, form, notes)
    again, diags = parse_source(Source(f"formatted.{form}", out.encode("utf-8"), out))
    if again is None or diags or again != wf:
        return Refusal(1, 1, "lanes fmt would change the workflow (a bug: please report it)")
    try:
        kept = Counter(c.text for c in comments_of(out, form))
    except (yaml.YAMLError, LarkError) as exc:
        return Refusal(1, 1, f"the formatted text does not read back ({exc}; a bug: please report it)")
    given = Counter(c.text for c in comments)
    if kept != given:
        lost = next(iter((given - kept) or (kept - given)))
        at = next((c for c in comments if c.text == lost), None)
        return Refusal(at.line if at else 1, at.column if at else 1,
                       "lanes fmt would not keep this comment as it is (a bug: please report it)")
    return out
