"""Completion for the language server: field names where a field may start (those of
the mapping or block the cursor is in, with their descriptions), and ids where a
reference is written (`agent:`/`by` agents, `domain` domains, `needs` tasks and gates,
`requires` skills). Read from the text before the cursor, so it works in a document
that does not parse; the ids come from the last version that did.
"""
from __future__ import annotations

import re

from lanes.dsl.fields import AGENT, BACKOFF, DEFAULTS, DOMAIN, GATE, RUNNER, TASK, TOP, Group
from lanes.dsl.frozen import dataclass
from lanes.lsp_model import Analysis

# a YAML key path (the keys of the mappings the cursor is in, outermost first) -> its fields
_GROUP_AT = {("domains", "*"): DOMAIN, ("agents", "*"): AGENT, ("tasks", "*"): TASK, ("gates", "*"): GATE,
             ("defaults",): DEFAULTS, ("defaults", "backoff"): BACKOFF, ("tasks", "*", "backoff"): BACKOFF,
             ("agents", "*", "domain"): DOMAIN, ("tasks", "*", "domain"): DOMAIN,
             ("agents", "*", "runner"): RUNNER, (): TOP}
# a grammar block (the head word of each `{` the cursor is in) -> its fields
_BLOCK = {"domain": DOMAIN, "agent": AGENT, "task": TASK, "gate": GATE, "defaults": DEFAULTS, "backoff": BACKOFF,
          "runner": RUNNER}
_STATEMENTS = ("workflow", "description", "workdir", "workspace", "limits", "max_budget_usd", "defaults",
               "domain", "agent", "task", "gate")
_WORD = r"[A-Za-z0-9_-]*"
_KEY = re.compile(r"^(\s*)(?:-\s+)?([A-Za-z_][A-Za-z0-9_-]*)\s*:")


@dataclass(frozen=True)
class Item:
    label: str
    kind: str                          # "field" | "agent" | "domain" | "task" | "gate" | "skill"
    detail: str = ""


