"""A YAML syntax error placed where the mistake is, in words a person acts on.

PyYAML (and libyaml) say where their scanner or parser stopped, which for the
commonest mistakes is not where the mistake is:

- a key without its ':' (`run "make"`) is found out on the next line, when the
  scanner gives up on the simple key;
- a plain key without its ':' (`agent coder`) runs on into the next line as one
  text, and the error is the ':' of that next line;
- a line indented deeper than its key is more of the value above it, and the error
  is again its ':';
- a '[' or '{' never closed, or a quote closed lines later, is found out where the
  text after it stops making sense, often at the end of the file.

Each is told apart by the text and by the scanner's tokens before the place where
YAML stopped (scanned again, only for a file that is refused anyway), and reported at
the line of the mistake, with where YAML stopped as a related location.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterator
import re
from typing import Any, NamedTuple

import yaml

from .diagnostics import Diagnostic, Related, diag
from .span import Span

PREFIX = "YAML syntax error: "
_ENTRY = "a mapping entry is written 'key: value'"
# what comes before a key at the start of its line: indentation and list dashes
_KEY_START = re.compile(r"[ ]*(?:-[ ]+)*\Z")
_FIRST_WORD = re.compile(r"[^\s#]+")
_PLAIN_START = re.compile(r"[\w.$/~+(]")     # a key a person writes, not a YAML indicator
_FLOWS = {"while parsing a flow sequence": ("[", "]"), "while parsing a flow mapping": ("{", "}")}
_KEPT = 8                      # scalar tokens kept from the scan: the last few before the error
_WINDOW_LINES = 500            # how far up a window for that scan may start
_WINDOWS = 4                   # windows tried, each from further up
# a line that starts a mapping entry: a plain key and ':' (then a space or the end of the line)
_KEY_LINE = re.compile(r"[ ]*(?:-[ ]+)*[\w.$/~+(][^:#\n]*:(?:[ ]|$)", re.MULTILINE)


def syntax_error(exc: yaml.MarkedYAMLError, text: str, file: str, loader: Any) -> Diagnostic:
    """The diagnostic (E100) of a PyYAML syntax error in `text`."""
    problem = exc.problem or exc.context or "invalid YAML"
    p, c = exc.problem_mark, exc.context_mark
    if p is None:
        return diag("E100", PREFIX + problem, Span.point(file, 1, 1))
    stopped = Related("YAML stopped here", Span.point(file, p.line + 1, p.column + 1))

    def at(index: int, message: str) -> Diagnostic:
        line, col = line_col(text, index)
        return diag("E100", PREFIX + message, Span.point(file, line, col),
                    related=[stopped] if (line, col) != (p.line + 1, p.column + 1) else [])

    if exc.context == "while scanning a quoted scalar" and c is not None and "end of stream" in problem:
        return at(c.index, "a quoted string is never closed")     # the end of the file is no help
    if problem.startswith("could not find expected ':'") and c is not None:
        missing = _missing_colon(text, c.index, runs_on=False)
        return at(*missing) if missing else at(c.index, f"expected ':' after the key that starts here ({_ENTRY})")
    scanned = _scalars_before(text, p, loader) if exc.context != "while scanning for the next token" else []
    quoted = _broken_quote(scanned, p.line)
    if quoted is not None:
        return at(quoted.start, f"this quoted string is not closed on its line: it runs on to "
                                f"line {quoted.end_line + 1}, where YAML stopped "
                                           "(a closing quote missing?)")
    if problem.startswith("mapping values are not allowed"):
        plain = scanned[-1] if scanned else None
        if plain is not None and plain.line < p.line <= plain.end_line:
            start = plain.start
            if not _KEY_START.match(text, _line_start(text, start), start):     # a value, run on
                below = _first_nonblank(text, _line_end(text, start) + 1)
                return at(below, f"this line is indented deeper than the key on line "
                                 f"{plain.line + 1}, so YAML reads it as more of that key's value, "
                                 "which cannot hold ': ' (indent it as the keys above it)")
            missing = _missing_colon(text, start, runs_on=True)                 # a key, run on
            if missing is not None:
                return at(*missing)
    flow = _FLOWS.get(exc.context or "")
    if flow is not None and c is not None and c.line < p.line:
        return at(c.index, f"this '{flow[0]}' is never closed (YAML expected ',' or '{flow[1]}' at line "
                           f"{p.line + 1}, column {p.column + 1})")
    message = PREFIX + problem.replace("in this context", "here") + _hint(problem, exc.context, text, p.index)
    related: tuple[Related, ...] = ()
    if exc.context and c is not None and (c.line, c.column) != (p.line, p.column):
        related = (Related(f"{exc.context} that starts here", Span.point(file, c.line + 1, c.column + 1)),)
    return diag("E100", message, Span.point(file, p.line + 1, p.column + 1), related=related)


def _missing_colon(text: str, start: int, *, runs_on: bool) -> tuple[int, str] | None:
    """Where the ':' of the key that starts at `start` belongs, and what to say; None
    when no plain key starts there (`[`, a quote...: YAML's own words are better)."""
    word = _FIRST_WORD.match(text, start)
    if word is None or not _PLAIN_START.match(word.group()):
        return None
    colon = word.group().find(":")
    if 0 < colon < len(word.group()) - 1:
        key, value = word.group()[:colon], word.group()[colon + 1:]
        return start + colon, f"a ':' after a key is followed by a space: '{key}: {value}'"
    more = "; without it, this line and the next read as one text" if runs_on else ""
    return word.end(), f"expected ':' after '{word.group()}' ({_ENTRY}{more})"


class _Scalar(NamedTuple):
    """A scalar token of the text: where it starts (index, 0-based line), its last line."""

    start: int
    line: int
    end_line: int
    quoted: bool


def _scalars_before(text: str, stop: Any, loader: Any) -> list[_Scalar]:
    """The last scalar tokens that start before the mark where YAML stopped.

    The text is scanned again from a line where the block around the error starts (a
    key at most as indented as the line of the error, a few hundred lines up at most)
    if YAML stops at the same place in the text from there: a large file is not
    scanned again whole. Otherwise, from the beginning."""
    for _, start in zip(range(_WINDOWS), _windows(text, stop.index)):
        if _stops_at(text, start, stop, loader):
            return _scan(text, start, stop.index, loader)
    return _scan(text, 0, stop.index, loader)


def _windows(text: str, index: int) -> Iterator[int]:
    """The starts of the lines above `index`, nearest first, that hold a key no more
    indented than the line of `index`."""
    begin = _line_start(text, index)
    indent = _first_nonblank(text, begin) - begin
    for _ in range(_WINDOW_LINES):
        if begin == 0:
            return
        begin = _line_start(text, begin - 1)
        if _KEY_LINE.match(text, begin) and _first_nonblank(text, begin) - begin <= indent:
            yield begin


def _stops_at(text: str, start: int, stop: Any, loader: Any) -> bool:
    """Whether YAML stops at the same place in the text from `start` (a line's start:
    the columns are the same, the lines fewer by those before it)."""
    try:
        for _ in yaml.parse(text[start:], Loader=loader):
            pass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        return mark is not None and (mark.line + text.count("\n", 0, start), mark.column) == (stop.line,
                                                                                              stop.column)
    except yaml.YAMLError:
        pass
    return False


def _scan(text: str, start: int, index: int, loader: Any) -> list[_Scalar]:
    lines = text.count("\n", 0, start)
    kept: deque[_Scalar] = deque(maxlen=_KEPT)
    try:
        for tok in yaml.scan(text[start:], Loader=loader):
            at = tok.start_mark.index + start
            if at >= index:
                break
            if isinstance(tok, yaml.ScalarToken):
                kept.append(_Scalar(at, tok.start_mark.line + lines, tok.end_mark.line + lines,
                                    tok.style in ('"', "'")))
    except yaml.YAMLError:
        pass                                      # the same error, or one before it
    return list(kept)


def _broken_quote(scalars: list[_Scalar], line: int) -> _Scalar | None:
    """A quoted scalar over several lines that ends on the line where YAML stopped: the
    usual shape of a quote not closed where it should be (workflows hold none)."""
    for tok in reversed(scalars):
        if tok.quoted and tok.line < tok.end_line == line:
            return tok
    return None


def _hint(problem: str, context: str | None, text: str, index: int) -> str:
    """The usual cause of the commonest mistakes, in a few words."""
    ch = text[index] if 0 <= index < len(text) else ""
    if ch == "\t" or "'\\t'" in problem:
        return " (a tab: YAML indents with spaces only)"
    if problem.startswith("mapping values are not allowed"):
        return " (a value that holds ': ' must be quoted, or the line is indented wrongly)"
    if ch in ("@", "`") and "cannot start any token" in problem:
        return f" ('{ch}' cannot start a plain value in YAML: quote the value)"
    if context == "while parsing a block collection" and problem.startswith(("did not find expected '-'",
                                                                             "expected <block end>")):
        return " (a 'key: value' among the items of a list: write '- ' before it, or indent it as the key above the list)"
    if problem.startswith(("did not find expected key", "expected <block end>")):
        if ch == "-":
            return " (a list item among the keys of a mapping: put the list under a key)"
        if index == _first_nonblank(text, _line_start(text, index)):
            return " (this line's indentation matches no key above it)"
        if text[:index].rstrip()[-1:] in ('"', "'"):
            return " (text after a closing quote: quote the whole value)"
    return ""


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _line_end(text: str, index: int) -> int:
    end = text.find("\n", index)
    return len(text) if end < 0 else end


def _first_nonblank(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t":
        index += 1
    return index


def line_col(text: str, index: int) -> tuple[int, int]:
    return text.count("\n", 0, index) + 1, index - _line_start(text, index) + 1


def syntax_error_at_start(text: str, file: str, loader: Any, events: int = 1000) -> Diagnostic | None:
    """The syntax error among the first events of the text, if there is one.

    A first key without its ':' (`workflow w`, then `tasks:`) makes the document a
    single text, which is refused as not a mapping before YAML comes to the ':' of the
    next line; that error says what is wrong, the refusal does not. Only the first
    events are read: a refused file may be large."""
    try:
        for n, _ in enumerate(yaml.parse(text, Loader=loader)):
            if n >= events:
                break
    except yaml.MarkedYAMLError as exc:
        return syntax_error(exc, text, file, loader)
    except yaml.YAMLError:
        pass
    return None
