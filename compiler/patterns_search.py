"""Searches over the characters of one segment, for the deciders in `patterns`:
a shortest segment two globs both match (`meet`, `sample`), and which sets of globs a
segment matched by one glob can also be matched by (`signatures`, for containment).

Searches run over a finite alphabet with one representative of every class of
characters the globs can tell apart (each character they name, plus one character
from every gap between class ranges), so they are exact. Breadth-first order with
readable letters tried first gives short witnesses such as `test_.py` or `a`.
Segments `.` and `..` are not resources (they name a directory itself or its
parent), so the searches track whether the word so far is only dots. Every table
here is a pure memo, cleared when it grows past _CACHE_LIMIT.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import islice, pairwise

from lanes.compiler.patterns_segments import ANY, STAR, Atom, Glob, accepts, is_segment

_READABLE = "abcdefghijklmnopqrstuvwxyz0123456789_"
_DOTS_AFTER_DOT = (1, 2, 3, 3)        # "" -> ".", "." -> "..", ".." -> "...": an ordinary name
_ORDINARY = 3
_CACHE_LIMIT = 1 << 20

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
            if p < len(atoms) and accepts(atoms[p], code):
                out |= close[p] if atoms[p] is STAR else close[p + 1]
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


_ALPHABETS: dict[frozenset[Glob], tuple[str, ...]] = {}


def _alphabet(globs: Iterable[Glob]) -> tuple[str, ...]:
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
    for lo, hi in pairwise(points):
        pick = next((c for c in _READABLE if lo <= ord(c) < hi and ord(c) not in named), None)
        if pick is None:                  # any other member of the gap; printable if one is near
            gap = (c for c in range(lo, hi) if c not in named and c != ord("/"))
            first = list(islice(gap, 600))
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


Signatures = tuple[tuple[frozenset[int], str], ...]
_SIGNATURES: dict[tuple[Glob, tuple[Glob, ...]], Signatures] = {}


def signatures(a: Glob, bs: tuple[Glob, ...]) -> Signatures:
    """For the segments `a` matches: every set of indexes of `bs` that match one of them
    too, minimal sets only (matching fewer of B is always better for escaping B), each
    with a shortest such segment; ordered shortest segment first."""
    key = (a, bs)
    if key in _SIGNATURES:
        return _SIGNATURES[key]
    near = [k for k, b in enumerate(bs) if meet(a, b) is not None]    # the rest never match
    first = a.literal if a.literal is not None else sample(a)
    if first is None or not is_segment(first):
        minimal: Signatures = ()
    elif a.literal is not None:                    # one segment: its set is the only one
        minimal = ((frozenset(k for k in near if bs[k].matches(first)), first),)
    elif not any(bs[k].matches(first) for k in near):
        minimal = ((frozenset(), first),)          # a shortest segment escapes all of them
    else:
        found = _signature_search(a, tuple(bs[k] for k in near))
        minimal = tuple(sorted(((frozenset(near[i] for i in s), w) for s, w in found.items()
                                if not any(o < s for o in found)),
                               key=lambda sw: (len(sw[1]), sw[1])))
    if len(_SIGNATURES) > _CACHE_LIMIT:
        _SIGNATURES.clear()
    _SIGNATURES[key] = minimal
    return minimal


class _Union:
    """Several globs as one automaton: positions side by side in one bitmask, so one
    integer holds where every glob is, and `old & ~new == 0` says `new` is at least
    everywhere `old` is."""

    def __init__(self, globs: tuple[Glob, ...]) -> None:
        self.atoms: list[Atom | None] = []
        self.follow: list[int] = []      # position -> positions after reading a character there
        self.accepts: list[int] = []     # glob -> the bit of its end position
        self.start = 0
        self._tables: dict[str, tuple[int, ...]] = {}
        offset = 0
        for g in globs:
            for i, atom in enumerate(g.atoms):
                self.atoms.append(atom)
                self.follow.append((g.close[i] if atom is STAR else g.close[i + 1]) << offset)
            self.atoms.append(None)
            self.follow.append(0)
            self.start |= g.close[0] << offset
            self.accepts.append(g.accept << offset)
            offset += len(g.atoms) + 1

    def step(self, mask: int, ch: str) -> int:
        table = self._tables.get(ch)
        if table is None:
            code = ord(ch)
            table = self._tables[ch] = tuple(
                f if atom is not None and accepts(atom, code) else 0
                for atom, f in zip(self.atoms, self.follow, strict=True))
        out = 0
        while mask:
            low = mask & -mask
            out |= table[low.bit_length() - 1]
            mask ^= low
        return out


def _signature_search(a: Glob, bs: tuple[Glob, ...]) -> dict[frozenset[int], str]:
    """Breadth first over (dots, positions of `a`, positions of all of `bs` as one mask).
    A state is skipped when an earlier one with the same `a` side had a subset of the B
    positions (whatever follows it, B matches at least as much), and the search stops
    once a segment matched by none of `bs` turns up, since that set is below all others."""
    union = _Union(bs)
    alphabet = _alphabet((a, *bs))
    start = (0, a.close[0], union.start)
    visited: dict[tuple[int, int], list[int]] = {start[:2]: [start[2]]}
    queue = deque([(start, "")])
    found: dict[frozenset[int], str] = {}
    while queue:
        (dots, mask_a, mask_b), word = queue.popleft()
        for ch in alphabet:
            next_a = _step(a, mask_a, ch)
            if not next_a:
                continue
            next_b = union.step(mask_b, ch)
            side = (_DOTS_AFTER_DOT[dots] if ch == "." else _ORDINARY, next_a)
            earlier = visited.get(side)
            if earlier is None:
                visited[side] = [next_b]
            elif any(old & ~next_b == 0 for old in earlier):
                continue
            else:                         # keep only the least B masks (an antichain)
                earlier[:] = [old for old in earlier if next_b & ~old] + [next_b]
            queue.append(((*side, next_b), word + ch))
            if side[0] == _ORDINARY and next_a & a.accept:
                sig = frozenset(k for k, bit in enumerate(union.accepts) if next_b & bit)
                if not sig:
                    return {sig: word + ch}
                found.setdefault(sig, word + ch)
    return found
