"""The one position type carried by every tree node and every diagnostic."""
from __future__ import annotations

from typing import NamedTuple


class Span(NamedTuple):
    """A region of a source file. Lines and columns are 1-based; the end is exclusive.

    A named tuple, not a frozen dataclass: a check of 10k tasks makes a span for each of
    its 110k YAML values, and a tuple is made without a call of Python code (yaml_front.py
    makes them with `tuple.__new__`). It compares, orders and hashes as the dataclass did
    (field by field), and reads as quickly as slots; like any tuple it also equals a plain
    tuple of its fields, which no code compares it with.
    """

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
