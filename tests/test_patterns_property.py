"""The pattern language and both deciders against a brute-force twin.

The twin is written apart from the code under test: patterns are generated as trees
(so the twin expands braces from the tree, not from the text), each alternative is
translated to a Python regex, and "every resource" is an enumerated universe of
paths over the characters `a`, `b`, `.`. The universe is bounded, so:
- a witness from a decider is checked with the twin regex itself (no bound);
- a None from a decider is checked against every resource of the universe;
- a resource of the universe that shows an overlap (or a gap) forbids a None.
"""
from __future__ import annotations

from functools import cached_property
import itertools
import random
import re

from hypothesis import HealthCheck, given, settings, strategies as st
from wcmatch import glob as wc

from lanes.compiler.patterns import (
    compile_pattern,
    expand_braces,
    intersect,
    matches,
    pattern_problem,
    uncovered,
)
from lanes.compiler.patterns_search import signatures
from lanes.compiler.patterns_segments import glob

# -- the universe ----------------------------------------------------------------------------

CHARS = "ab."


def _words(n: int) -> list[str]:
    return ["".join(p) for p in itertools.product(CHARS, repeat=n)]


S2 = [w for n in (1, 2) for w in _words(n) if w not in (".", "..")]
S3 = S2 + _words(3)


def _paths(segments: list[str], counts) -> set[str]:
    return {"/".join(p) for n in counts for p in itertools.product(segments, repeat=n)}


UNIVERSE = sorted(_paths(S2, (1, 2, 3)) | _paths(S3, (1, 2)) | _paths(["a", "b"], (4, 5)))

# -- patterns as trees -----------------------------------------------------------------------
# A tree is a tuple of nodes: a string (segment text or "/") or a tuple of alternatives
# (a brace group), each alternative itself a tree. Segments and groups come from pools
# built once with a fixed seed, simplest first, so a pattern takes a few draws (fast) and
# shrinks toward simple patterns.

TOKENS = ["a", "b", ".", "*", "?", "[ab]", "[!a]", "[^b]", "[a-b]", "[!ab]", "[.a]"]
_rnd = random.Random(20261124)
_SEQS = [p for n in (1, 2) for p in itertools.product(TOKENS, repeat=n)]
SEGMENTS = ["**", *("".join(p) for p in _SEQS),
            *("".join(p) for p in _rnd.sample(list(itertools.product(TOKENS, repeat=3)), 200))]


def _alternative(in_segment: bool) -> tuple:
    seq = "".join(_rnd.choice(_SEQS))
    if in_segment:
        return _rnd.choice([(seq,), (seq,), ()])
    kind = _rnd.randrange(5)
    if kind == 0:
        return (seq, "/", "".join(_rnd.choice(_SEQS)))
    if kind == 1:
        return (seq, tuple(_alternative(True) for _ in range(2)))       # nested group
    if kind == 2:
        return ("**", "/", "a")
    return (seq,)


GROUPS = sorted({tuple(_alternative(k % 2 == 0) for _ in range(2 + k % 3)) for k in range(600)},
                key=lambda g: (len(repr(g)), repr(g)))


_segments = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3)
_groups = st.lists(st.tuples(st.integers(0, 6), st.sampled_from(GROUPS)), max_size=2)
_ends = st.integers(0, 19)


@st.composite
def trees(draw):
    """Up to three segments, up to two brace groups anywhere (so `//` and other
    unusable patterns come up too), sometimes a leading `./` or a trailing `/`."""
    segs = draw(_segments)
    tree = [segs[0]]
    for seg in segs[1:]:
        tree += ["/", seg]
    for at, group in draw(_groups):
        tree.insert(min(at, len(tree)), group)
    ends = draw(_ends)
    return (*(("./",) if ends == 1 else ()), *tree, *(("/",) if ends == 2 else ()))


def render(tree) -> str:
    return "".join(n if isinstance(n, str) else "{" + ",".join(map(render, n)) + "}" for n in tree)


def twin_expand(tree) -> list[str]:
    choices = [[n] if isinstance(n, str) else [w for alt in n for w in twin_expand(alt)] for n in tree]
    return ["".join(p) for p in itertools.product(*choices)]