def complete(a: Analysis | None, text: str, line: int, column: int, form: str) -> list[Item]:
    """What may be written at the position (1-based line, column in characters)."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return []
    before = lines[line - 1][:column - 1]
    if form == "lanes":
        return _grammar(a, text, lines, line, before)
    return _yaml(a, lines, line, before)


def _ids(a: Analysis | None, what: str) -> list[Item]:
    if a is None:
        return []
    if what == "node":
        return [Item(i, "task") for i in a.ids("task")] + [Item(i, "gate") for i in a.ids("gate")]
    if what == "skill":
        return [Item(s, "skill") for s in a.skills()]
    return [Item(i, what) for i in a.ids(what)]


def _fields(group: Group) -> list[Item]:
    return [Item(f.name, "field", f.description) for f in group.fields]


# -- YAML ---------------------------------------------------------------------------------------

_YAML_VALUE = [
    (re.compile(rf"\bagent:\s*{_WORD}$"), "agent"),
    (re.compile(rf"\bdomain:\s*{_WORD}$"), "domain"),
    (re.compile(rf"\bneeds:\s*(?:\[\s*(?:{_WORD}\s*,\s*)*)?{_WORD}$"), "node"),
    (re.compile(rf"\brequires:\s*(?:\[\s*(?:{_WORD}\s*,\s*)*)?{_WORD}$"), "skill"),
    (re.compile(rf"\bskills:\s*(?:\[\s*(?:{_WORD}\s*,\s*)*)?{_WORD}$"), "skill"),
]
_LIST_ITEM = re.compile(rf"^(\s*)-\s+{_WORD}$")


def _yaml(a: Analysis | None, lines: list[str], line: int, before: str) -> list[Item]:
    for pattern, what in _YAML_VALUE:
        if pattern.search(before):
            return _ids(a, what)
    item = _LIST_ITEM.match(before)
    if item:                                         # `- x` under `needs:` (a block list)
        path = _key_path(lines, line, len(item.group(1)) + 1)
        listed = {"needs": "node", "requires": "skill", "skills": "skill"}.get(path[-1] if path else "")
        return _ids(a, listed) if listed else []
    flow = before.rfind("{")
    if flow >= 0 and "}" not in before[flow:] and re.fullmatch(rf"(?:.*,)?\s*{_WORD}", before[flow + 1:]):
        own = _KEY.match(before[:flow])              # `  api: {agent: a, ru`
        if own is None:
            return []
        path = (*_key_path(lines, line, len(own.group(1))), own.group(2))
        return _fields_at(path)
    if re.fullmatch(rf"\s*{_WORD}", before):
        return _fields_at(_key_path(lines, line, len(before) - len(before.lstrip())))
    return []


def _fields_at(path: tuple[str, ...]) -> list[Item]:
    generic = tuple("*" if i % 2 and path[0] in ("domains", "agents", "tasks", "gates") else k
                    for i, k in enumerate(path))
    group = _GROUP_AT.get(generic)
    return _fields(group) if group is not None else []


def _key_path(lines: list[str], line: int, indent: int) -> tuple[str, ...]:
    """The keys of the block mappings that hold a line indented by `indent`."""
    path: list[str] = []
    for text in reversed(lines[:line - 1]):
        m = _KEY.match(text)
        if m is None:
            continue
        depth = len(m.group(1))
        if depth < indent:
            path.append(m.group(2))
            indent = depth
            if depth == 0:
                break
    return tuple(reversed(path))


# -- grammar ------------------------------------------------------------------------------------

_GRAMMAR_VALUE = [
    (re.compile(rf"\bby\s+{_WORD}$"), "agent"),
    (re.compile(rf"\bdomain\s+{_WORD}$"), "domain"),
    (re.compile(rf"\bneeds\s+(?:{_WORD}\s*,\s*)*{_WORD}$"), "node"),
    (re.compile(rf"\brequires\s+(?:{_WORD}\s*,\s*)*{_WORD}$"), "skill"),
    (re.compile(rf"\bskills\s+(?:{_WORD}\s*,\s*)*{_WORD}$"), "skill"),
]


def _grammar(a: Analysis | None, text: str, lines: list[str], line: int, before: str) -> list[Item]:
    if _in_string(before):
        return []
    for pattern, what in _GRAMMAR_VALUE:
        m = pattern.search(before)
        if m and not (what == "domain" and re.match(r"\s*domain\s", before) and _open_blocks(lines, line) == []):
            return _ids(a, what)
    if not re.search(rf"(?:^|[{{;])\s*{_WORD}$", before):
        return []
    blocks = _open_blocks(lines, line, before)
    if not blocks:
        return [Item(s, "field", _statement_doc(s)) for s in _STATEMENTS]
    group = _BLOCK.get(blocks[-1])
    return _fields(group) if group is not None else []


def _statement_doc(word: str) -> str:
    for f in TOP.fields:
        if f.name == word or f.name == word + "s":
            return f.description
    return ""


def _in_string(before: str) -> bool:
    return before.count('"') % 2 == 1


def _open_blocks(lines: list[str], line: int, before: str | None = None) -> list[str]:
    """The head word of each `{` still open before the cursor, outermost first."""
    text = "\n".join([*lines[:line - 1], before if before is not None else ""])
    text = re.sub(r'"""(?:[^"]|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|#[^\n]*', '""', text)
    heads: list[str] = []
    statement_start = 0
    for i, ch in enumerate(text):
        if ch == "{":
            head = re.match(r"\s*([A-Za-z_]+)", text[statement_start:i])
            heads.append(head.group(1) if head else "")
            statement_start = i + 1
        elif ch == "}":
            if heads:
                heads.pop()
            statement_start = i + 1
        elif ch in ";\n":
            statement_start = i + 1
    return heads
