"""YAML front end: text -> raw tree (Scalar/Seq/Map with spans), safely and bounded.

Built from PyYAML's event stream of the C parser (`yaml.parse` with CSafeLoader):
nothing is ever constructed from a tag, marks give every node its position, and
aliases are ours to bound. A billion-laughs file costs a few hundred events here,
never an expansion: an alias shares the anchored subtree (the tree is frozen) and
only its size is charged to a budget.
"""
from __future__ import annotations

import yaml

from .diagnostics import Diagnostic, diag
from .raw import Map, Raw, Scalar, Seq
from .span import Span

try:
    _LOADER = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _LOADER = yaml.SafeLoader

MAX_DEPTH = 64
MAX_NODES = 2_000_000          # nodes in the tree, aliases counted at their full size
_STANDARD_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")}
_NULLS = {"", "~", "null", "Null", "NULL"}


class _Stop(Exception):
    def __init__(self, d: Diagnostic) -> None:
        self.diagnostic = d


def _span(file: str, start, end) -> Span:
    return Span(file, start.line + 1, start.column + 1, end.line + 1, end.column + 1)


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.anchors: dict[str, tuple[Raw, int]] = {}
        self.nodes = 0

    def fail(self, message: str, mark) -> None:
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise _Stop(diag("E100", message, Span.point(self.file, line, col)))

    def check_tag(self, event) -> None:
        tag = getattr(event, "tag", None)
        if tag and tag != "!" and tag not in _STANDARD_TAGS:
            self.fail(f"YAML tag '{tag}' is not allowed in a workflow (only plain data is)",
                      event.start_mark)

    def charge(self, n: int, mark) -> None:
        self.nodes += n
        if self.nodes > MAX_NODES:
            self.fail("the document is too large once its aliases are expanded (a 'billion laughs' "
                      "document?); refused", mark)

    def build(self, events) -> Raw | None:
        """Iterative: a stack of open collections, so depth never reaches Python's stack."""
        stack: list[list] = []      # [kind, start_mark, items, anchor, size]
        root: Raw | None = None
        docs = 0
        file = self.file
        ScalarEvent = yaml.ScalarEvent
        for ev in events:
            if type(ev) is ScalarEvent and ev.tag is None and not ev.anchor and stack:   # the common case
                sm, em = ev.start_mark, ev.end_mark
                value = ev.value
                if not ev.style and value in _NULLS:        # plain style is "" in the C parser
                    value = None
                node = Scalar(value, Span(file, sm.line + 1, sm.column + 1, em.line + 1, em.column + 1))
                self.nodes += 1
                stack[-1][2].append(node)
                stack[-1][4] += 1
                continue
            if isinstance(ev, yaml.DocumentStartEvent):
                docs += 1
                if docs > 1:
                    self.fail("a workflow file holds one YAML document; found a second one here",
                              ev.start_mark)
                continue
            if isinstance(ev, (yaml.StreamStartEvent, yaml.StreamEndEvent, yaml.DocumentEndEvent)):
                continue
            node = None
            size = 1
            if isinstance(ev, yaml.AliasEvent):
                found = self.anchors.get(ev.anchor)
                if found is None:
                    self.fail(f"unknown YAML alias '*{ev.anchor}'", ev.start_mark)
                node, size = found
                self.charge(size, ev.start_mark)
            elif isinstance(ev, yaml.ScalarEvent):
                self.check_tag(ev)
                plain = ev.implicit[0] and not ev.style
                value = None if plain and ev.value in _NULLS else ev.value
                if ev.tag == "tag:yaml.org,2002:null":
                    value = None
                node = Scalar(value, _span(self.file, ev.start_mark, ev.end_mark))
                self.charge(1, ev.start_mark)
                if ev.anchor:
                    self.anchors[ev.anchor] = (node, 1)
            elif isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                self.check_tag(ev)
                if len(stack) >= MAX_DEPTH:
                    self.fail(f"the document nests deeper than {MAX_DEPTH} levels; refused", ev.start_mark)
                kind = "seq" if isinstance(ev, yaml.SequenceStartEvent) else "map"
                stack.append([kind, ev.start_mark, [], ev.anchor, 1])
                self.charge(1, ev.start_mark)
                continue
            elif isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                kind, start, items, anchor, size = stack.pop()
                end = ev.end_mark
                if kind == "seq":
                    node = Seq(tuple(items), _span(self.file, start, end))
                else:
                    if len(items) % 2:
                        self.fail("a mapping key has no value", start)
                    entries = []
                    for k, v in zip(items[::2], items[1::2]):
                        if not isinstance(k, Scalar) or k.value is None:
                            self.fail("a mapping key must be a plain name", _mark_of(k, start))
                        entries.append((k, v))
                    first = entries[0][0].span if entries else None
                    span = _span(self.file, start, end)
                    if first is not None and (first.line, first.column) > (span.line, span.column):
                        span = Span(self.file, first.line, first.column, span.end_line, span.end_column)
                    node = Map(tuple(entries), span)
                if anchor:
                    self.anchors[anchor] = (node, size)
            else:
                continue
            if stack:
                stack[-1][2].append(node)
                stack[-1][4] += size
            else:
                root = node
        return root


class _Mark:
    def __init__(self, line: int, column: int) -> None:
        self.line, self.column = line, column


def _mark_of(node: Raw, fallback):
    return _Mark(node.span.line - 1, node.span.column - 1) if node is not None else fallback


def parse_yaml(text: str, file: str) -> tuple[Map | None, list[Diagnostic]]:
    b = _Builder(file)
    try:
        root = b.build(yaml.parse(text, Loader=_LOADER))
    except _Stop as stop:
        return None, [stop.diagnostic]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        return None, [diag("E100", f"YAML syntax error: {what}", Span.point(file, line, col))]
    except yaml.YAMLError as exc:
        return None, [diag("E100", f"YAML error: {exc}", Span.point(file, 1, 1))]
    except (RecursionError, MemoryError):
        return None, [diag("E100", "the document is too deeply nested or too large; refused",
                           Span.point(file, 1, 1))]
    if root is None:
        return None, [diag("E100", "empty workflow file (expected a mapping with 'workflow:')",
                           Span.point(file, 1, 1))]
    if not isinstance(root, Map):
        return None, [diag("E100", "a workflow file is a mapping of fields ('workflow:', 'tasks:', ...)",
                           Span.point(file, root.span.line, root.span.column))]
    return root, []
