"""Where things are in a JSON text: the line and column for a diagnostic about a plan file.

Only the error path comes here; a valid plan is read with `json.loads` alone. A value
is found by its path of keys and indexes (`("nodes", 3, "stage")`) in one pass over
the text that descends only where a wanted path leads and skips every other value
with json's own C scanner. The text has already been read by `json.loads`, so it is
well formed; where an object holds a key twice, the last one counts, as for json.
"""
from __future__ import annotations

from bisect import bisect_right
import json
import re
import sys

from lanes.dsl.frozen import dataclass

Key = str | int
Path = tuple[Key, ...]

_BLANK = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_WANTED = None                # the trie key that marks a wanted path (no JSON key is None)
# the non-string scalars of a JSON text; strings are matched whole so that nothing inside one counts
_SCALAR = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|NaN|-?Infinity', re.DOTALL)


@dataclass(frozen=True)
class Place:
    """Offsets (in characters) of a value, and of its key when it is an object member."""

    start: int
    end: int
    key_start: int | None = None
    key_end: int | None = None


class Lines:
    """1-based line and column of character offsets, for many offsets into one text."""

    def __init__(self, text: str) -> None:
        self.starts = [0, *(m.end() for m in re.finditer("\n", text))]

    def at(self, offset: int) -> tuple[int, int]:
        line = bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1


def _blank(text: str, pos: int) -> int:
    m = _BLANK.match(text, pos)
    return m.end() if m else pos


def _skip(text: str, pos: int) -> int:
    """The end of the value that starts at pos."""
    return int(_DECODER.raw_decode(text, pos)[1])


Trie = dict[Key | None, "Trie"]


def locate(text: str, paths: list[Path]) -> dict[Path, Place]:
    """The place of each path that exists in the text (a path that does not is left out)."""
    trie: Trie = {}
    for path in paths:
        at = trie
        for key in path:
            at = at.setdefault(key, {})
        at[_WANTED] = {}
    out: dict[Path, Place] = {}
    _walk(text, _blank(text, 0), (), trie, None, out)
    return out


def _walk(text: str, pos: int, path: Path, trie: Trie,
          key: tuple[int, int] | None, out: dict[Path, Place]) -> int:
    opener = text[pos] if pos < len(text) else ""
    if opener == "{" and any(isinstance(k, str) for k in trie):
        end = _members(text, pos, path, trie, out)
    elif opener == "[" and any(isinstance(k, int) for k in trie):
        end = _items(text, pos, path, trie, out)
    else:
        end = _skip(text, pos)
    if _WANTED in trie:
        out[path] = Place(pos, end, *(key or (None, None)))
    return end


def _members(text: str, pos: int, path: Path, trie: Trie, out: dict[Path, Place]) -> int:
    pos = _blank(text, pos + 1)
    if text[pos] == "}":
        return pos + 1
    while True:
        name, key_end = _DECODER.raw_decode(text, pos)           # a key is a JSON string
        key_start = pos
        pos = _blank(text, _blank(text, key_end) + 1)            # past the ':'
        below = trie.get(name)
        if below is not None:
            pos = _walk(text, pos, (*path, name), below, (key_start, key_end), out)
        else:
            pos = _skip(text, pos)
        pos = _blank(text, pos)
        if text[pos] == "}":
            return pos + 1
        pos = _blank(text, pos + 1)                               # past the ','


def _items(text: str, pos: int, path: Path, trie: Trie, out: dict[Path, Place]) -> int:
    pos = _blank(text, pos + 1)
    if text[pos] == "]":
        return pos + 1
    index = 0
    while True:
        below = trie.get(index)
        if below is not None:
            pos = _walk(text, pos, (*path, index), below, None, out)
        else:
            pos = _skip(text, pos)
        pos = _blank(text, pos)
        if text[pos] == "]":
            return pos + 1
        pos = _blank(text, pos + 1)
        index += 1


def first_unreadable_number(text: str) -> tuple[int, int, str] | None:
    """(start, end, why) of the first number that json reads but lanes refuses: NaN and
    Infinity (not JSON at all), and integers too long for Python's int conversion."""
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)()
    for m in _SCALAR.finditer(text):
        token = m.group()
        if token[0] == '"':
            continue
        if token in ("NaN", "Infinity", "-Infinity"):
            return m.start(), m.end(), f"{token} is not a JSON number"
        digits = len(token) - token.startswith("-")
        if limit and digits > limit and token.lstrip("-").isdigit():
            return m.start(), m.end(), f"a number of {digits:,} digits is out of range"
    return None


def nesting_point(text: str, depth: int) -> int:
    """The offset of the first '[' or '{' that opens level `depth + 1`, or 0."""
    level = 0
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text, re.DOTALL):
        c = m.group()
        if c in "[{":
            level += 1
            if level > depth:
                return m.start()
        elif c in "]}":
            level -= 1
    return 0
