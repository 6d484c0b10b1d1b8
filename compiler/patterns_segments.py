"""One path segment as a glob over characters, and what the deciders ask of segments:
a shortest segment two globs both match (`meet`), and which sets of globs a segment
matched by one glob can also be matched by (`signatures`, for containment).

Searches run over a finite alphabet with one representative of every class of
characters the globs can tell apart (each character they name, plus one character
from every gap between class ranges), so they are exact. Breadth-first order with
readable letters tried first gives short witnesses such as `test_.py` or `a`.
Segments `.` and `..` are not resources (they name a directory itself or its
parent), so the searches track whether the word so far is only dots.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import cached_property
import re

_READABLE = "abcdefghijklmnopqrstuvwxyz0123456789_"
_STAR = ("*",)
_ONE = ("?",)
_DOTS_AFTER_DOT = (1, 2, 3, 3)        # "" -> ".", "." -> "..", ".." -> "...": an ordinary name
_ORDINARY = 3
_CACHE_LIMIT = 1 << 20                # memo tables are cleared past this size (they are pure)


@dataclass(frozen=True, eq=False)
class Glob:
    """A compiled segment glob. Built through `glob(text)`, which interns by text, so
    identity is equality and memo keys hash fast. The automaton parts are built on first
    use: most segments are plain names that only ever need `literal`."""

    text: str
    literal: str | None               # the text, when it has no wildcard

    @cached_property
    def atoms(self) -> tuple[tuple, ...]:  # ("c", ch) | ("?",) | ("*",) | ("[", ((lo, hi), ...), negated)
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
        return "".join(chars[:n]), "".join(chars[len(chars) - m:]), _STAR in self.atoms

    @cached_property
    def regex(self) -> re.Pattern:
        return _regex(self.atoms)

    def matches(self, segment: str) -> bool:
        if self.literal is not None:
            return segment == self.literal
        return self.regex.match(segment) is not None


def _parse_class(text: str, i: int) -> tuple[tuple, int] | None:
    """The class starting at text[i] == '[' and the index of its ']', or None (literal '[')."""
    j = i + 1
    negated = j < len(text) and text[j] in "!^"
    if negated:
        j += 1
    close = text.find("]", j + 1)            # a ']' right after '[' or '[!' is a member
    if j >= len(text) or close < 0:
        return None
    body, ranges, n = text[j:close], [], 0
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


def _parse(text: str) -> tuple[tuple, ...]:
    atoms: list[tuple] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "*":
            if not atoms or atoms[-1] is not _STAR:       # `a**b` is `a*b`
                atoms.append(_STAR)
        elif ch == "?":
            atoms.append(_ONE)
        elif ch == "[" and (parsed := _parse_class(text, i)) is not None:
            atom, i = parsed
            atoms.append(atom)
        else:
            atoms.append(("c", ch))
        i += 1
    return tuple(atoms)


def _atom_regex(atom: tuple) -> str:
    if atom[0] == "c":
        return re.escape(atom[1])
    if atom is _ONE:
        return "."
    ranges, negated = atom[1], atom[2]
    if not ranges:
        return "." if negated else "(?!)"
    body = "".join(re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}"
                   for lo, hi in ranges)
    return f"[{'^' if negated else ''}{body}]"


def _regex(atoms: tuple[tuple, ...]) -> re.Pattern:
    """Anchored regex. Between stars each chunk has a fixed length, so taking its leftmost
    occurrence is optimal; an atomic lookahead (as CPython's fnmatch does) keeps `re`
    from backtracking into it, so `*a*a*a*b` stays linear-ish on long names."""
    chunks: list[list[str]] = [[]]
    for atom in atoms:
        if atom is _STAR:
            chunks.append([])
        else:
            chunks[-1].append(_atom_regex(atom))
    text = ["".join(chunks[0])]
    for k, chunk in enumerate(chunks[1:-1]):
        text.append(f"(?=(?P<g{k}>.*?{''.join(chunk)}))(?P=g{k})")
    if len(chunks) > 1:
        text.append(".*" + "".join(chunks[-1]))
    return re.compile("".join(text) + r"\Z", re.S)


def _closures(atoms: tuple[tuple, ...]) -> tuple[int, ...]:
    out = [0] * (len(atoms) + 1)
    for p in range(len(atoms), -1, -1):
        out[p] = (1 << p) | (out[p + 1] if p < len(atoms) and atoms[p] is _STAR else 0)
    return tuple(out)


_GLOBS: dict[str, Glob] = {}


_WILD = re.compile(r"[*?\[]")


def glob(text: str) -> Glob:
    g = _GLOBS.get(text)
    if g is None:
        literal = text if _WILD.search(text) is None else None
        if literal is None and "*" not in text and "?" not in text:    # a '[' that opens no class
            literal = text if all(a[0] == "c" for a in _parse(text)) else None
        g = _GLOBS[text] = Glob(text, literal)
    return g


ANY = glob("*")


def is_segment(word: str) -> bool:
    return word not in ("", ".", "..") and "/" not in word


# -- searching over characters -----------------------------------------------------------------

def _accepts(atom: tuple, code: int) -> bool:
    if atom[0] == "c":
        return ord(atom[1]) == code
    if atom[0] != "[":
        return True
    return any(lo <= code <= hi for lo, hi in atom[1]) != atom[2]


_STEPS: dict[tuple[Glob, int, str], int] = {}


def _step(g: Glob, mask: int, ch: str) -> int:
    """The positions of `g` after reading `ch` from the positions in `mask` (memoised:
    searches revisit the same few (glob, positions, character) triples)."""
    key = (g, mask, ch)
    out = _STEPS.get(key)
    if out is None:
        code, out, atoms, close = ord(ch), 0, g.atoms, g.close
        while mask:
            low = mask & -mask
            p = low.bit_length() - 1
            mask ^= low
            if p < len(atoms) and _accepts(atoms[p], code):
                out |= close[p] if atoms[p] is _STAR else close[p + 1]
        if len(_STEPS) > _CACHE_LIMIT:
            _STEPS.clear()
        _STEPS[key] = out
    return out


def _marks(g: Glob) -> tuple[set[int], set[int]]:
    """The characters `g` names and the cut points of its class ranges."""
    named: set[int] = set()
    cuts: set[int] = set()
    for atom in g.atoms:
        if atom[0] == "c":
            named.add(ord(atom[1]))
        elif atom[0] == "[":
            for lo, hi in atom[1]:
                cuts.update((lo, hi + 1))
    return named, cuts


_ALPHABETS: dict[frozenset, tuple[str, ...]] = {}


def _alphabet(globs) -> tuple[str, ...]:
    """One character from every class the globs can tell apart, readable ones first."""
    key = frozenset(globs)
    if key in _ALPHABETS:
        return _ALPHABETS[key]
    named: set[int] = {ord(".")}          # dots decide what is a segment: never a stand-in
    cuts: set[int] = {0, 0x110000}
    for g in key:
        n, c = _marks(g)
        named |= n
        cuts |= c
    named.discard(ord("/"))
    points = sorted(cuts)
    chosen = {chr(c) for c in named}
    for lo, hi in zip(points, points[1:]):
        pick = next((c for c in _READABLE if lo <= ord(c) < hi and ord(c) not in named), None)
        if pick is None:                  # any other member of the gap; printable if one is near
            gap = (c for c in range(lo, hi) if c not in named and c != ord("/"))
            first = [c for _, c in zip(range(600), gap)]
            printable = [c for c in first if chr(c).isprintable()]
            pick = chr((printable or first)[0]) if first else None
        if pick is not None:
            chosen.add(pick)
    out = tuple(sorted(chosen, key=lambda c: (c not in _READABLE, _READABLE.find(c), c)))
    if len(_ALPHABETS) > _CACHE_LIMIT:
        _ALPHABETS.clear()
    _ALPHABETS[key] = out
    return out


def _shortest_common(a: Glob, b: Glob) -> str | None:
    """A shortest segment both globs match (breadth first over the product), or None."""
    alphabet = _alphabet((a, b))
    accept_a, accept_b = a.accept, b.accept
    start = (0, a.close[0], b.close[0])
    seen = {start}
    queue = deque([(start, "")])
    while queue:
        (dots, mask_a, mask_b), word = queue.popleft()
        for ch in alphabet:
            next_a = _step(a, mask_a, ch)
            next_b = _step(b, mask_b, ch) if next_a else 0
            if not next_b:
                continue
            state = (_DOTS_AFTER_DOT[dots] if ch == "." else _ORDINARY, next_a, next_b)
            if state in seen:
                continue
            if state[0] == _ORDINARY and next_a & accept_a and next_b & accept_b:
                return word + ch
            seen.add(state)
            queue.append((state, word + ch))
    return None


def _apart(a: Glob, b: Glob) -> bool:
    """True when the literal heads or tails clash, or two star-free globs differ in length."""
    (ha, ta, sa), (hb, tb, sb) = a.ends, b.ends
    n, m = min(len(ha), len(hb)), min(len(ta), len(tb))
    return (ha[:n] != hb[:n] or (m > 0 and ta[-m:] != tb[-m:])
            or (not sa and not sb and len(a.atoms) != len(b.atoms)))


_MEET: dict[tuple[Glob, Glob], str | None] = {}


def meet(a: Glob, b: Glob) -> str | None:
    """A shortest readable segment both globs match, or None."""
    if id(a) > id(b):                     # symmetric, and the search finds the same word
        a, b = b, a
    key = (a, b)
    if key in _MEET:
        return _MEET[key]
    if a.literal is not None:
        found = a.literal if is_segment(a.literal) and b.matches(a.literal) else None
    elif b.literal is not None:
        found = b.literal if is_segment(b.literal) and a.matches(b.literal) else None
    elif _apart(a, b):
        found = None
    else:
        found = _shortest_common(a, b)
    if len(_MEET) > _CACHE_LIMIT:
        _MEET.clear()
    _MEET[key] = found
    return found


def sample(g: Glob) -> str | None:
    """A shortest readable segment the glob matches (`a` for `*`), or None."""
    return meet(g, ANY)


_SIGNATURES: dict[tuple, tuple] = {}


def signatures(a: Glob, bs: tuple[Glob, ...]) -> tuple[tuple[frozenset[int], str], ...]:
    """For the segments `a` matches: every set of indexes of `bs` that match one of them
    too, minimal sets only (matching fewer of B is always better for escaping B), each
    with a shortest such segment; ordered shortest segment first."""
    key = (a, bs)
    if key in _SIGNATURES:
        return _SIGNATURES[key]
    near = [k for k, b in enumerate(bs) if meet(a, b) is not None]    # the rest never match
    found = _signature_search(a, tuple(bs[k] for k in near))
    minimal = tuple(sorted(((frozenset(near[i] for i in s), w) for s, w in found.items()
                            if not any(o < s for o in found)),
                           key=lambda sw: (len(sw[1]), sw[1])))
    if len(_SIGNATURES) > _CACHE_LIMIT:
        _SIGNATURES.clear()
    _SIGNATURES[key] = minimal
    return minimal


def _signature_search(a: Glob, bs: tuple[Glob, ...]) -> dict[frozenset[int], str]:
    """Breadth first over the product of `a` and every glob of `bs`; stops early once a
    segment matched by none of `bs` turns up, since that set is below all others."""
    globs = (a, *bs)
    alphabet = _alphabet(globs)
    start = (0, *(g.close[0] for g in globs))
    seen = {start}
    queue = deque([(start, "")])
    found: dict[frozenset[int], str] = {}
    while queue:
        (dots, *masks), word = queue.popleft()
        for ch in alphabet:
            first = _step(a, masks[0], ch)
            if not first:
                continue
            state = (_DOTS_AFTER_DOT[dots] if ch == "." else _ORDINARY, first,
                     *[_step(g, m, ch) if m else 0 for g, m in zip(bs, masks[1:])])
            if state in seen:
                continue
            seen.add(state)
            queue.append((state, word + ch))
            if state[0] == _ORDINARY and first & a.accept:
                sig = frozenset(k for k, (g, m) in enumerate(zip(bs, state[2:])) if m & g.accept)
                if not sig:
                    return {sig: word + ch}
                found.setdefault(sig, word + ch)
    return found
