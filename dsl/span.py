"""The one position type carried by every tree node and every diagnostic."""
from __future__ import annotations

from dataclasses import dataclass

from .frozen import quick_init


@quick_init
@dataclass(frozen=True, order=True)
class Span:
    """A region of a source file. Lines and columns are 1-based; the end is exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def point(cls, file: str, line: int, column: int) -> Span:
        return cls(file, line, column, line, column + 1)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"
