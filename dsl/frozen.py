"""Dataclasses made without the cost of `dataclasses`.

Every command starts by creating the classes of the AST, the model and the plan,
and `dataclasses.dataclass` spends ~1.4 ms on each (on this project's machines:
six `exec` calls and an `inspect.signature`): 57 ms of a `lanes check`, and the
import of `dataclasses` itself (with `inspect`, `ast`, `dis`, `tokenize`) costs
`lanes run` another ~12 ms. `dataclass` here makes the same methods from one
generated source per class, compiled when the first of them is called (a class
a command never uses costs nothing): `__init__` (a frozen class's stores into
its `__dict__`, no `object.__setattr__` call per field), `__repr__`, `__eq__`,
`__hash__` and the frozen `__setattr__`/`__delattr__`; `__match_args__` and
the docstring dataclasses would give are set at once. `__dataclass_fields__` holds real
`dataclasses.Field` objects, made at the first look (so `dataclasses.fields`,
`asdict`, `is_dataclass` and `replace` work as on any dataclass), which is when
`dataclasses` is imported. A class that asks for more than the usual subset
(`order`, `slots`, `kw_only`, `init=False`, a method dataclasses would keep,
a base that is a real dataclass, a `ClassVar` or `InitVar`) is handed to
`dataclasses.dataclass` itself.

For the type checker these are `dataclasses.dataclass`, `field` and `replace`,
so mypy checks every class, call and `replace` exactly as before.
tests/test_frozen.py holds the two alike on every feature used here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dataclasses import dataclass as dataclass, field as field, replace as replace
else:
    from .records import dataclass, field, replace

__all__ = ["dataclass", "field", "replace"]
