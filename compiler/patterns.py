"""Resource patterns (SPEC section 4) and two exact deciders over them.

`intersect(a, b)`: a resource both patterns match, or None when there is none.
`uncovered(a, bs)`: a resource `a` matches and no pattern of `bs` does, or None.

Both are searches over small automata, not over resources. A pattern is a list
of segments; a segment is either GLOBSTAR (zero or more path segments) or a
glob over characters. A trailing `/**` (one or more segments) is rewritten as
`/*/**`, so every GLOBSTAR means "zero or more". Characters are searched over a
finite alphabet that has one representative of every class of characters the
patterns can tell apart, so the search is exact. Breadth-first order gives the
shortest witness, and readable letters are tried first, so a witness reads like
`src/api/test_.py`, not like `src/api/a/a/test_.py`.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import lru_cache
import re
from typing import Sequence, Union

GLOBSTAR = "**"
_SCHEME = re.compile(r"([a-z0-9]+):(.*)\Z", re.S)
_READABLE = "abcdefghijklmnopqrstuvwxyz0123456789_"
MAX_ALTERNATIVES = 1024

# A segment glob is a tuple of atoms: ("c", ch) literal, ("?",) any one character,
# ("*",) any run, ("[", ranges, negated) a class; ranges are (lo, hi) code points.
Atom = tuple


@dataclass(frozen=True)
class Pattern:
    text: str
    scheme: str                                     # "" for a path
    alternatives: tuple[tuple[object, ...], ...]    # segments: GLOBSTAR or a tuple of atoms
    literal_prefix: str                             # every match starts with it (scheme excluded)


def _split_scheme(text: str) -> tuple[str, str]:
    m = _SCHEME.match(text)
    return (m.group(1), m.group(2)) if m else ("", text)


def expand_braces(text: str) -> list[str]:
    """`a/{b,c/{d,e}}` -> a/b, a/c/d, a/c/e. A brace without a matching close or
    without a top-level comma is literal."""
    depth, start = 0, -1
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                inner, parts, level, last = text[start + 1:i], [], 0, 0
                for j, c in enumerate(inner):
                    if c == "{":
                        level += 1
                    elif c == "}" and level:
                        level -= 1
                    elif c == "," and level == 0:
                        parts.append(inner[last:j])
                        last = j + 1
                if not parts:                       # `{x}`: literal braces, look further on
                    rest = expand_braces(text[i + 1:])
                    return [text[:i + 1] + r for r in rest]
                parts.append(inner[last:])
                head, tails = text[:start], expand_braces(text[i + 1:])
                out = []
                for p in parts:
                    for q in expand_braces(p):
                        for t in tails:
                            out.append(head + q + t)
                            if len(out) > MAX_ALTERNATIVES:
                                raise ValueError(f"more than {MAX_ALTERNATIVES} brace alternatives")
                return out
    return [text]


def _normalise(alt: str) -> str:
    while alt.startswith("./"):
        alt = alt[2:]
    if alt.endswith("/") and alt.strip("/"):
        alt = alt.rstrip("/") + "/**"
    return alt


def pattern_problem(text: str) -> str | None:
    """Why a pattern cannot be used (E303 and malformed patterns), or None."""
    scheme, rest = _split_scheme(text)
    if not rest:
        return "the pattern is empty"
    try:
        alternatives = expand_braces(rest)
    except ValueError as exc:
        return str(exc)
    for alt in alternatives:
        if alt.startswith("/"):
            return "it is absolute (starts with '/'); patterns are relative to the workdir"
        alt = _normalise(alt)
        if not alt:
            return "the pattern is empty"
        segments = alt.split("/")
        if any(s in (".", "..") for s in segments):
            return "it has a '.' or '..' segment; patterns may not leave or restate the workdir"
        if any(s == "" for s in segments):
            return "it has an empty segment ('//')"
    return None


def _segment(text: str) -> tuple[Atom, ...]:
    atoms: list[Atom] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "*":
            while i + 1 < len(text) and text[i + 1] == "*":   # `a**b` is `a*b`
                i += 1
            atoms.append(("*",))
        elif ch == "?":
            atoms.append(("?",))
        elif ch == "[":
            j = i + 1
            negated = j < len(text) and text[j] in "!^"
            if negated:
                j += 1
            k = j + 1 if j < len(text) and text[j] == "]" else j   # `[]x]`: ']' is a member
            close = text.find("]", k)
            if close < 0:
                atoms.append(("c", "["))
            else:
                body, ranges, n = text[j:close], [], 0
                while n < len(body):
                    if n + 2 < len(body) and body[n + 1] == "-":
                        lo, hi = ord(body[n]), ord(body[n + 2])
                        if lo <= hi:
                            ranges.append((lo, hi))
                        n += 3
                    else:
                        ranges.append((ord(body[n]), ord(body[n])))
                        n += 1
                atoms.append(("[", tuple(ranges), negated))
                i = close
        else:
            atoms.append(("c", ch))
        i += 1
    return tuple(atoms)


def _literal_prefix(alt: str) -> str:
    m = re.search(r"[*?\[]", alt)
    return alt if m is None else alt[:m.start()]


@lru_cache(maxsize=65536)
def compile_pattern(text: str) -> Pattern:
    scheme, rest = _split_scheme(text)
    alts = []
    prefixes = []
    for alt in expand_braces(rest):
        alt = _normalise(alt)
        segments: list[object] = [GLOBSTAR if s == GLOBSTAR else _segment(s) for s in alt.split("/")]
        if segments[-1] == GLOBSTAR:                     # trailing `/**`: one or more segments
            segments[-1:] = [(("*",),), GLOBSTAR]
        collapsed: list[object] = []
        for s in segments:                               # `**/**` is `**`
            if not (s == GLOBSTAR and collapsed and collapsed[-1] == GLOBSTAR):
                collapsed.append(s)
        alts.append(tuple(collapsed))
        prefixes.append(_literal_prefix(alt))
    common = prefixes[0]
    for p in prefixes[1:]:
        n = 0
        while n < min(len(common), len(p)) and common[n] == p[n]:
            n += 1
        common = common[:n]
    return Pattern(text, scheme, tuple(dict.fromkeys(alts)), common)


PatternLike = Union[str, Pattern]


def _p(x: PatternLike) -> Pattern:
    return x if isinstance(x, Pattern) else compile_pattern(x)


# -- characters -------------------------------------------------------------------------------

def _accepts(atom: Atom, ch: str) -> bool:
    kind = atom[0]
    if kind == "c":
        return atom[1] == ch
    if kind in ("?", "*"):
        return True
    code = ord(ch)
    inside = any(lo <= code <= hi for lo, hi in atom[1])
    return inside != atom[2]


def _alphabet(globs: Sequence[tuple[Atom, ...]]) -> tuple[str, ...]:
    """One character from every class the globs can tell apart, readable ones first."""
    special: set[int] = set()
    cuts: set[int] = set()
    for g in globs:
        for atom in g:
            if atom[0] == "c":
                special.add(ord(atom[1]))
            elif atom[0] == "[":
                for lo, hi in atom[1]:
                    if lo == hi:
                        special.add(lo)
                    else:
                        cuts.update((lo, hi + 1))
    special.discard(ord("/"))
    points = sorted(cuts)
    intervals = list(zip([0, *points], [*points, 0x110000]))
    chosen = {chr(c) for c in special}
    for lo, hi in intervals:
        pick = next((c for c in _READABLE if lo <= ord(c) < hi and ord(c) not in special), None)
        if pick is None:
            pick = next((chr(c) for c in range(lo, min(hi, lo + 512))
                         if c not in special and c != ord("/") and chr(c).isprintable()), None)
        if pick is not None:
            chosen.add(pick)
    return tuple(sorted(chosen, key=lambda c: (c not in _READABLE, _READABLE.find(c), c)))


def _closure(glob: tuple[Atom, ...], positions) -> frozenset:
    out = set(positions)
    stack = list(positions)
    while stack:
        p = stack.pop()
        if p < len(glob) and glob[p][0] == "*" and p + 1 not in out:
            out.add(p + 1)
            stack.append(p + 1)
    return frozenset(out)


def _step(glob: tuple[Atom, ...], positions: frozenset, ch: str) -> frozenset:
    nxt = set()
    for p in positions:
        if p < len(glob) and _accepts(glob[p], ch):
            nxt.add(p if glob[p][0] == "*" else p + 1)
    return _closure(glob, nxt)


_ANY_SEGMENT = (("*",),)


def _dots(word: str) -> str:
    """`.` and `..` are not resources (they name the directory itself or its parent),
    so searches keep words that are still only dots apart from the others."""
    return word if word in ("", ".", "..") else "*"


@lru_cache(maxsize=200000)
def _signatures(a: tuple[Atom, ...], bs: tuple[tuple[Atom, ...], ...]) -> tuple[tuple[frozenset, str], ...]:
    """For a non-empty segment s matched by glob `a`: every achievable set of the
    globs `bs` that also match s, each with a shortest such s, minimal sets only."""
    globs = (a, *bs)
    alphabet = _alphabet(globs)
    start = (_dots(""), *(_closure(g, (0,)) for g in globs))
    seen = {start: ""}
    queue = deque([start])
    found: dict[frozenset, str] = {}
    while queue:
        config = queue.popleft()
        word = seen[config]
        for ch in alphabet:
            nxt = (_dots(word + ch), *(_step(g, pos, ch) for g, pos in zip(globs, config[1:])))
            if not nxt[1] or nxt in seen:
                continue
            seen[nxt] = word + ch
            queue.append(nxt)
            if len(a) in nxt[1] and nxt[0] == "*":
                sig = frozenset(k for k, (g, pos) in enumerate(zip(bs, nxt[2:])) if len(g) in pos)
                found.setdefault(sig, word + ch)
    minimal = [(s, w) for s, w in found.items() if not any(o < s for o in found)]
    return tuple(sorted(minimal, key=lambda sw: (len(sw[1]), sorted(sw[0]), sw[1])))


@lru_cache(maxsize=200000)
def _segment_meet(a: tuple[Atom, ...], b: tuple[Atom, ...]) -> str | None:
    """A shortest non-empty segment both globs match, or None."""
    for lit, other in ((a, b), (b, a)):                  # fast path: one side is plain text
        if all(atom[0] == "c" for atom in lit):
            text = "".join(atom[1] for atom in lit)
            return text if text not in (".", "..") and _glob_match(other, text) else None
    alphabet = _alphabet((a, b))
    start = (_dots(""), _closure(a, (0,)), _closure(b, (0,)))
    seen = {start}
    queue = deque([(start, "")])
    while queue:
        (_, pa, pb), word = queue.popleft()
        for ch in alphabet:
            w = word + ch
            nxt = (_dots(w), _step(a, pa, ch), _step(b, pb, ch))
            if not nxt[1] or not nxt[2] or nxt in seen:
                continue
            if len(a) in nxt[1] and len(b) in nxt[2] and nxt[0] == "*":
                return w
            seen.add(nxt)
            queue.append((nxt, w))
    return None


def _witness_of(glob: tuple[Atom, ...]) -> str | None:
    return _segment_meet(glob, _ANY_SEGMENT)


# -- paths ------------------------------------------------------------------------------------

def _glob_match(glob: tuple[Atom, ...], segment: str) -> bool:
    pos = _closure(glob, (0,))
    for ch in segment:
        pos = _step(glob, pos, ch)
        if not pos:
            return False
    return len(glob) in pos


def _path_closure(segs, positions) -> set:
    out = set(positions)
    stack = list(positions)
    while stack:
        p = stack.pop()
        if p < len(segs) and segs[p] == GLOBSTAR and p + 1 not in out:
            out.add(p + 1)
            stack.append(p + 1)
    return out


def matches(pattern: PatternLike, resource: str) -> bool:
    p = _p(pattern)
    scheme, rest = _split_scheme(resource)
    if scheme != p.scheme or not rest:
        return False
    parts = rest.split("/")
    if any(not s for s in parts):
        return False
    for segs in p.alternatives:
        pos = _path_closure(segs, {0})
        for part in parts:
            nxt = set()
            for i in pos:
                if i < len(segs):
                    if segs[i] == GLOBSTAR:
                        nxt.add(i)
                    elif _glob_match(segs[i], part):
                        nxt.add(i + 1)
            pos = _path_closure(segs, nxt)
            if not pos:
                break
        if len(segs) in pos:
            return True
    return False


def _with_scheme(scheme: str, segments: list[str]) -> str:
    path = "/".join(segments)
    return f"{scheme}:{path}" if scheme else path


def _prefixes_diverge(a: Pattern, b: Pattern) -> bool:
    n = min(len(a.literal_prefix), len(b.literal_prefix))
    return a.literal_prefix[:n] != b.literal_prefix[:n]


def _intersect_alts(x: tuple, y: tuple) -> list[str] | None:
    """Shortest list of segments matched by both segment sequences (breadth first over
    pairs of positions; a GLOBSTAR may also be skipped without consuming)."""
    def closure(state):
        out = [state]
        for a, b in out:
            if a < len(x) and x[a] == GLOBSTAR and (a + 1, b) not in out:
                out.append((a + 1, b))
            if b < len(y) and y[b] == GLOBSTAR and (a, b + 1) not in out:
                out.append((a, b + 1))
        return out

    start = (0, 0)
    parent: dict = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        for i, j in closure(state):
            if i >= len(x) or j >= len(y):
                continue
            xi, yj = x[i], y[j]
            if xi == GLOBSTAR and yj == GLOBSTAR:
                nxt, seg = (i, j), "a"
            elif xi == GLOBSTAR:
                nxt, seg = (i, j + 1), _witness_of(yj)
            elif yj == GLOBSTAR:
                nxt, seg = (i + 1, j), _witness_of(xi)
            else:
                nxt, seg = (i + 1, j + 1), _segment_meet(xi, yj)
            if seg is None or nxt in parent:
                continue
            parent[nxt] = (state, seg)
            if (len(x), len(y)) in closure(nxt):
                out = [seg]
                back = state
                while parent[back] is not None:
                    back, s = parent[back]
                    out.append(s)
                return out[::-1]
            queue.append(nxt)
    return None


def intersect(a: PatternLike, b: PatternLike) -> str | None:
    pa, pb = _p(a), _p(b)
    if pa.scheme != pb.scheme or _prefixes_diverge(pa, pb):
        return None
    best = None
    for x in pa.alternatives:
        for y in pb.alternatives:
            segs = _intersect_alts(x, y)
            if segs is not None:
                w = _with_scheme(pa.scheme, segs)
                if best is None or (len(w), w) < (len(best), best):
                    best = w
    return best


def uncovered(a: PatternLike, bs: Sequence[PatternLike]) -> str | None:
    """A resource matched by `a` and by no pattern of `bs` (the union at once), or None."""
    pa = _p(a)
    others = [p for p in map(_p, bs) if p.scheme == pa.scheme and not _prefixes_diverge(pa, p)]
    b_alts = [alt for p in others for alt in p.alternatives]
    best = None
    for x in pa.alternatives:
        segs = _escape(x, tuple(b_alts))
        if segs is not None:
            w = _with_scheme(pa.scheme, segs)
            if best is None or (len(w), w) < (len(best), best):
                best = w
    return best


def _b_closure(b_alts, states) -> frozenset:
    out = set(states)
    stack = list(states)
    while stack:
        k, j = stack.pop()
        alt = b_alts[k]
        if j < len(alt) and alt[j] == GLOBSTAR and (k, j + 1) not in out:
            out.add((k, j + 1))
            stack.append((k, j + 1))
    return frozenset(out)


def _escape(x: tuple, b_alts: tuple) -> list[str] | None:
    """Search for a path of `x` that every alternative of B fails: states are (position
    in x, the set of live B positions); the B side is tracked as a subset, so the
    union of B is decided at once."""
    def a_closure(i):
        out = [i]
        while out[-1] < len(x) and x[out[-1]] == GLOBSTAR:
            out.append(out[-1] + 1)
        return out

    start_b = _b_closure(b_alts, {(k, 0) for k in range(len(b_alts))})
    start = (0, start_b)
    parent: dict = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        i0, live = state
        for i in a_closure(i0):
            if i >= len(x):
                continue
            glob = _ANY_SEGMENT if x[i] == GLOBSTAR else x[i]
            nxt_i = i if x[i] == GLOBSTAR else i + 1
            stars = [(k, j) for k, j in live if j < len(b_alts[k]) and b_alts[k][j] == GLOBSTAR]
            segs = sorted({(k, j) for k, j in live if j < len(b_alts[k]) and b_alts[k][j] != GLOBSTAR})
            for sig, word in _signatures(glob, tuple(b_alts[k][j] for k, j in segs)):
                moved = set(stars) | {(segs[n][0], segs[n][1] + 1) for n in sig}
                new = (nxt_i, _b_closure(b_alts, moved))
                if new in parent:
                    continue
                parent[new] = (state, word)
                accepted_b = any(j == len(b_alts[k]) for k, j in new[1])
                if len(x) in a_closure(nxt_i) and not accepted_b:
                    out = [word]
                    back = state
                    while parent[back] is not None:
                        back, w = parent[back]
                        out.append(w)
                    return out[::-1]
                queue.append(new)
    return None