def twin_alternatives(tree) -> list[str] | None:
    """Normalised alternatives, or None when the pattern is unusable."""
    out = []
    for alt in dict.fromkeys(w for w in twin_expand(tree) if w):
        if alt.startswith("/"):
            return None
        while alt[:2] == "./":
            alt = alt[2:]
        if alt.endswith("/"):
            alt += "**"
        if not alt or any(s in ("", ".", "..") for s in alt.split("/")):
            return None
        out.append(alt)
    return out or None


def twin_segment(seg: str) -> str:
    out, i = "", 0
    while i < len(seg):
        c = seg[i]
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            j = seg.index("]", i + 2)
            body = seg[i + 1:j].replace("[", "\\[")
            if body[0] in "!^":
                out += "[^/" + body[1:] + "]"
            else:
                out += "[" + body + "]"
            i = j
        else:
            out += re.escape(c)
        i += 1
    return out


def twin_regex(alternatives: list[str]) -> re.Pattern:
    rx = []
    for alt in alternatives:
        segs = alt.split("/")
        out = ""
        for i, s in enumerate(segs):
            last = i == len(segs) - 1
            if s == "**":
                out += "[^/]+(?:/[^/]+)*" if last else "(?:[^/]+/)*"
            else:
                out += twin_segment(s) + ("" if last else "/")
        rx.append(out)
    return re.compile("|".join(f"(?:{r})" for r in rx))


def resource_ok(r: str) -> bool:
    return all(s not in ("", ".", "..") for s in r.split("/"))


class Twin:
    """A pattern as the twin sees it: its text, regex and matches in the universe."""

    def __init__(self, tree) -> None:
        self.tree = tree
        self.text = render(tree)
        self.alternatives = twin_alternatives(tree)
        self.regex = twin_regex(self.alternatives) if self.alternatives else None

    def __call__(self, resource: str) -> bool:
        return resource_ok(resource) and self.regex.fullmatch(resource) is not None

    @cached_property
    def universe(self) -> list[str]:
        return [r for r in UNIVERSE if self.regex.fullmatch(r)]


# Many alternatives make the containment search exponential in principle (it is a subset
# construction); real domains have a few, so the properties keep to eight.
valid = trees().map(Twin).filter(lambda t: t.alternatives is not None and len(t.alternatives) <= 8)


def substitute(tree, old: str, new: str):
    """The tree with the first `old` in a segment text (a regex) replaced, or None."""
    done = False

    def walk(node):
        nonlocal done
        if isinstance(node, tuple):
            return tuple(tuple(walk(n) for n in alt) for alt in node)
        m = None if done or node in ("/", "./") else re.search(old, node)
        if m is None:
            return node
        done = True
        return node[:m.start()] + new + node[m.end():]

    out = tuple(walk(n) for n in tree)
    return out if done else None


LONE_STAR = r"(?<!\*)\*(?!\*)"
# Pieces that together match exactly what the replaced part matched (so the union of the
# pieces covers the pattern), and widenings (so the wider pattern covers it).
PARTITIONS = [("\\?", ["[ab]", "[!ab]"]), (LONE_STAR, ["", "[ab]*", "[!ab]*"]),
              (re.escape("[!a]"), ["b", "[!ab]"]), (re.escape("[ab]"), ["a", "b"]),
              (r"^\*\*$", ["*", "*/**"])]
WIDENINGS = [("a", "?"), (re.escape("[ab]"), "*"), (r"\?", "*"), (r"\.", "[.a]"), ("^", "**/")]


@st.composite
def cover_cases(draw):
    """A pattern and 0-4 others that often cover it only together."""
    a = draw(valid)
    bs = draw(st.lists(valid, max_size=2))
    old, pieces = draw(st.sampled_from(PARTITIONS))
    for piece in pieces:
        tree = substitute(a.tree, old, piece)
        if tree is not None and draw(st.integers(0, 4)):
            bs.append(Twin(tree))
    old, new = draw(st.sampled_from(WIDENINGS))
    tree = substitute(a.tree, old, new)
    if tree is not None and draw(st.booleans()):
        bs.append(Twin(tree))
    return a, [b for b in bs if b.alternatives is not None]

