"""The pattern language of SPEC section 4, case by case, and the two deciders.

Every witness a decider returns is checked with `matches` against the patterns and,
where the semantics agree, against wcmatch as an independent matcher. They agree on
everything here once a pattern is normalised (wcmatch keeps a leading `./` and reads
a trailing `/` as "a directory"; SPEC drops the one and reads the other as `/**`).
They differ on purpose in two places: a backslash is an ordinary character here (an
escape in wcmatch), and `.`/`..` are never resources here.
"""
from __future__ import annotations

import pytest
from wcmatch import glob as wc

from lanes.compiler.patterns import (
    MAX_ALTERNATIVES,
    MAX_LENGTH,
    MAX_SEGMENTS,
    compile_pattern,
    expand_braces,
    intersect,
    matches,
    pattern_problem,
    uncovered,
)
from lanes.compiler.patterns_search import signatures
from lanes.compiler.patterns_segments import glob

WC_FLAGS = wc.GLOBSTAR | wc.BRACE | wc.DOTGLOB


def wcmatch(pattern: str, resource: str) -> bool:
    scheme, _, rest = pattern.partition(":") if ":" in pattern else ("", "", pattern)
    r_scheme, _, r_rest = resource.partition(":") if ":" in resource else ("", "", resource)
    while rest.startswith("./"):
        rest = rest[2:]
    rest = rest + "**" if rest.endswith("/") else rest
    return scheme == r_scheme and wc.globmatch(r_rest, rest, flags=WC_FLAGS)


def assert_witness(w: str | None, *patterns: str) -> None:
    assert w is not None
    for p in patterns:
        assert matches(p, w), (p, w)
        assert wcmatch(p, w), (p, w)


# -- matching ---------------------------------------------------------------------------------

@pytest.mark.parametrize("pattern,resource,expected", [
    ("foo.py", "foo.py", True),
    ("foo.py", "src/foo.py", False),                 # anchored at the workdir
    ("**/foo.py", "foo.py", True),                   # leading **/: zero or more segments
    ("**/foo.py", "a/b/foo.py", True),
    ("**/foo.py", "a/b/foo.pyc", False),
    ("a/**/b", "a/b", True),                         # middle /**/: zero or more
    ("a/**/b", "a/x/y/b", True),
    ("a/**/b", "a/x/y/c", False),
    ("a/**/**/b", "a/b", True),
    ("src/api/**", "src/api", False),                # trailing /**: one or more
    ("src/api/**", "src/api/x", True),
    ("src/api/**", "src/api/x/y.py", True),
    ("**", "x", True),                               # alone: every path
    ("**", "x/y/z", True),
    ("**/**", "x", True),
    ("a**b", "axyb", True),                          # inside a segment: like *
    ("a**b", "ab", True),
    ("a**b", "ax/yb", False),
    ("***", "x", True),
    ("***", "x/y", False),
    ("*", ".hidden", True),                          # * matches a leading dot
    ("?hidden", ".hidden", True),
    ("[!a]hidden", ".hidden", True),
    ("*", "a/b", False),
    ("*.py", "a/b.py", False),
    ("*.py", ".py", True),                           # * matches the empty run
    ("?", "ab", False),
    ("?", "a", True),
    ("[abc]x", "bx", True),
    ("[a-c]x", "bx", True),
    ("[a-c]x", "dx", False),
    ("[!a-c]x", "bx", False),
    ("[!a-c]x", "dx", True),
    ("[^a-c]x", "dx", True),                         # ^ negates like !
    ("[^a-c]x", "ax", False),
    ("[]a]", "]", True),                             # a ] right after [ is a member
    ("[!]]", "a", True),
    ("[!]]", "]", False),
    ("[a-]", "-", True),
    ("[z-a]", "z", False),                           # a reversed range is empty
    ("a[b", "a[b", True),                            # an unclosed [ is literal
    ("{a,b/*}/c", "b/x/c", True),                    # braces may hold / and wildcards
    ("{a,b/*}/c", "a/c", True),
    ("{a,b/*}/c", "b/c", False),
    ("{a,b/{c,d}}/e", "b/d/e", True),                # nested
    ("x{a,}", "x", True),                            # an empty alternative
    ("{a,{b,c}", "{a,c", True),                      # an unbalanced { is literal
    ("{x}", "{x}", True),                            # a group needs a comma
    ("a}b", "a}b", True),
    ("{{a,b}}", "{b}", True),
    ("src/", "src/x", True),                         # trailing / means /**
    ("src/", "src", False),
    ("./src/*.py", "src/a.py", True),                # leading ./ dropped
    ("././src", "src", True),
    ("a\\b", "a\\b", True),                          # a backslash is an ordinary character
    ("port:80*", "port:8000", True),                 # schemes
    ("port:80*", "port:80", True),
    ("port:8000", "db:8000", False),
    ("8000", "port:8000", False),
    ("port:8000", "8000", False),
    ("db:users.*", "db:users.email", True),
    ("db:users/**", "db:users/a/b", True),           # rest follows the path rules
    ("db:users/**", "db:users", False),
    ("Src/*", "src/a", False),                       # case-sensitive
    ("*", ".", False),                               # . and .. are not resources
    ("*", "..", False),
    ("**", "a/./b", False),
    ("**", "a//b", False),
    ("**", "/a", False),
    ("**", "", False),
    ("*", "...", True),
])
def test_matches(pattern, resource, expected):
    assert matches(pattern, resource) is expected
    assert matches(compile_pattern(pattern), resource) is expected


