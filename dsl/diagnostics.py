"""Diagnostics are values: every check returns them, nothing raises across layers."""
from __future__ import annotations

from collections.abc import Iterable

from .frozen import dataclass, field
from .span import Span

ERROR = "error"
WARNING = "warning"

# code -> severity, the contract of SPEC section 4.
CODES = {
    "E100": ERROR, "E101": ERROR, "E102": ERROR, "E103": ERROR,
    "E200": ERROR, "E201": ERROR, "E202": ERROR, "E203": ERROR,
    "E300": ERROR, "E301": ERROR, "E302": ERROR, "E303": ERROR,
    "E000": ERROR, "E104": ERROR,
    "W400": WARNING, "W401": WARNING, "W402": WARNING, "W403": WARNING,
}


@dataclass(frozen=True)
class Related:
    """A second location that explains a diagnostic ("'api' writes ... here")."""

    message: str
    span: Span | None


@dataclass(frozen=True)
class Diagnostic:
    """One problem found: its code, message, place, and the places that explain it."""

    code: str
    message: str
    span: Span | None
    related: tuple[Related, ...] = ()
    witness: str | None = None
    # ids of the workflow nodes the diagnostic is about (for graphs and reports)
    nodes: tuple[str, ...] = ()
    severity: str = field(default="")

    def __post_init__(self) -> None:
        if not self.severity:
            object.__setattr__(self, "severity", CODES[self.code])

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    @property
    def sort_key(self) -> tuple[str, int, int, str, str]:
        s = self.span
        where = (s.file, s.line, s.column) if s else ("", 0, 0)
        return (*where, self.code, self.message)


def diag(code: str, message: str, span: Span | None, *, related: Iterable[Related] = (),
         witness: str | None = None, nodes: Iterable[str] = ()) -> Diagnostic:
    return Diagnostic(code, message, span, tuple(related), witness, tuple(nodes))


def sort_diagnostics(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Sorted by position, duplicates dropped (two checks may find the same fault)."""
    seen: set[tuple[str, Span | None, str]] = set()
    out = []
    for d in sorted(diags, key=lambda d: d.sort_key):
        key = (d.code, d.span, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' or '' when nothing is near (see `nearest`)."""
    near = nearest(word, choices)
    return f" (did you mean '{near}'?)" if near else ""


def nearest(word: str, choices: Iterable[str]) -> str | None:
    """The choice nearest to a word, or None when none is near.

    Near is a typo or a shortening of a choice: at most max(1, len(word) // 3) edits
    (insert, delete, replace, swap two neighbours: 'retires' -> 'retries', 'agnet' ->
    'agent', 'rnu' -> 'run'), or the word's letters in order in the choice, from its
    first letter ('cmd' -> 'command'). difflib's ratio at 0.6, used before, counts
    letters in common wherever they are: 'command' got 'domain'. Of several, the fewest
    edits, then the first in order."""
    best: tuple[int, str] | None = None
    limit = max(1, len(word) // 3)
    for choice in sorted(set(choices)):
        if choice == word:
            continue
        edits = edit_distance(word, choice, limit)
        if edits > limit:
            if not _shortens(word, choice):
                continue
            edits = limit + 1                     # after any typo within the limit
        if best is None or edits < best[0]:
            best = (edits, choice)
    return best[1] if best else None


def edit_distance(a: str, b: str, limit: int) -> int:
    """Edits from a to b (optimal string alignment: a swap of two neighbours is one edit),
    or limit + 1 as soon as it is sure to be more than limit."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = current[j - 1] + 1, row[j] + 1, row[j - 1] + (ca != cb)
            current[j] = min(cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        before, row = row, current
    return min(row[-1], limit + 1)


def _shortens(word: str, choice: str) -> bool:
    """'cmd' for 'command', 'desc' for 'description': the same first letter, then the
    rest of the word's letters in order, at least three of them and a third of the choice."""
    if len(word) < 3 or len(word) * 3 < len(choice) or len(word) >= len(choice) or word[0] != choice[0]:
        return False
    rest = iter(choice[1:])
    return all(ch in rest for ch in word[1:])
