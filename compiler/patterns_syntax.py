"""The text of a resource pattern (SPEC section 4): scheme, braces, normal form, problems.

Everything here works on strings; `patterns.py` turns the normal form into automata.

Choices where the spec is silent, kept in one place:
- A scheme is `[a-z0-9]+:` at the very start, so `c:/x` is the scheme `c` with the
  absolute rest `/x` (a problem), and `C:/x` or `My-db:x` are reported as malformed
  schemes rather than read as paths whose first segment holds a `:`.
- Braces follow bash: a `{` opens a group only when it has a matching `}` with a
  top-level comma between; otherwise it is a literal character (so `{a,{b,c}` is
  `{a,b` or `{a,c`). An alternative that expands to nothing is dropped (`{a,}` is `a`).
- A backslash is an ordinary character (no escapes), and a `[...]` class cannot hold
  `/` because segments are split first.
- A leading `./` is dropped (repeatedly), then one trailing `/` becomes `/**`.
"""
from __future__ import annotations

from itertools import pairwise
import re

GLOBSTAR = "**"
MAX_ALTERNATIVES = 1024          # `{a,b}{a,b}...` grows as 2^n; beyond this it is refused
MAX_SEGMENTS = 128               # keeps the deciders' recursion shallow; no real path is deeper
MAX_LENGTH = 4096                # PATH_MAX; keeps the searches over characters small

_SCHEME = re.compile(r"([a-z0-9]+):")
_SCHEME_LIKE = re.compile(r"([A-Za-z0-9_.+-]*):")     # what a user may have meant as a scheme
_WILDCARD = re.compile(r"[*?\[]")


class TooManyAlternatives(ValueError):
    pass


def split_scheme(text: str) -> tuple[str, str]:
    """`port:80*` -> ("port", "80*"); a path has the scheme ""."""
    m = _SCHEME.match(text)
    return (m.group(1), text[m.end():]) if m else ("", text)


def _first_group(text: str) -> tuple[int, int, list[int]] | None:
    """The first `{` that opens a group: (its index, its `}`, its top-level commas).
    One pass with a stack, so a long run of unmatched braces stays linear."""
    stack: list[tuple[int, list[int]]] = []
    best = None
    for j, c in enumerate(text):
        if c == "{":
            stack.append((j, []))
        elif c == "," and stack:
            stack[-1][1].append(j)
        elif c == "}" and stack:
            i, commas = stack.pop()
            if commas and (best is None or i < best[0]):
                best = (i, j, commas)
            if best is not None and not any(k < best[0] for k, _ in stack):
                return best                    # no earlier `{` is still open: none can win
    return best


def _expand(text: str, budget: int) -> dict[str, None]:
    """The distinct expansions of `text`, in order (a dict used as an ordered set)."""
    group = _first_group(text)
    if group is None:
        return {text: None}
    i, close, commas = group
    head, tails = text[:i], _expand(text[close + 1:], budget)
    out: dict[str, None] = {}
    for a, b in pairwise([i, *commas, close]):
        for middle in _expand(text[a + 1:b], budget):
            out.update(dict.fromkeys(head + middle + tail for tail in tails))
            if len(out) > budget:
                raise TooManyAlternatives(f"its braces expand to more than {budget} alternatives")
    return out


def expand_braces(text: str) -> list[str]:
    """`a/{b,c/{d,e}}` -> a/b, a/c/d, a/c/e (in order, without repeats or empty words).
    Raises TooManyAlternatives past MAX_ALTERNATIVES distinct alternatives."""
    if "{" not in text:
        return [text] if text else []
    return [t for t in _expand(text, MAX_ALTERNATIVES) if t]


def normalise(alternative: str) -> str:
    """Drop leading `./`, turn one trailing `/` into `/**`."""
    while alternative.startswith("./"):
        alternative = alternative[2:]
    if alternative.endswith("/"):
        alternative += GLOBSTAR
    return alternative


def _scheme_problem(text: str) -> str | None:
    first = text.split("/", 1)[0]
    m = _SCHEME_LIKE.match(first)
    if m is None or _SCHEME.match(text):
        return None
    if not m.group(1):
        return "it starts with ':', an empty scheme (a scheme is lower-case letters and digits, then ':')"
    return (f"'{m.group(1)}:' is not a valid scheme: a scheme is lower-case letters and digits, "
            f"then ':' (a drive letter or a path with ':' in its first segment is not allowed)")


def _alternative_problem(alt: str, where: str) -> str | None:
    if alt.startswith("/"):
        return f"{where}is absolute (starts with '/'); patterns are relative to the workdir"
    alt = normalise(alt)
    if not alt:
        return f"{where}is empty once the leading './' is dropped"
    segments = alt.split("/")
    if "" in segments:
        return f"{where}has an empty segment ('//')"
    if ".." in segments:
        return f"{where}has a '..' segment, which leaves the workdir"
    if "." in segments:
        return f"{where}has a '.' segment; write the path without it"
    if len(segments) > MAX_SEGMENTS:
        return f"{where}has more than {MAX_SEGMENTS} segments"
    return None


def pattern_problem(text: str) -> str | None:
    """Why a pattern cannot be used (E303: absolute, `.` or `..`; or malformed), else None."""
    if not text:
        return "the pattern is empty"
    if len(text) > MAX_LENGTH:
        return f"it is longer than {MAX_LENGTH} characters"
    if ":" not in text and "{" not in text:         # the usual path: no scheme, one alternative
        problem = _alternative_problem(text, "")
        return "it " + problem if problem else None
    problem = _scheme_problem(text)
    if problem:
        return problem
    scheme, rest = split_scheme(text)
    if not rest:
        return f"nothing follows the scheme '{scheme}:'"
    if scheme and rest.startswith("/"):
        return (f"'{scheme}:' reads as a scheme and the rest '{rest}' is absolute; "
                f"patterns are relative to the workdir")
    try:
        alternatives = expand_braces(rest)
    except TooManyAlternatives as exc:
        return str(exc)
    if not alternatives:
        return "its braces expand to nothing"
    for alt in alternatives:
        problem = _alternative_problem(alt, "" if alt == rest else f"the alternative '{alt}' ")
        if problem:
            return problem if alt != rest else "it " + problem
    return None


def literal_head(alternative: str) -> str:
    """The text every resource the (normalised) alternative matches starts with."""
    m = _WILDCARD.search(alternative)
    return alternative if m is None else alternative[:m.start()]
