"""Comments of a workflow file, for `lanes fmt`: found in the text, attached to the nodes.

Neither front end keeps comments (the grammar ignores them, PyYAML drops them), so they
are found here, by the same lexers: in YAML, PyYAML's token stream (a `#` in the gap
between two tokens is a comment; one inside a quoted or block scalar is text), and in
the grammar form, the terminals of lanes.lark (a `#` outside a string starts one). Each
comment is then attached, by the spans of the raw tree, to a slot the formatter prints
in both forms:

- the workflow's fields and each domain, agent, task and gate (an item), and each field
  of an item or of `defaults`;
- `leading`: comments on their own lines before it (those before the first item of
  the file belong to `workflow`);
- `trailing`: the comment after it on its last line, or on the head line of a block
  (`task api by b {  # ...`, YAML `api:  # ...`);
- `footer`: comments after the last field of an item (in YAML, indented deeper than
  its key), and at the end of the file (the key `()`).

A comment inside a field's value (a list, an env mapping) belongs to that field. When the
formatter leaves a slot out (`env: {}`), its comments go to the next slot, or to the end of
the enclosing one: a comment is moved, never dropped.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable
from functools import lru_cache
import re

from lark.exceptions import LarkError
import yaml
from yaml.tokens import ScalarToken

from .frozen import dataclass, field
from .raw import Map, Raw
from .span import Span

Key = tuple[str | int, ...]      # ("workdir",), ("tasks", 2), ("tasks", 2, "run"), () the file
SECTIONS = ("domains", "agents", "tasks", "gates")
_LOADER: type[yaml.CSafeLoader | yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_END = 1 << 30                                   # a column after any other on its line
# YAML breaks lines at these (both PyYAML and libyaml count lines by them)
_YAML_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_YAML_COMMENT = re.compile("#[^\r\n\x85\u2028\u2029]*")
_LANES_COMMENT = re.compile("#[^\n]*")
# the header of a block scalar, which may end with a comment: `|2-  # note`
_BLOCK_HEADER = re.compile(r"[|>][0-9+-]*[ \t]+(#[^\r\n\x85\u2028\u2029]*)")


@dataclass(frozen=True)
class Comment:
    text: str                # from '#' to the end of its line, trailing blanks left out
    line: int                # 1-based, like spans
    column: int
    own_line: bool           # nothing but blanks before it on its line


@dataclass(frozen=True)
class Attached:
    """The comments of one slot, each as written (`# ...`)."""

    leading: tuple[str, ...] = ()
    trailing: str | None = None
    footer: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.leading or self.trailing or self.footer)


NONE = Attached()
Notes = dict[Key, Attached]


# -- finding comments --------------------------------------------------------------------------

class _Lines:
    """Offsets -> (line, column), 1-based, with the given line breaks."""

    def __init__(self, text: str, breaks: re.Pattern[str]) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in breaks.finditer(text)]

    def comment(self, at: int, body: str) -> Comment:
        i = bisect_right(self.starts, at) - 1
        start = self.starts[i]
        return Comment(body.rstrip(" \t\r\f"), i + 1, at - start + 1, not self.text[start:at].strip(" \t\f\ufeff"))


def yaml_comments(text: str) -> list[Comment]:
    """Every comment of a YAML text, in order. Raises yaml.YAMLError if it does not scan."""
    lines = _Lines(text, _YAML_BREAK)
    out: list[Comment] = []
    pos = 0
    for tok in yaml.scan(text, Loader=_LOADER):
        start, end = tok.start_mark.index, tok.end_mark.index
        for m in _YAML_COMMENT.finditer(text, pos, max(pos, start)):
            out.append(lines.comment(m.start(), m.group()))
        if isinstance(tok, ScalarToken) and tok.style in ("|", ">"):
            header = _BLOCK_HEADER.match(text, start)
            if header:
                out.append(lines.comment(header.start(1), header.group(1)))
        pos = max(pos, end)
    for m in _YAML_COMMENT.finditer(text, pos):
        out.append(lines.comment(m.start(), m.group()))
    return out


@lru_cache(maxsize=1)
def _lanes_scanner() -> re.Pattern[str]:
    """The strings and the comments of the grammar form, in one expression made of the
    terminals of lanes.lark (LONG_STRING first, as its priority says). Only strings hold
    a '"' and a '#' outside them starts a comment, so scanning for these alone finds the
    comments that lark's lexer finds (the ignored `#...` and those folded into `_SEP`,
    `_COMMA` and `LBRACE`), ten times faster than lexing every token."""
    from .grammar_front import terminals
    defined, ignored = terminals()
    terms = {t.name: t.pattern.to_regexp() for t in defined}
    comment = next(terms[name] for name in ignored if terms[name].startswith("#"))
    return re.compile(f"{terms['LONG_STRING']}|{terms['STRING']}|(?P<comment>{comment})")


def lanes_comments(text: str) -> list[Comment]:
    """Every comment of a grammar-form text that parses, in order."""
    text = text.removeprefix("\ufeff")            # as the grammar front end reads it
    lines = _Lines(text, re.compile("\n"))
    return [lines.comment(m.start(), m.group()) for m in _lanes_scanner().finditer(text)
            if m.lastgroup == "comment"]


def comments_of(text: str, form: str) -> list[Comment]:
    """Every comment of a text in `form` that parses (yaml.YAMLError for YAML that does not)."""
    return lanes_comments(text) if form == "lanes" else yaml_comments(text)


def unreadable_comment(text: str, form: str) -> str | None:
    """Why a comment of this text could not be written in `form`, else None: YAML allows
    only printable characters, and breaks lines at some that the grammar form does not."""
    if form != "yaml":
        return None
    for ch in text:
        o = ord(ch)
        if ch in "\r\x85\u2028\u2029" or not (ch == "\t" or 0x20 <= o < 0x7F or 0xA0 <= o <= 0xD7FF
                                               or 0xE000 <= o <= 0xFFFD and o != 0xFEFF or o >= 0x10000):
            return f"it holds the character U+{o:04X}, which a YAML comment cannot hold"
    return None


# -- attaching them ----------------------------------------------------------------------------

Pos = tuple[int, int]


@dataclass
class _Slot:
    key: Key
    start: Pos
    end: Pos
    head_line: int
    column: int
    children: list[_Slot] | None                  # None: a leaf (a field); [] an empty block
    header_end: Pos = (0, 0)                      # the file's: where its first statement starts
    starts: list[Pos] = field(default_factory=list)   # of the children, for bisection
    leading: list[Comment] = field(default_factory=list)
    trailing: Comment | None = None
    footer: list[Comment] = field(default_factory=list)

    def all(self) -> list[Comment]:
        own = [*self.leading, *([self.trailing] if self.trailing else []), *self.footer]
        for child in self.children or ():
            own += child.all()
        return sorted(own, key=lambda c: (c.line, c.column))


def _start(span: Span) -> Pos:
    return span.line, span.column


def _end(span: Span) -> Pos:
    """The end of a span, a block scalar's (the start of the line after it) as the end of its
    last line."""
    if span.end_column == 1 and span.end_line > span.line:
        return span.end_line - 1, _END
    return span.end_line, span.end_column


def _slot(key: Key, first: Span, value: Raw, children: list[_Slot] | None) -> _Slot:
    start = min(_start(first), _start(value.span))
    end = max(_end(first), _end(value.span))
    return _Slot(key, start, end, start[0], start[1], children)


def _fields(prefix: Key, body: Raw) -> list[_Slot]:
    if not isinstance(body, Map):
        return []
    return sorted((_slot((*prefix, k.value or ""), k.span, v, None) for k, v in body.entries),
                  key=lambda s: s.start)


def _tree(root: Map) -> _Slot:
    top: list[_Slot] = []
    for key, value in root.entries:
        name = key.value or ""
        if name in SECTIONS and isinstance(value, Map):
            for i, (ident, body) in enumerate(value.entries):
                top.append(_slot((name, i), ident.span, body, _fields((name, i), body)))
        elif name == "defaults":
            top.append(_slot((name,), key.span, value, _fields((name,), value)))
        else:
            top.append(_slot((name,), key.span, value, None))
    top.sort(key=lambda s: s.start)
    head = min((_start(k.span) for k, _ in root.entries), default=(_END, _END))
    return _Slot((), (0, 0), (_END, _END), 0, 0, top, header_end=head)


def _trail(slot: _Slot, c: Comment) -> None:
    """A second comment at the end of a slot goes to its footer (a block) or before it."""
    if slot.trailing is None:
        slot.trailing = c
    elif slot.children is not None:
        slot.footer.append(c)
    else:
        slot.leading.append(c)


def _place(c: Comment, node: _Slot, yaml_form: bool) -> None:
    at = (c.line, c.column)
    kids = node.children or []
    if len(node.starts) != len(kids):
        node.starts = [k.start for k in kids]
    i = bisect_right(node.starts, at)             # kids[:i] start before the comment
    last = kids[i - 1] if i else None             # (the fields of a node never overlap)
    if last is not None and at < last.end:
        _place(c, last, yaml_form)
        return
    if node.key and c.line == node.head_line and not c.own_line:
        _trail(node, c)
        return
    if last is not None and not c.own_line and last.end[0] == c.line:
        if last.children and max(k.end for k in last.children) == last.end:
            _place(c, last, yaml_form)          # a YAML block ends with its last field: the field's
        else:
            _trail(last, c)
        return
    if yaml_form and last is not None and last.children is not None and c.column > last.column:
        _place(c, last, yaml_form)              # indented under the item before it: its end
        return
    after = kids[i] if i < len(kids) else None
    if at < node.header_end:                     # the head of the file belongs to `workflow`
        after = next((k for k in kids if k.key == ("workflow",)), after)
    if after is not None:
        after.leading.append(c)
    elif node.children is not None:
        node.footer.append(c)
    else:
        node.leading.append(c)


# a task's inline domain is written as its writes/reads: a comment of `domain:` goes with them
_ALIASES = {"domain": ("writes", "reads")}


def _kept(slot: _Slot, slots: Collection[Key]) -> _Slot | None:
    """The slot under the key the formatter prints it with, or None when it is left out."""
    if slot.key in slots:
        return slot
    for alias in _ALIASES.get(str(slot.key[-1]), ()) if len(slot.key) == 3 else ():
        key = (*slot.key[:-1], alias)
        if key in slots:
            slot.key = key
            return slot
    return None


def _settle(node: _Slot, slots: Collection[Key]) -> None:
    """Moves the comments of slots the formatter leaves out to the next slot kept, or to the
    end of the enclosing one; a block left with no fields takes its footer before it."""
    if node.children is None:
        return
    kept: list[_Slot] = []
    moving: list[Comment] = []
    for kid in node.children:
        if _kept(kid, slots) is None:
            moving += kid.all()
            continue
        _settle(kid, slots)
        if moving:
            kid.leading[:0] = moving
            moving = []
        kept.append(kid)
    node.children = kept
    node.footer[:0] = moving
    if node.key and not kept and node.footer:
        node.leading += node.footer
        node.footer = []


def _notes(node: _Slot, out: Notes) -> None:
    note = Attached(tuple(c.text for c in node.leading), node.trailing.text if node.trailing else None,
                    tuple(c.text for c in node.footer))
    if note:
        out[node.key] = note
    for kid in node.children or ():
        _notes(kid, out)


def attach(root: Map, comments: Iterable[Comment], form: str, slots: Collection[Key]) -> Notes:
    """The comments, each attached to one of `slots` (the keys the formatter prints) or to
    the end of the file (key `()`), by the spans of the raw tree `root`."""
    tree = _tree(root)
    for c in sorted(comments, key=lambda c: (c.line, c.column)):
        _place(c, tree, form == "yaml")
    _settle(tree, slots)
    out: Notes = {}
    _notes(tree, out)
    return out


def read_notes(text: str, file: str, form: str, slots: Collection[Key]) -> tuple[Notes, list[Comment]] | str:
    """(the notes, every comment of the text), or why the comments could not be read."""
    if form == "lanes":
        from .grammar_front import parse_lanes as parse
    else:
        from .yaml_front import parse_yaml as parse
    try:
        comments = comments_of(text, form)
    except (yaml.YAMLError, LarkError) as exc:
        return f"the comments could not be read: {exc}"
    if not comments:
        return {}, []
    root, _ = parse(text, file)
    if root is None:
        return "the comments could not be read: the file does not parse"
    return attach(root, comments, form, slots), comments
