"""Both deciders against a brute-force twin: an independent regex translation of the
pattern language and every resource up to a small bound."""
from __future__ import annotations

import itertools
import re

from hypothesis import HealthCheck, given, settings, strategies as st

from lanes.compiler.patterns import intersect, uncovered

ALPHABET = "ab."
SEGMENTS = [s for n in (1, 2) for s in map("".join, itertools.product(ALPHABET, repeat=n))
            if s not in (".", "..")]
UNIVERSE = ["/".join(p) for n in (1, 2, 3) for p in itertools.product(SEGMENTS, repeat=n)]


def expand(text: str) -> list[str]:
    """Brace expansion, written apart from the one under test."""
    m = re.search(r"\{([^{}]*,[^{}]*)\}", text)          # innermost group with a comma
    if not m:
        return [text]
    return [y for alt in m.group(1).split(",") for y in expand(text[:m.start()] + alt + text[m.end():])]


def seg_regex(seg: str) -> str:
    out, i = "", 0
    while i < len(seg):
        c = seg[i]
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            j = seg.index("]", i)
            body = seg[i + 1:j]
            out += "[^/" + re.escape(body[1:]) + "]" if body.startswith("!") else "[" + re.escape(body) + "]"
            i = j
        else:
            out += re.escape(c)
        i += 1
    return out


def to_regex(pattern: str) -> re.Pattern:
    alts = []
    for alt in expand(pattern):
        segs = alt.split("/")
        out = ""
        for i, s in enumerate(segs):
            last = i == len(segs) - 1
            if s == "**":
                out += "[^/]+(?:/[^/]+)*" if last else "(?:[^/]+/)*"
            else:
                out += seg_regex(s.replace("**", "*")) + ("" if last else "/")
        alts.append(out)
    return re.compile("(?:" + "|".join(f"(?:{a})" for a in alts) + r")\Z")


def brute(pattern: str, resource: str) -> bool:
    return to_regex(pattern).match(resource) is not None and "//" not in resource


atom = st.sampled_from(["a", "b", ".", "*", "?", "[ab]", "[!a]", "[a-b]"])
plain_segment = st.lists(atom, min_size=1, max_size=3).map("".join)
segment = st.one_of(plain_segment, plain_segment, st.just("**"),
                    st.tuples(plain_segment, plain_segment).map(lambda t: "{%s,%s}" % t),
                    st.tuples(plain_segment, plain_segment).map(lambda t: "{%s,%s/*}" % t))
pattern = st.lists(segment, min_size=1, max_size=3).map("/".join).filter(
    lambda p: all(s not in (".", "..") for alt in expand(p) for s in alt.split("/")))

SETTINGS = settings(max_examples=1500, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@SETTINGS
@given(pattern, pattern)
def test_intersect_agrees_with_brute_force(a, b):
    w = intersect(a, b)
    if w is None:
        assert not [r for r in UNIVERSE if brute(a, r) and brute(b, r)]
    else:
        assert brute(a, w) and brute(b, w), w
        assert all(s not in (".", "..") for s in w.split("/"))


@SETTINGS
@given(pattern, st.lists(pattern, max_size=3))
def test_uncovered_agrees_with_brute_force(a, bs):
    w = uncovered(a, bs)
    if w is None:
        assert not [r for r in UNIVERSE if brute(a, r) and not any(brute(b, r) for b in bs)]
    else:
        assert brute(a, w) and not any(brute(b, w) for b in bs), w


@SETTINGS
@given(pattern, pattern)
def test_schemes_follow_the_same_rules_and_never_mix(a, b):
    assert (intersect("db:" + a, "db:" + b) is None) == (intersect(a, b) is None)
    assert intersect("db:" + a, "port:" + b) is None
    assert intersect("db:" + a, b) is None
