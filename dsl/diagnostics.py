"""Diagnostics are values: every check returns them, nothing raises across layers."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
import difflib

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
    """' (did you mean 'x'?)' or '' when nothing is near."""
    near = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean '{near[0]}'?)" if near else ""
