"""One path segment as a glob over characters: parsed into atoms, matched with an
anchored regex, and seen by the searches (`patterns_search`) as a small automaton
whose positions are the bits of an integer.

Atoms: ("c", ch) a literal, ("?",) any one character, ("*",) any run (runs of `*`,
as in `a**b`, are one), ("[", ((lo, hi), ...), negated) a class of code points.
A `[` that opens no class (no closing `]`) is a literal character.
"""
from __future__ import annotations

from functools import cached_property
import re
from typing import Literal

from lanes.dsl.frozen import dataclass

Ranges = tuple[tuple[int, int], ...]             # inclusive code point ranges
Atom = (tuple[Literal["c"], str] | tuple[Literal["?"]] | tuple[Literal["*"]]
        | tuple[Literal["["], Ranges, bool])

STAR: Atom = ("*",)
_ONE: Atom = ("?",)


@dataclass(frozen=True, eq=False)
class Glob:
    """A compiled segment glob. Built through `glob(text)`, which interns by text, so
    identity is equality and memo keys hash fast. The automaton parts are built on first
    use: most segments are plain names that only ever need `literal`."""

    text: str
    literal: str | None               # the text, when it has no wildcard

    @cached_property
    def atoms(self) -> tuple[Atom, ...]:
        return _parse(self.text)

    @cached_property
    def close(self) -> tuple[int, ...]:    # position -> bitmask of positions reachable over `*`
        return _closures(self.atoms)

    @cached_property
    def accept(self) -> int:
        return 1 << len(self.atoms)

    @cached_property
    def ends(self) -> tuple[str, str, bool]:
        """(literal head, literal tail, has a star): cheap facts that part most pairs."""
        kinds = [a[0] for a in self.atoms]
        n = next((i for i, k in enumerate(kinds) if k != "c"), len(kinds))
        m = next((i for i, k in enumerate(reversed(kinds)) if k != "c"), len(kinds))
        chars = [a[1] if a[0] == "c" else "" for a in self.atoms]
        return "".join(chars[:n]), "".join(chars[len(chars) - m:]), STAR in self.atoms

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return _regex(self.atoms)

    def matches(self, segment: str) -> bool:
        if self.literal is not None:
            return segment == self.literal
        return self.regex.match(segment) is not None


def _parse_class(text: str, i: int) -> tuple[Atom, int] | None:
    """The class starting at text[i] == '[' and the index of its ']', or None (literal '[')."""
    j = i + 1
    negated = j < len(text) and text[j] in "!^"
    if negated:
        j += 1
    close = text.find("]", j + 1)            # a ']' right after '[' or '[!' is a member
    if j >= len(text) or close < 0:
        return None
    body, n = text[j:close], 0
    ranges: list[tuple[int, int]] = []
    while n < len(body):
        if n + 2 < len(body) and body[n + 1] == "-":
            lo, hi = ord(body[n]), ord(body[n + 2])
            if lo <= hi:                     # a reversed range matches nothing, as in fnmatch
                ranges.append((lo, hi))
            n += 3
        else:
            ranges.append((ord(body[n]), ord(body[n])))
            n += 1
    return ("[", tuple(ranges), negated), close


def _parse(text: str) -> tuple[Atom, ...]:
    atoms: list[Atom] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "*":
            if not atoms or atoms[-1] is not STAR:       # `a**b` is `a*b`
                atoms.append(STAR)
        elif ch == "?":
            atoms.append(_ONE)
        elif ch == "[" and (parsed := _parse_class(text, i)) is not None:
            atom, i = parsed
            atoms.append(atom)
        else:
            atoms.append(("c", ch))
        i += 1
    return tuple(atoms)


def _atom_regex(atom: Atom) -> str:
    """The regex of a non-star atom."""
    if atom[0] == "c":
        return re.escape(atom[1])
    if atom[0] != "[":
        return "."
    ranges, negated = atom[1], atom[2]
    if not ranges:
        return "." if negated else "(?!)"
    body = "".join(re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}"
                   for lo, hi in ranges)
    return f"[{'^' if negated else ''}{body}]"


def _regex(atoms: tuple[Atom, ...]) -> re.Pattern[str]:
    """Anchored regex. Between stars each chunk has a fixed length, so taking its leftmost
    occurrence is optimal; an atomic lookahead (as CPython's fnmatch does) keeps `re`
    from backtracking into it, so `*a*a*a*b` stays linear-ish on long names."""
    chunks: list[list[str]] = [[]]
    for atom in atoms:
        if atom is STAR:
            chunks.append([])
        else:
            chunks[-1].append(_atom_regex(atom))
    text = ["".join(chunks[0])]
    for k, chunk in enumerate(chunks[1:-1]):
        text.append(f"(?=(?P<g{k}>.*?{''.join(chunk)}))(?P=g{k})")
    if len(chunks) > 1:
        text.append(".*" + "".join(chunks[-1]))
    return re.compile("".join(text) + r"\Z", re.DOTALL)


def _closures(atoms: tuple[Atom, ...]) -> tuple[int, ...]:
    out = [0] * (len(atoms) + 1)
    for p in range(len(atoms), -1, -1):
        out[p] = (1 << p) | (out[p + 1] if p < len(atoms) and atoms[p] is STAR else 0)
    return tuple(out)


_GLOBS: dict[str, Glob] = {}
_WILD = re.compile(r"[*?\[]")


def glob(text: str) -> Glob:
    """The interned glob of a segment text."""
    g = _GLOBS.get(text)
    if g is None:
        literal = text if _WILD.search(text) is None else None
        if literal is None and "*" not in text and "?" not in text:    # a '[' that opens no class
            literal = text if all(a[0] == "c" for a in _parse(text)) else None
        g = _GLOBS[text] = Glob(text, literal)
    return g


ANY = glob("*")


def is_segment(word: str) -> bool:
    """Can `word` be a segment of a resource? (`.` and `..` name directories, not resources.)"""
    return word not in ("", ".", "..") and "/" not in word


def accepts(atom: Atom, code: int) -> bool:
    """Does a non-star atom read the character with this code point?"""
    if atom[0] == "c":
        return ord(atom[1]) == code
    if atom[0] != "[":
        return True
    return any(lo <= code <= hi for lo, hi in atom[1]) != atom[2]