@pytest.mark.parametrize("pattern,resource", [
    ("src/**/*.py", "src/a/b.py"), ("**/test_*.py", "x/test_a.py"), ("a/{b,c}/*", "a/c/d"),
    ("[!a]*", "bcd"), ("a/**/b", "a/x/b"), ("*", ".hidden"), ("src/api/**", "src/api/x"),
    ("./src/", "src/x"), ("{a,b/{c,d}}/e", "b/d/e"), ("a**b", "axb"), ("**", "a/b/c"),
])
def test_wcmatch_agrees(pattern, resource):
    assert matches(pattern, resource) and wcmatch(pattern, resource)


# -- braces and problems ----------------------------------------------------------------------

def test_expand_braces():
    assert expand_braces("a/{b,c/{d,e}}") == ["a/b", "a/c/d", "a/c/e"]
    assert expand_braces("{a,b}{a,b}") == ["aa", "ab", "ba", "bb"]
    assert expand_braces("{a,a}") == ["a"]
    assert expand_braces("{a,{b,c}") == ["{a,b", "{a,c"]
    assert expand_braces("{{a,b}}") == ["{a}", "{b}"]
    assert expand_braces("{a,}") == ["a"]
    assert expand_braces("{,}") == []
    assert expand_braces("a{b") == ["a{b"]
    assert expand_braces("{x,{y}}") == ["x", "{y}"]
    assert expand_braces("{,{a,b}") == ["{,a", "{,b"]
    assert expand_braces("x}{a,b}") == ["x}a", "x}b"]
    assert expand_braces("{" * 4000 + "a,b") == ["{" * 4000 + "a,b"]   # linear, not quadratic


@pytest.mark.parametrize("text,problem", [
    ("/etc/passwd", "absolute"),
    ("src/../x", ".."),
    ("..", ".."),
    ("./../x", ".."),
    ("a/./b", "'.'"),
    (".", "'.'"),
    ("a/{.,b}", "'.'"),                              # after brace expansion too
    ("{a,b}/../x", ".."),
    ("{a,/b}", "absolute"),
    ("a//b", "empty segment"),
    ("a//", "empty segment"),
    (".//a", "empty segment"),
    ("", "empty"),
    ("./", "empty"),
    ("{,}", "nothing"),
    ("port:", "nothing follows"),
    ("port:/x", "absolute"),
    ("db:../x", ".."),
    ("c:/x", "absolute"),                            # `c:` is a scheme; its rest is absolute
    ("C:/x", "not a valid scheme"),
    ("My-db:users", "not a valid scheme"),
    (":x", "empty scheme"),
    ("{a,b}" * 11, "alternatives"),
    ("/".join(["a"] * (MAX_SEGMENTS + 1)), "segments"),
    ("a" * (MAX_LENGTH + 1), "longer"),
    ("{" * 100000, "longer"),
    ("./src/", None),
    ("src/**", None),
    ("{src,lib}/**", None),
    ("port:8000", None),
    ("db:users.*", None),
    ("service:registry", None),
    ("**", None),
    (".hidden/*", None),
    ("..a/...", None),
    ("a{b", None),
    ("src/a:b", None),                               # a colon after the first segment
    ("/".join(["a"] * MAX_SEGMENTS), None),
])
def test_pattern_problem(text, problem):
    found = pattern_problem(text)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found, found


