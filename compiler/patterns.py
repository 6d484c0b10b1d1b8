"""Resource patterns (SPEC section 4) and two exact deciders over them.

`intersect(a, b)`: a resource both patterns match, or None when there is none.
`uncovered(a, bs)`: a resource `a` matches and no pattern of `bs` does, or None.

Both are searches over small automata, never over resources. An alternative of a
pattern (after brace expansion) is a chain of nodes, one per segment: a segment
glob, or GLOBSTAR meaning zero or more segments (a trailing `/**`, one or more, is
rewritten `/*/**`). Chains are hash-consed: equal suffixes are one object, so
`agent17/src/**` and `agent18/src/**` share their `src/**` tail, and the memo of
the intersection search, keyed by pairs of nodes, answers for every agent after
the first. Segment questions go to `patterns_search`, text to `patterns_syntax`.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from functools import lru_cache
from os.path import commonprefix

from lanes.compiler.patterns_search import meet, sample, signatures
from lanes.compiler.patterns_segments import ANY, Glob, glob, is_segment
from lanes.compiler.patterns_syntax import (
    GLOBSTAR,
    MAX_ALTERNATIVES,
    MAX_LENGTH,
    MAX_SEGMENTS,
    expand_braces,
    literal_head,
    normalise,
    pattern_problem,
    split_scheme,
)
from lanes.dsl.frozen import dataclass, field

__all__ = [
    "GLOBSTAR",
    "MAX_ALTERNATIVES",
    "MAX_LENGTH",
    "MAX_SEGMENTS",
    "Pattern",
    "compile_pattern",
    "expand_braces",
    "intersect",
    "matches",
    "pattern_problem",
    "uncovered",
]

_CACHE_LIMIT = 1 << 20


class _Node:
    """A suffix of an alternative: a segment glob, GLOBSTAR (`star`), or END (no glob, not
    a star, and its own `next`: nothing follows it, and no search steps past it)."""

    __slots__ = ("glob", "next", "skips", "star", "universal")

    def __init__(self, g: Glob | None, star: bool, nxt: _Node | None) -> None:
        self.glob, self.star = g, star
        self.next: _Node = self if nxt is None else nxt
        # nodes reachable on no segment
        self.skips: tuple[_Node, ...] = (self, *self.next.skips) if star else (self,)
        self.universal = star and nxt is _END                    # matches any rest (`**` at the end)


_END = _Node(None, False, None)
_NODES: dict[tuple[str, _Node], _Node] = {}


def _node(segment: str, nxt: _Node) -> _Node:
    key = (segment, nxt)
    n = _NODES.get(key)
    if n is None:
        star = segment == GLOBSTAR
        n = _NODES[key] = _Node(None if star else glob(segment), star, nxt)
    return n


def _chain(segments: Sequence[str]) -> _Node:
    segs = list(segments)
    if segs[-1] == GLOBSTAR:                          # trailing `/**`: one or more segments
        segs[-1:] = ["*", GLOBSTAR]
    node = _END
    for s in reversed(segs):
        if not (s == GLOBSTAR and node.star):         # `**/**` is `**`
            node = _node(s, node)
    return node


@dataclass(frozen=True)
class Pattern:
    """A compiled resource pattern: its alternatives as chains of segment nodes."""

    text: str
    scheme: str                                   # "" for a path
    alternatives: tuple[tuple[str, ...], ...]     # normalised segment texts, one tuple per alternative
    literal_prefix: str                           # every resource matched starts with it (scheme excluded)
    literal: str | None                           # the only resource matched, when nothing is a wildcard
    starts: tuple[_Node, ...] = field(repr=False)
    universal: bool = field(repr=False)           # matches every resource of its scheme


def _literal_path(alt: str, segments: tuple[str, ...]) -> str | None:
    """The alternative itself when it names exactly one resource."""
    if GLOBSTAR in segments or not all(map(is_segment, segments)):
        return None
    return alt if all(glob(s).literal is not None for s in segments) else None


@lru_cache(maxsize=1 << 16)
def compile_pattern(text: str) -> Pattern:
    """Compile a pattern that has no `pattern_problem` (others compile to something that
    matches less or nothing). Raises TooManyAlternatives (a ValueError) past the limit."""
    scheme, rest = split_scheme(text)
    alts = [normalise(a) for a in expand_braces(rest)]
    if len(alts) > 1:
        alts = list(dict.fromkeys(alts))
    segments = tuple(tuple(a.split("/")) for a in alts)
    starts = tuple(dict.fromkeys(map(_chain, segments)))
    literal = _literal_path(alts[0], segments[0]) if len(alts) == 1 else None
    universal = any(n.glob is ANY and n.next.universal for s in starts for n in s.skips)
    # a character prefix, not a path one: `src/api*` gives `src/api`, which every match starts with
    prefix = literal_head(alts[0]) if len(alts) == 1 else commonprefix(list(map(literal_head, alts)))
    return Pattern(text, scheme, segments, prefix, literal, starts, universal)


PatternLike = str | Pattern


def _p(x: PatternLike) -> Pattern:
    return x if isinstance(x, Pattern) else compile_pattern(x)


def _with_scheme(scheme: str, rest: str) -> str:
    return f"{scheme}:{rest}" if scheme else rest


def _may_meet(a: Pattern, b: Pattern) -> bool:
    """Same scheme and literal prefixes that nest; otherwise no resource matches both."""
    pa, pb = a.literal_prefix, b.literal_prefix
    return a.scheme == b.scheme and (pa.startswith(pb) if len(pa) >= len(pb) else pb.startswith(pa))


def _matches_rest(p: Pattern, rest: str) -> bool:
    if p.literal is not None:
        return rest == p.literal
    parts = rest.split("/")
    if not all(map(is_segment, parts)):
        return False
    live = {n for s in p.starts for n in s.skips}
    for part in parts:
        nxt: set[_Node] = set()
        for n in live:
            if n.star:
                nxt.update(n.skips)
            elif n.glob is not None and n.glob.matches(part):
                nxt.update(n.next.skips)
        if not nxt:
            return False
        live = nxt
    return _END in live


def matches(pattern: PatternLike, resource: str) -> bool:
    """Does the pattern match the resource (`scheme:rest`, or a path of non-empty segments
    other than `.` and `..`)?"""
    p = _p(pattern)
    scheme, rest = split_scheme(resource)
    return scheme == p.scheme and _matches_rest(p, rest)


# -- intersection -----------------------------------------------------------------------------

Cost = tuple[int, tuple[str, ...]]               # (length, segments) of a resource both match
_PATHS: dict[tuple[_Node, _Node], Cost | None] = {}
_NOTHING: Cost = (0, ())


def _better(best: Cost | None, cand: Cost | None) -> Cost | None:
    return cand if best is None or (cand is not None and cand < best) else best


def _meet_paths(x: _Node, y: _Node) -> Cost | None:
    """The cheapest (length, segments) both suffixes match, or None. Every move takes a
    step along at least one chain (GLOBSTAR against GLOBSTAR only skips, since eating a
    segment there returns to the same pair), so the recursion ends and is memoised."""
    key = (x, y)
    if key in _PATHS:
        return _PATHS[key]
    best = _NOTHING if x is _END and y is _END else None
    if x.star:
        best = _better(best, _meet_paths(x.next, y))
    if y.star:
        best = _better(best, _meet_paths(x, y.next))
    seg = None
    if x.glob is not None and y.glob is not None:
        seg, rest = meet(x.glob, y.glob), (x.next, y.next)
    elif x.glob is not None and y.star:
        seg, rest = sample(x.glob), (x.next, y)
    elif x.star and y.glob is not None:
        seg, rest = sample(y.glob), (x, y.next)
    if seg is not None:
        tail = _meet_paths(*rest)
        if tail is not None:
            best = _better(best, (tail[0] + len(seg) + 1, (seg, *tail[1])))
    if len(_PATHS) > _CACHE_LIMIT:
        _PATHS.clear()
    _PATHS[key] = best
    return best


def intersect(a: PatternLike, b: PatternLike) -> str | None:
    """A short, readable resource both patterns match, or None when no resource does."""
    pa, pb = _p(a), _p(b)
    if not _may_meet(pa, pb):
        return None
    for lit, other in ((pa, pb), (pb, pa)):
        if lit.literal is not None:
            return _with_scheme(pa.scheme, lit.literal) if _matches_rest(other, lit.literal) else None
    best: Cost | None = None
    for x in pa.starts:
        for y in pb.starts:
            best = _better(best, _meet_paths(x, y))
    return None if best is None else _with_scheme(pa.scheme, "/".join(best[1]))


# -- containment ------------------------------------------------------------------------------

_State = tuple[_Node, frozenset[_Node]]          # (node of A, live nodes of the B chains)

def _escape(xs: tuple[_Node, ...], bs: frozenset[_Node]) -> str | None:
    """A path some chain of `xs` matches and no chain of `bs` does, breadth first over
    (node of A, set of live nodes of all B chains): the union of B is one subset
    automaton, so `a/*` is covered by `a/[!x]*` and `a/x*` together. A state whose live
    set contains one seen before at the same node of A cannot escape where that one
    could not, so it is skipped."""
    live0 = frozenset(n for b in bs for n in b.skips)
    parent: dict[_State, tuple[_State, str] | None] = {}
    earlier: dict[_Node, list[frozenset[_Node]]] = {}   # x -> live sets seen with it
    queue: deque[_State] = deque()
    for x in xs:
        if x not in earlier:
            earlier[x] = [live0]
            parent[(x, live0)] = None
            queue.append((x, live0))
    while queue:
        state = queue.popleft()
        x, live = state
        stars = [n for n in live if n.star]
        segs = [(n, n.glob) for n in live if n.glob is not None]
        for xn in x.skips:
            if xn.star:
                ga, x_next = ANY, xn
            elif xn.glob is not None:
                ga, x_next = xn.glob, xn.next
            else:
                continue                                # END: no segment to read
            # only B globs that share a segment with `ga` can follow it
            globs = tuple(sorted({g for _, g in segs if meet(ga, g) is not None}, key=lambda g: g.text))
            index = {g: k for k, g in enumerate(globs)}
            for sig, word in signatures(ga, globs):
                moved = stars + [n.next for n, g in segs if index.get(g, -1) in sig]
                new_live = frozenset(m for n in moved for m in n.skips)
                seen = earlier.setdefault(x_next, [])
                if any(old <= new_live for old in seen) or any(n.universal for n in new_live):
                    continue        # B is already as far along from here, or matches whatever follows
                seen.append(new_live)
                new = (x_next, new_live)
                parent[new] = (state, word)
                if _END in x_next.skips and _END not in new_live:
                    path = [word]
                    back = parent[state]
                    while back is not None:
                        state, w = back
                        path.append(w)
                        back = parent[state]
                    return "/".join(reversed(path))
                queue.append(new)
    return None


@lru_cache(maxsize=1 << 14)
def _uncovered_chains(xs: tuple[_Node, ...], bs: frozenset[_Node]) -> str | None:
    return _escape(xs, bs)


def uncovered(a: PatternLike, bs: Sequence[PatternLike]) -> str | None:
    """A resource `a` matches and no pattern of `bs` matches, or None when `bs` together
    cover `a`. Exact: the union of `bs` is searched at once."""
    pa = _p(a)
    others = [p for p in map(_p, bs) if _may_meet(pa, p)]
    if pa.literal is not None:
        hit = any(_matches_rest(p, pa.literal) for p in others)
        return None if hit else _with_scheme(pa.scheme, pa.literal)
    if any(p.universal or p.starts == pa.starts for p in others):
        return None
    rest = _uncovered_chains(pa.starts, frozenset(s for p in others for s in p.starts))
    return None if rest is None else _with_scheme(pa.scheme, rest)
