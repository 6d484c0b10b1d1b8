"""The raw tree: what both front ends produce before the shared builder types it.

YAML and the grammar differ only in syntax; both become the same nested maps,
lists and scalars, each with its span, so one builder (build.py) gives both forms
the same fields, the same checks and the same diagnostics.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .span import Span


class Scalar(NamedTuple):
    """A leaf. `value` is the text (unescaped), None for a YAML null.

    A named tuple, not a frozen dataclass like the others: a workflow holds hundreds of
    thousands of leaves, and a tuple is made without a call (yaml_front.py) and read as
    quickly as slots. So a Scalar equals the plain tuple (value, span); compare leaves
    with `isinstance` and their fields, never with `==` against another kind of node."""

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