def test_too_many_alternatives_is_counted_after_removing_repeats():
    assert pattern_problem("{a,a}" * 30) is None
    assert 2 ** 10 == MAX_ALTERNATIVES and pattern_problem("{a,b}" * 10) is None


def test_compiled_pattern():
    p = compile_pattern("src/api/**")
    assert (p.text, p.scheme, p.alternatives, p.literal_prefix) == (
        "src/api/**", "", (("src", "api", "**"),), "src/api/")
    assert compile_pattern("{src/a,src/b}/x").literal_prefix == "src/"
    assert compile_pattern("**/x").literal_prefix == ""
    assert compile_pattern("src/*.py").literal_prefix == "src/"
    assert compile_pattern("src/a[bc]").literal_prefix == "src/a"
    assert compile_pattern("./src/").alternatives == (("src", "**"),)
    assert compile_pattern("x/{a,b/c}").alternatives == (("x", "a"), ("x", "b", "c"))
    port = compile_pattern("port:80*")
    assert (port.scheme, port.literal_prefix, port.alternatives) == ("port", "80", (("80*",),))
    assert compile_pattern("a/b.py").literal == "a/b.py"
    assert compile_pattern("a/*.py").literal is None
    assert compile_pattern("src/**") is compile_pattern("src/**")          # cached


# -- intersection -----------------------------------------------------------------------------

@pytest.mark.parametrize("a,b,witness", [
    ("src/api/**", "src/**/test_*.py", "src/api/test_.py"),         # short and readable
    ("agent17/src/**", "**/test_*.py", "agent17/src/test_.py"),
    ("**", "**", "a"),
    ("a/**/b", "a/b", "a/b"),                                       # middle ** as zero segments
    ("**/foo.py", "foo.py", "foo.py"),                              # leading ** as zero
    ("**", "deep/down/x", "deep/down/x"),
    ("src/**", "**/x", "src/x"),
    ("a/**", "**/b", "a/b"),
    ("**/a/b", "a/b/**", "a/b/a/b"),
    ("port:8000", "port:80*", "port:8000"),
    ("db:users.*", "db:*.email", "db:users.email"),
    ("{x,y/*}/z", "y/**", "y/a/z"),
    ("a/[!x]*", "a/?b", "a/ab"),
    ("*", ".*", ".a"),                                            # `.` alone is no resource
    (".*", "*.", ".a."),
    ("*.py", "test_*", "test_.py"),
    ("a**b", "*", "ab"),
])
def test_intersect_gives_a_real_short_witness(a, b, witness):
    assert intersect(a, b) == witness
    assert_witness(intersect(a, b), a, b)
    assert intersect(b, a) is not None
    assert_witness(intersect(b, a), a, b)


@pytest.mark.parametrize("a,b", [
    ("src/api/**", "src/*"),                         # the spec's example
    ("src/api/**", "src/api"),                       # trailing ** needs a segment
    ("agent1/**", "agent2/**"),
    ("agent1/**", "agent10/**"),
    ("port:8000", "db:8000"),                        # schemes never mix
    ("port:8000", "8000"),
    ("port:**", "**"),
    ("a/[!x]*", "a/x*"),
    ("*.py", "*.js"),
    ("a/*/b", "a/b"),
    ("[a-c]", "[d-f]"),
    ("**/test_*.py", "src/*.js"),
    ("[.]", "*"),                                    # its only segment would be `.`
    ("[.][.]", "**"),
    ("a/b", "a/c"),
    ("a/**/b", "a/**/c"),
    ("?", "??"),
    ("{a,b}/x", "{c,d}/x"),
])
def test_disjoint(a, b):
    assert intersect(a, b) is None
    assert intersect(b, a) is None


def test_intersect_accepts_compiled_patterns():
    a, b = compile_pattern("src/api/**"), compile_pattern("src/**/test_*.py")
    assert intersect(a, b) == intersect("src/api/**", "src/**/test_*.py")


