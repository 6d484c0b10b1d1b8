"""The raw tree: what both front ends produce before the shared builder types it.

YAML and the grammar differ only in syntax; both become the same nested maps,
lists and scalars, each with its span, so one builder (build.py) gives both forms
the same fields, the same checks and the same diagnostics.
"""
from __future__ import annotations

from dataclasses import dataclass

from .span import Span


@dataclass(frozen=True, slots=True)
class Scalar:
    """A leaf. `value` is the text (unescaped), None for a YAML null."""

    value: str | None
    span: Span


@dataclass(frozen=True, slots=True)
class Seq:
    items: tuple[Raw, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Map:
    """Entries in source order; duplicate keys are kept so the builder can report them."""

    entries: tuple[tuple[Scalar, Raw], ...]
    span: Span


Raw = Scalar | Seq | Map
