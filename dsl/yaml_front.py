"""YAML front end: text -> raw tree (Scalar/Seq/Map with spans), safely and bounded.

The tree is built from PyYAML's event stream (`yaml.parse`, libyaml's C parser when
present), not from `yaml.load`: nothing is ever constructed from a tag, and every event
carries the marks that become spans. Building the tree ourselves also puts the bounds
that make an untrusted file safe to read in one place:

- nesting: an explicit stack, refused past MAX_DEPTH levels (a 100k-deep `[[[[` stops
  at level 65; both parsers are state machines that never recurse), whatever limit of
  its own the installed libyaml has (see `_tree`);
- aliases: an alias shares the anchored subtree (the tree is frozen) and only the
  subtree's expanded size is charged to the MAX_NODES budget, so a "billion laughs"
  file costs a few dozen events and is refused at the alias that crosses the budget;
- tags: only the standard scalar and collection tags;
- one document, whose top level is a mapping.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
import gc
from typing import Protocol

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    Event,
    MappingStartEvent,
    ScalarEvent,
)
from yaml.reader import ReaderError
from yaml.scanner import ScannerError

from .diagnostics import Diagnostic, diag
from .raw import Map, Raw, Scalar, Seq
from .span import Span

# PyYAML may be built without libyaml
_LOADER: type[yaml.CSafeLoader | yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_DEPTH = 64                 # collections inside collections, aliases counted at their height
# Values in the tree, aliases counted at their expanded size. Workflows take 6 to 9 bytes
# a value (100k tasks: about 1.3M values), so any real file under the 16 MB limit fits;
# a file of `[x,x,x,...` would otherwise make 8M values, 2.4 GB and 15 s.
MAX_NODES = 4_000_000

_YAML_TAG = "tag:yaml.org,2002:"
_NULL_TAG = _YAML_TAG + "null"
_ALLOWED_TAGS = frozenset({"!"} | {_YAML_TAG + t for t in ("str", "int", "float", "bool", "null",
                                                            "map", "seq")})
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_PLAIN = (None, "")            # a plain scalar's style: None from PyYAML's parser, '' from libyaml
_MERGE = "<<"                  # YAML 1.1 merge key, as in `<<: *defaults`
_SPECIAL = _NULLS | {_MERGE}   # plain scalars that _special_value looks at

_EMPTY = "empty workflow file (expected a mapping with 'workflow:')"
_NOT_A_MAPPING = ("a workflow file is a mapping of fields ('workflow:', 'tasks:', ...), "
                  "not a single value or a list")
_KEY_NOT_NAME = "a mapping key must be a single name, not "
_TOO_MANY = f"the document holds more than {MAX_NODES:,} values; refused"
# A node or a span made as the tuple it is (raw.py, span.py), without a call of its __new__:
# a third of a scalar's cost
_new_node = tuple.__new__


class _Mark(Protocol):
    """Where an event starts or ends: PyYAML's Mark or libyaml's, 0-based."""

    @property
    def line(self) -> int: ...
    @property
    def column(self) -> int: ...
    @property
    def index(self) -> int: ...


class _Refused(Exception):
    """Stops the build at the first bound crossed; never leaves this module."""

    def __init__(self, message: str, mark: _Mark | None) -> None:
        super().__init__(message)
        self.message, self.mark = message, mark


class _Open:
    """A collection whose end event has not come yet."""

    __slots__ = ("aliased", "anchor", "extra", "flow", "height", "is_map", "items", "merge_keys", "start")

    def __init__(self, ev: CollectionStartEvent, is_map: bool) -> None:
        self.is_map = is_map
        self.start: _Mark | None = ev.start_mark
        self.anchor = ev.anchor
        self.flow = bool(ev.flow_style)
        self.items: list[Raw] = []
        # values in the expanded subtree beyond one per item and itself (what collections
        # and aliases among the items hold)
        self.extra = 0
        self.height = 1          # collections on the longest path down, itself included
        # item index -> the marks of an alias written there (an item's own span says where
        # any other item starts and ends)
        self.aliased: dict[int, tuple[_Mark | None, _Mark | None]] = {}
        self.merge_keys: list[tuple[int, _Mark | None]] = []   # (item index, mark) of plain `<<` keys


def _tag_name(tag: str) -> str:
    return "!!" + tag[len(_YAML_TAG):] if tag.startswith(_YAML_TAG) else tag


def _check_tag(ev: ScalarEvent | CollectionStartEvent) -> None:
    if ev.tag is not None and ev.tag not in _ALLOWED_TAGS:
        raise _Refused(f"YAML tag '{_tag_name(ev.tag)}' is not allowed in a workflow file "
                       "(only plain strings, numbers, lists and mappings are)", ev.start_mark)


def _close(top: _Open, end_ev: CollectionEndEvent, file: str) -> Raw:
    """The finished node; its span is where its text starts and ends."""
    items = top.items
    if top.flow or not items:
        start, end = top.start, end_ev.end_mark
        assert start is not None and end is not None      # both parsers mark every event
        span = _new_node(Span, (file, start.line + 1, start.column + 1, end.line + 1, end.column + 1))
    else:
        # a block collection ends at its last item (its end event sits on the next line),
        # and a block mapping starts at its first key (not at an anchor or tag before it)
        if not top.is_map:
            assert top.start is not None
            line, column = top.start.line + 1, top.start.column + 1
        elif 0 in top.aliased:
            line, column = _one_based(top.aliased[0][0])
        else:
            line, column = items[0].span.line, items[0].span.column
        last = len(items) - 1
        if last in top.aliased:
            end_line, end_column = _one_based(top.aliased[last][1])
        else:
            end_line, end_column = items[last].span.end_line, items[last].span.end_column
        span = _new_node(Span, (file, line, column, end_line, end_column))
    if not top.is_map:
        return _new_node(Seq, (tuple(items), span))
    # keys are scalars: _build refuses a collection or an alias to one in a key's place
    entries: tuple[tuple[Scalar, Raw], ...] = tuple(zip(items[::2], items[1::2]))  # type: ignore[arg-type]
    if top.merge_keys:
        entries = _merge(entries, top.merge_keys)
    return _new_node(Map, (entries, span))


def _one_based(mark: _Mark | None) -> tuple[int, int]:
    assert mark is not None
    return mark.line + 1, mark.column + 1


def _merge(entries: tuple[tuple[Scalar, Raw], ...],
           merge_keys: list[tuple[int, _Mark | None]]) -> tuple[tuple[Scalar, Raw], ...]:
    """YAML merge keys: `<<: *base` (or a list of bases) brings in the entries of the base
    that the mapping does not write itself; of several bases, the earlier one wins."""
    at = {index // 2: mark for index, mark in merge_keys}
    own = tuple(e for i, e in enumerate(entries) if i not in at)
    seen = {k.value for k, _ in own}
    merged: list[tuple[Scalar, Raw]] = []
    for i, mark in at.items():
        value = entries[i][1]
        for base in value.items if isinstance(value, Seq) else (value,):
            if not isinstance(base, Map):
                raise _Refused("a merge key '<<' takes a mapping or a list of mappings", mark)
            for k, v in base.entries:
                if k.value not in seen:
                    seen.add(k.value)
                    merged.append((k, v))
    return (*merged, *own)


def _special_value(ev: ScalarEvent, top: _Open) -> str | None:
    """The value of a tagged scalar, a null or a merge key (the rare scalars)."""
    value = ev.value
    # keys stay text: a task may be called `null`
    is_key = top.is_map and not len(top.items) % 2
    if ev.tag is not None:
        _check_tag(ev)
        return None if ev.tag == _NULL_TAG and not is_key else value
    if ev.style not in _PLAIN:
        return value
    if is_key:
        if value == _MERGE:
            top.merge_keys.append((len(top.items), ev.start_mark))
        return value
    return None if value in _NULLS else value


def _build(events: Iterable[Event], file: str) -> Map | None:
    # One pass, with the commonest event (a plain scalar inside a collection) first and
    # cheapest: its node is made and appended, and nothing else about it is kept (the
    # collection's size and end follow from its items when it closes).
    stack: list[_Open] = []
    top: _Open | None = None                          # stack[-1]
    items: list[Raw] = []                             # top.items
    anchors: dict[str, tuple[Raw, int, int]] = {}    # name -> (node, size, height)
    nodes = 0                                         # values so far, aliases expanded
    documents = 0
    root: Map | None = None
    for ev in events:
        if isinstance(ev, ScalarEvent):
            if top is None:
                if ev.style in _PLAIN and ev.tag is None and ev.value in _NULLS:
                    raise _Refused(_EMPTY, None)      # `---` or `~` alone
                raise _Refused(_NOT_A_MAPPING, ev.start_mark)
            value: str | None = ev.value
            if ev.tag is not None or value in _SPECIAL:
                value = _special_value(ev, top)
            start, end = ev.start_mark, ev.end_mark
            assert start is not None and end is not None      # both parsers mark every event
            span = _new_node(Span, (file, start.line + 1, start.column + 1, end.line + 1, end.column + 1))
            node: Raw = _new_node(Scalar, (value, span))
            if ev.anchor:
                anchors[ev.anchor] = (node, 1, 0)
            nodes += 1
            if nodes > MAX_NODES:
                raise _Refused(_TOO_MANY, start)
            items.append(node)
            continue
        if isinstance(ev, CollectionStartEvent):
            is_map = isinstance(ev, MappingStartEvent)
            if ev.tag is not None:
                _check_tag(ev)
            if top is None:
                if not is_map:
                    raise _Refused(_NOT_A_MAPPING, ev.start_mark)
            elif top.is_map and not len(items) % 2:
                what = "a mapping" if is_map else "a list"
                raise _Refused(_KEY_NOT_NAME + what, ev.start_mark)
            if len(stack) >= MAX_DEPTH:
                raise _Refused(f"the document nests deeper than {MAX_DEPTH} levels; refused",
                               ev.start_mark)
            top = _Open(ev, is_map)
            stack.append(top)
            items = top.items
            nodes += 1
            if nodes > MAX_NODES:
                raise _Refused(_TOO_MANY, ev.start_mark)
            continue
        if isinstance(ev, CollectionEndEvent):
            done = stack.pop()
            node = _close(done, ev, file)
            size, height = 1 + len(done.items) + done.extra, done.height   # values in its expanded subtree
            if done.anchor:
                anchors[done.anchor] = (node, size, height)
            if not stack:       # the root: a mapping (a list was refused at its start)
                assert isinstance(node, Map)
                root = node     # a second document may follow
                top, items = None, []
                continue
            top = stack[-1]
            items = top.items
        elif isinstance(ev, AliasEvent):
            found = None if ev.anchor is None else anchors.get(ev.anchor)
            if found is None:
                raise _Refused(f"unknown YAML alias '*{ev.anchor}' (an alias must come after "
                               f"its anchor '&{ev.anchor}')", ev.start_mark)
            node, size, height = found
            nodes += size
            if nodes > MAX_NODES:
                raise _Refused("too many alias expansions: with its aliases expanded the "
                               f"document would hold more than {MAX_NODES:,} values "
                               "(a 'billion laughs' file?); refused", ev.start_mark)
            if len(stack) + height > MAX_DEPTH:
                raise _Refused(f"this alias makes the document nest deeper than {MAX_DEPTH} "
                               "levels; refused", ev.start_mark)
            assert top is not None  # not at the root: no anchor can be defined before the root
            if top.is_map and not len(items) % 2 and not isinstance(node, Scalar):
                raise _Refused(_KEY_NOT_NAME + ("a mapping" if isinstance(node, Map) else "a list"),
                               ev.start_mark)
            top.aliased[len(items)] = (ev.start_mark, ev.end_mark)
        elif isinstance(ev, DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise _Refused("a workflow file holds one YAML document; a second one starts here",
                               ev.start_mark)
            continue
        else:                   # stream start and end, document end
            continue
        items.append(node)      # a collection or an alias
        top.extra += size - 1
        if height >= top.height:
            top.height = height + 1
    return root


# yaml_errors.py is imported where a file has an error: a good file does without it

def _syntax_error(exc: yaml.MarkedYAMLError, text: str, file: str) -> Diagnostic:
    """Placed at the mistake, not where YAML stopped, and worded: yaml_errors.py."""
    from .yaml_errors import syntax_error
    return syntax_error(exc, text, file, _LOADER)


def _point(file: str, text: str, index: int) -> Span:
    from .yaml_errors import line_col
    return Span.point(file, *line_col(text, max(0, index)))


def _events(loader: yaml.CSafeLoader | yaml.SafeLoader) -> Iterator[Event]:
    """The parser's events, as `yaml.parse` gives them, straight from the parser (which
    ends with None): `yaml.parse` is a generator that asks twice for each."""
    return iter(loader.get_event, None)


def _tree(text: str, file: str) -> Map | None:
    """The tree of the text, or the first of our bounds crossed (_Refused) or YAML error.

    The scanner reads ahead of the events it hands over (to tell whether a `[` starts a
    key it may read 1024 characters on), and a syntax error found there stops the stream
    before the events of the text before it reach us. One kind matters: libyaml 0.2.6
    (in PyYAML 6.0.4's wheels) refuses nesting past 1000 levels while reading ahead, so a
    line of `[[[[` would get libyaml's refusal at bracket 1000 instead of ours at level
    65, and another version's at yet another place. So when the scanner stops, the text
    before the place where it stopped is built again (the same way, so a shorter text
    each time): a bound of ours crossed there is the first problem of the file, and the
    one reported, with either parser and any libyaml. It costs a second pass only over
    a file that is refused anyway."""
    loader = _LOADER(text)
    try:
        return _build(_events(loader), file)
    except ScannerError as exc:
        mark = exc.problem_mark
        refused = _refused_in(text[:mark.index], file) if mark and 0 < mark.index < len(text) else None
        if refused is None:
            raise
    finally:
        loader.dispose()
    raise refused


def _refused_in(text: str, file: str) -> _Refused | None:
    """The first of our bounds that the text crosses, if one does before YAML stops it."""
    try:
        _tree(text, file)
    except _Refused as stop:
        return stop
    except yaml.YAMLError:
        pass
    return None


def parse_yaml(text: str, file: str) -> tuple[Map | None, list[Diagnostic]]:
    """The raw tree of a one-document YAML workflow, or None and one E100 diagnostic."""
    collecting = gc.isenabled()
    # A tree of a million small acyclic objects sets off the cycle collector again and again
    # (4x the whole build time at 100k tasks); nothing built here can form a cycle.
    gc.disable()
    try:
        root = _tree(text, file)
    except _Refused as stop:
        from .yaml_errors import syntax_error_at_start
        if stop.message == _NOT_A_MAPPING and (missing := syntax_error_at_start(text, file, _LOADER)):
            return None, [missing]                # `workflow w` without its ':'
        where = (stop.mark.line + 1, stop.mark.column + 1) if stop.mark is not None else (1, 1)
        return None, [diag("E100", stop.message, Span.point(file, *where))]
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_error(exc, text, file)]
    except ReaderError as exc:
        # libyaml reports a byte offset, PyYAML a character index: find the character itself
        index = text.find(chr(exc.character)) if isinstance(exc.character, int) else -1
        what = f" (U+{exc.character:04X})" if isinstance(exc.character, int) else ""
        return None, [diag("E100", f"the file holds a character that YAML does not allow{what}",
                           _point(file, text, index))]
    except UnicodeEncodeError as exc:     # a lone surrogate in the str: no file decodes to one
        return None, [diag("E100", "the text is not valid Unicode", _point(file, text, exc.start))]
    except yaml.YAMLError as exc:
        return None, [diag("E100", f"YAML error: {exc}", Span.point(file, 1, 1))]
    finally:
        if collecting:
            gc.enable()
    if root is None:
        return None, [diag("E100", _EMPTY, Span.point(file, 1, 1))]
    return root, []