# -- containment ------------------------------------------------------------------------------

@pytest.mark.parametrize("a,bs", [
    ("a/*", ["a/[!x]*", "a/x*"]),                    # only the union covers it
    ("src/api/**", ["src/**"]),
    ("src/api/**", ["src/api/**"]),
    ("a/**/b", ["a/b", "a/*/b", "a/*/*/**"]),
    ("port:80*", ["port:8*"]),
    ("x/{a,b}", ["x/a", "x/b"]),
    ("**", ["**"]),
    ("**", ["*", "*/**"]),                           # `**` is covered by `**`-like sets only
    ("**", ["**/a*", "**/[!a]*"]),
    ("*", ["[!.]*", ".?*"]),                         # `.` is no resource, so this is all
    ("src/*.py", ["src/**"]),
    ("src/**/*.py", ["src/*.py", "src/*/**"]),
    ("a/b.py", ["a/*.py"]),
    ("db:users.*", ["db:users.*", "port:**"]),
    ("?", ["[ab]", "[!ab]"]),
])
def test_covered(a, bs):
    assert uncovered(a, bs) is None


@pytest.mark.parametrize("a,bs,witness", [
    ("a/*", ["a/[!x]*"], "a/x"),
    ("src/**", ["src/api/**"], "src/a"),
    ("**", ["a/**", "*"], "b/a"),
    ("**", ["*", "*/*", "*/*/*"], "a/a/a/a"),
    ("**", ["**/a", "**/[!a]*"], "aa"),
    ("*", ["[!.]*", ".[!.]*"], "..a"),
    ("port:80*", ["db:**"], "port:80"),
    ("port:80*", ["**"], "port:80"),
    ("x/*", [], "x/a"),
    ("a/b.py", ["a/*.js"], "a/b.py"),
    ("src/**/*.py", ["src/*.py"], "src/a/.py"),
])
def test_uncovered_gives_a_real_witness(a, bs, witness):
    w = uncovered(a, bs)
    assert w == witness
    assert_witness(w, a)
    assert not any(matches(b, w) or wcmatch(b, w) for b in bs)


@pytest.mark.timeout(20)
def test_segment_signatures_over_thirty_overlapping_globs():
    """Thirty overlapping globs on one segment (what thirty brace alternatives give): the
    search keeps only the least sets of B it can reach (an antichain), so this takes
    milliseconds; tracking every glob apart took minutes. Each set is exact."""
    bs = tuple(glob(t) for t in [
        "[!a]*", "[!a]*[!a]?*a", "[!a]*[!a]?[^b]b*a", "[!a]*[.a][^b]*a", "[!a]*a*[^b]b*a",
        "[!a]*a*[a-b][^b]*a", "[!a]*[^b]b*", "[!a]*[^b]b[!a]?*a", "[!a]*[^b]b[!a]?[^b]b*a",
        "[!a]*[^b]b[.a][^b]*a", "[!a]*[^b]ba*[^b]b*a", "[!a]*[^b]ba*[a-b][^b]*a", "[!a]?*",
        "[!a]?*[!a]?*a", "[!a]?*[!a]?[^b]b*a", "[!a]?*[.a][^b]*a", "[!a]?*a*[^b]b*a",
        "[!a]?*a*[a-b][^b]*a", "[!a]?[^b]b*", "[!a]?[^b]b[!a]?*a", "[!a]?[^b]b[!a]?[^b]b*a",
        "[!a]?[^b]b[.a][^b]*a", "[!a]?[^b]ba*[^b]b*a", "[!a]?[^b]ba*[a-b][^b]*a", "[.a][^b]*",
        "[.a][^b][!a]?*a", "[.a][^b][!a]?[^b]b*a", "[.a][^b][.a][^b]*a", "[.a][^b]a*[^b]b*a",
        "[.a][^b]a*[a-b][^b]*a"])
    found = signatures(glob("[!a]?*a*[^b]b*a"), bs)
    assert found and all(glob("[!a]?*a*[^b]b*a").matches(w) for _, w in found)
    for sig, word in found:
        assert sig == {k for k, b in enumerate(bs) if b.matches(word)}