SETTINGS = settings(max_examples=2000, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@SETTINGS
@given(trees())
def test_problems_and_braces_agree_with_the_twin(tree):
    text = render(tree)
    if len({w for w in twin_expand(tree) if w}) > 1024:
        assert "alternatives" in pattern_problem(text)
        return
    assert (pattern_problem(text) is None) == (twin_alternatives(tree) is not None), text
    assert set(expand_braces(text)) == {w for w in twin_expand(tree) if w}, text


@SETTINGS
@given(valid, st.lists(st.sampled_from(UNIVERSE), min_size=10, max_size=10))
def test_matches_agrees_with_the_twin(t, resources):
    for r in resources:
        assert matches(t.text, r) == t(r), (t.text, r)
    prefix = compile_pattern(t.text).literal_prefix
    assert all(r.startswith(prefix) for r in t.universe), (t.text, prefix)


def wcmatch_text(text: str) -> str:
    """wcmatch keeps a leading `./` and reads a trailing `/` as "a directory"; we drop the
    one and read the other as `/**` (SPEC), so say that to wcmatch in its own terms."""
    while text.startswith("./"):
        text = text[2:]
    return text + "**" if text.endswith("/") else text


@settings(SETTINGS, max_examples=1000)
@given(valid, st.lists(st.sampled_from(UNIVERSE), min_size=10, max_size=10))
def test_the_twin_agrees_with_wcmatch(t, resources):
    """The twin is itself checked against an independent glob library."""
    flags = wc.GLOBSTAR | wc.BRACE | wc.DOTGLOB
    for r in resources + t.universe[:10]:
        assert t(r) == wc.globmatch(r, wcmatch_text(t.text), flags=flags), (t.text, r)


SEGMENT_WORDS = [w for n in (1, 2, 3) for w in map("".join, itertools.product("ab.c", repeat=n))
                 if w not in (".", "..")]


@settings(SETTINGS, max_examples=1000)
@given(st.sampled_from(SEGMENTS[1:]), st.lists(st.sampled_from(SEGMENTS[1:]), max_size=5, unique=True))
def test_segment_signatures_are_exactly_the_least_sets(a, bs):
    """For every segment `a` matches: the set of `bs` that match it too. `signatures` must
    return exactly the least of these sets, each with a segment that has it."""
    def regex(g):
        return re.compile(twin_segment(g.replace("**", "*")))
    ra, rbs = regex(a), [regex(b) for b in bs]

    def sig(word):
        return frozenset(k for k, rb in enumerate(rbs) if rb.fullmatch(word))

    got = signatures(glob(a), tuple(glob(b) for b in bs))
    for s, word in got:
        assert ra.fullmatch(word) and word not in (".", "..") and sig(word) == s, (a, bs, s, word)
        assert not any(o < s for o, _ in got)
    for word in SEGMENT_WORDS:
        if ra.fullmatch(word):
            assert any(s <= sig(word) for s, _ in got), (a, bs, word, got)


@SETTINGS
@given(valid, valid)
def test_intersect_agrees_with_the_twin(a, b):
    w = intersect(a.text, b.text)
    if w is None:
        both = [r for r in a.universe if b.regex.fullmatch(r)]
        assert not both, (a.text, b.text, both[:3])
    else:
        assert a(w) and b(w), (a.text, b.text, w)
        shorter = [r for r in a.universe if len(r) < len(w) and b.regex.fullmatch(r)]
        assert not shorter, (a.text, b.text, w, shorter[:3])        # the witness is a shortest
    assert (intersect(b.text, a.text) is None) == (w is None)


@SETTINGS
@given(cover_cases())
def test_uncovered_agrees_with_the_twin(case):
    a, bs = case
    w = uncovered(a.text, [b.text for b in bs])
    if w is None:
        left = [r for r in a.universe if not any(b.regex.fullmatch(r) for b in bs)]
        assert not left, (a.text, [b.text for b in bs], left[:3])
    else:
        assert a(w) and not any(b(w) for b in bs), (a.text, [b.text for b in bs], w)


@settings(SETTINGS, max_examples=500)
@given(valid, valid)
def test_schemes_follow_the_same_rules_and_never_mix(a, b):
    plain = intersect(a.text, b.text)
    schemed = intersect("db:" + a.text, "db:" + b.text)
    assert (schemed is None) == (plain is None)
    assert schemed is None or (schemed.startswith("db:") and a(schemed[3:]) and b(schemed[3:]))
    assert intersect("db:" + a.text, "port:" + b.text) is None
    assert intersect("db:" + a.text, b.text) is None
    alone = uncovered(a.text, [])
    assert uncovered("db:" + a.text, ["port:**", "**"]) == (alone and "db:" + alone)
