"""The raw tree: what both front ends produce before the shared builder types it.

YAML and the grammar differ only in syntax; both become the same nested maps,
lists and scalars, each with its span, so one builder (build.py) gives both forms
the same fields, the same checks and the same diagnostics.

The nodes are named tuples, not frozen dataclasses like the AST's: a workflow holds
hundreds of thousands of them, and a tuple is made without a call (yaml_front.py)
and read as quickly as slots. So a node equals the plain tuple of its fields, and an
empty Seq equals an empty Map at the same span: tell nodes apart with `isinstance`,
never with `==` against another kind of node.
"""
from __future__ import annotations

from typing import NamedTuple

from .span import Span


class Scalar(NamedTuple):
    """A leaf. `value` is the text (unescaped), None for a YAML null."""

    value: str | None
    span: Span


class Seq(NamedTuple):
    items: tuple[Raw, ...]
    span: Span


class Map(NamedTuple):
    """Entries in source order; duplicate keys are kept so the builder can report them."""

    entries: tuple[tuple[Scalar, Raw], ...]
    span: Span


Raw = Scalar | Seq | Map
