"""The pattern language of SPEC section 4, case by case, and the two deciders."""
from __future__ import annotations

import pytest
from wcmatch import glob as wc

from lanes.compiler.patterns import compile_pattern, intersect, matches, pattern_problem, uncovered


@pytest.mark.parametrize("pattern,resource,expected", [
    ("foo.py", "foo.py", True),
    ("foo.py", "src/foo.py", False),                 # anchored at the workdir
    ("**/foo.py", "foo.py", True),                   # leading **/: zero or more segments
    ("**/foo.py", "a/b/foo.py", True),
    ("a/**/b", "a/b", True),                         # middle /**/: zero or more
    ("a/**/b", "a/x/y/b", True),
    ("src/api/**", "src/api", False),                # trailing /**: one or more
    ("src/api/**", "src/api/x/y.py", True),
    ("**", "x", True),                               # alone: every path
    ("**", "x/y/z", True),
    ("a**b", "axyb", True),                          # inside a segment: like *
    ("a**b", "ax/yb", False),
    ("*", ".hidden", True),                          # * matches a leading dot
    ("*.py", "a/b.py", False),
    ("?", "ab", False),
    ("[a-c]x", "bx", True),
    ("[!a-c]x", "bx", False),
    ("[!a-c]x", "dx", True),
    ("{a,b/*}/c", "b/x/c", True),                    # braces may hold / and wildcards
    ("{a,b/{c,d}}/e", "b/d/e", True),                # nested
    ("src/", "src/x", True),                         # trailing / means /**
    ("./src/*.py", "src/a.py", True),                # leading ./ dropped
    ("port:80*", "port:8000", True),                 # schemes
    ("port:8000", "db:8000", False),
    ("8000", "port:8000", False),
    ("Src/*", "src/a", False),                       # case-sensitive
])
def test_matches(pattern, resource, expected):
    assert matches(pattern, resource) is expected


@pytest.mark.parametrize("a,b", [
    ("src/api/**", "src/**/test_*.py"),
    ("a/**/b", "a/b"),
    ("**/foo.py", "foo.py"),
    ("**", "deep/down/x"),
    ("port:8000", "port:80*"),
    ("db:users.*", "db:*.email"),
    ("{x,y/*}/z", "y/**"),
    ("a/[!x]*", "a/?b"),
    ("*", ".*"),
])
def test_intersect_finds_a_real_witness(a, b):
    w = intersect(a, b)
    assert w is not None and matches(a, w) and matches(b, w)
    assert intersect(b, a) is not None


@pytest.mark.parametrize("a,b", [
    ("src/api/**", "src/*"),                         # the spec's example
    ("src/api/**", "src/api"),
    ("port:8000", "db:8000"),
    ("port:8000", "8000"),
    ("a/[!x]*", "a/x*"),
    ("*.py", "*.js"),
    ("a/*/b", "a/b"),
    ("[a-c]", "[d-f]"),
    ("**/test_*.py", "src/*.js"),
    (".", "*"),
])
def test_disjoint(a, b):
    assert intersect(a, b) is None


def test_witness_is_short_and_readable():
    assert intersect("src/api/**", "src/**/test_*.py") == "src/api/test_.py"
    assert intersect("**", "**") == "a"


@pytest.mark.parametrize("a,bs,covered", [
    ("a/*", ["a/[!x]*", "a/x*"], True),              # only the union covers it
    ("a/*", ["a/[!x]*"], False),
    ("src/api/**", ["src/**"], True),
    ("src/**", ["src/api/**"], False),
    ("**", ["a/**", "*"], False),
    ("a/**/b", ["a/b", "a/*/b", "a/*/*/**"], True),
    ("port:80*", ["port:8*"], True),
    ("port:80*", ["db:**"], False),
    ("x/{a,b}", ["x/a", "x/b"], True),
    ("x/*", [], False),
])
def test_uncovered(a, bs, covered):
    w = uncovered(a, bs)
    if covered:
        assert w is None
    else:
        assert w is not None and matches(a, w) and not any(matches(b, w) for b in bs)


@pytest.mark.parametrize("text,problem", [
    ("/etc/passwd", "absolute"),
    ("src/../x", ".."),
    ("./../x", ".."),
    ("a/./b", "'.'"),
    ("{a,/b}", "absolute"),
    ("a//b", "empty"),
    ("", "empty"),
    ("port:", "nothing follows"),
    ("./src/", None),
    ("src/**", None),
])
def test_pattern_problem(text, problem):
    found = pattern_problem(text)
    assert (found is None) if problem is None else (problem in found)


def test_literal_prefix():
    assert compile_pattern("src/api/**").literal_prefix == "src/api/"
    assert compile_pattern("{src/a,src/b}/x").literal_prefix == "src/"
    assert compile_pattern("**/x").literal_prefix == ""
    assert compile_pattern("port:80*").scheme == "port"


@pytest.mark.parametrize("pattern,resource", [
    ("src/**/*.py", "src/a/b.py"), ("**/test_*.py", "x/test_a.py"), ("a/{b,c}/*", "a/c/d"),
    ("[!a]*", "bcd"), ("a/**/b", "a/x/b"), ("*", ".hidden"),
])
def test_agrees_with_wcmatch_where_semantics_agree(pattern, resource):
    flags = wc.GLOBSTAR | wc.BRACE | wc.DOTGLOB
    assert matches(pattern, resource) == wc.globmatch(resource, pattern, flags=flags) == True  # noqa: E712
