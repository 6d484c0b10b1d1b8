"""lanes.dsl.frozen's dataclasses against `dataclasses` itself: the same class body made
by each must behave alike (construction, defaults and factories, repr, equality,
hashing, frozenness, fields, asdict, replace, pickling, subclasses, docstrings), and
what it does not make itself is made by dataclasses."""
from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle

import pytest

from lanes.dsl import frozen


def both(body: str, **params: object) -> tuple[type, type]:
    """The class `C` of `body` (a class body), made by dataclasses and by frozen."""
    made = []
    for dc, fld in ((dataclasses.dataclass, dataclasses.field), (frozen.dataclass, frozen.field)):
        ns: dict[str, object] = {"field": fld, "__name__": __name__}
        exec(f"class C:\n{body}", ns)  # noqa: S102 - the test's own class bodies
        made.append(dc(**params)(ns["C"]))         # type: ignore[operator]
    return made[0], made[1]


BODY = """
    '''A record.'''
    a: int
    b: str = "x"
    c: tuple = ()
    d: frozenset = field(default_factory=lambda: frozenset({1}))
    e: str = field(default="hidden", repr=False, compare=False)
"""


def described(f: dataclasses.Field) -> tuple[object, ...]:
    made = None if f.default_factory is dataclasses.MISSING else f.default_factory()
    return f.name, f.type, f.default, made, f.repr, f.compare, f.init, f.kw_only, f._field_type


def test_a_frozen_record_behaves_as_the_dataclass():
    real, ours = both(BODY, frozen=True)
    assert "_record_fields_" in ours.__dict__ and "_record_fields_" not in real.__dict__
    for args, kw in (((1,), {}), ((1, "y"), {"c": (2,)}), ((), {"a": 3, "e": "z"})):
        r, o = real(*args, **kw), ours(*args, **kw)
        assert repr(r).replace("real", "") == repr(o)
        assert hash(r) == hash(o)
        assert dataclasses.asdict(r) == dataclasses.asdict(o)
        assert dataclasses.astuple(r) == dataclasses.astuple(o)
        assert o == ours(*args, **kw) and o != real(*args, **kw)       # another class: not equal
        assert o == dataclasses.replace(o) and frozen.replace(o, b="q").b == "q"
        assert copy.deepcopy(o) == o and copy.copy(o) == o
        for name in ("a", "b"):
            with pytest.raises(dataclasses.FrozenInstanceError) as ours_err:
                setattr(o, name, 0)
            with pytest.raises(dataclasses.FrozenInstanceError) as real_err:
                setattr(r, name, 0)
            assert str(ours_err.value) == str(real_err.value)
            with pytest.raises(dataclasses.FrozenInstanceError, match="cannot delete field"):
                delattr(o, name)
    assert ours(1).d is not ours(1).d                                    # a factory per instance
    assert ours(1, e="other") == ours(1)                                 # compare=False
    assert ours.__match_args__ == real.__match_args__
    assert str(inspect.signature(ours)) == str(inspect.signature(real))
    assert [described(f) for f in dataclasses.fields(ours)] == [described(f) for f in dataclasses.fields(real)]
    assert dataclasses.is_dataclass(ours) and ours.__dataclass_params__.frozen
    assert ours.b == real.b == "x" and not hasattr(ours, "d") and not hasattr(real, "d")


@frozen.dataclass(frozen=True)
class Pickled:
    """A record pickle finds by its module's name."""
    a: int
    b: tuple[str, ...] = ()


def test_a_record_pickles():
    p = Pickled(1, ("x",))
    assert pickle.loads(pickle.dumps(p)) == p and pickle.loads(pickle.dumps(p)).b == ("x",)


def test_a_mutable_record_and_one_without_eq():
    real, ours = both(BODY.replace("frozenset = field(default_factory=lambda: frozenset({1}))",
                                   "list = field(default_factory=list)"))
    o = ours(1)
    assert o.d == [] and o.d is not ours(1).d
    o.a = 5
    assert o == ours(5) and repr(o) == repr(real(5)).replace("real", "")
    assert ours.__hash__ is None and real.__hash__ is None
    with pytest.raises(TypeError):
        hash(o)
    real, ours = both(BODY, frozen=True, eq=False)
    assert ours(1) != ours(1) and hash(ours(1)) != hash(ours(1))
    assert "__eq__" not in ours.__dict__ and "__eq__" not in real.__dict__


def test_the_docstring_dataclasses_would_make():
    real, ours = both("    a: int\n    b: str = 'x'\n    c: list = field(default_factory=list)\n", frozen=True)
    assert ours.__doc__ == real.__doc__


def test_post_init_subclasses_and_errors():
    real, ours = both("""
    a: int
    b: int = 0
    def __post_init__(self):
        if not self.b:
            object.__setattr__(self, "b", self.a * 2)
""", frozen=True)
    assert ours(3).b == real(3).b == 6 and ours(3, 1).b == 1

    @frozen.dataclass(frozen=True)
    class Sub(ours):                               # type: ignore[valid-type,misc]  # a class made above
        c: str = "s"

    assert Sub(1).b == 2 and repr(Sub(1)) == "test_post_init_subclasses_and_errors.<locals>.Sub(a=1, b=2, c='s')"
    assert [f.name for f in dataclasses.fields(Sub)] == ["a", "b", "c"]
    with pytest.raises(TypeError):
        @frozen.dataclass(frozen=False)            # a mutable class under a frozen one: dataclasses' error
        class Bad(ours):                           # type: ignore[valid-type,misc]  # a class made above
            pass
    ordering = type("O", (), {"__annotations__": {"a": "int", "b": "int"}, "a": 1})
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):
        frozen.dataclass(frozen=True)(ordering)          # ours, not only dataclasses (both() asks it first)
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):
        both("    a: int = 1\n    b: int\n")
    for default in ("[]", "field(default={})"):           # unhashable defaults: dataclasses' error
        messages = []
        for dc, fld in ((dataclasses.dataclass, dataclasses.field), (frozen.dataclass, frozen.field)):
            ns: dict[str, object] = {"field": fld}
            exec(f"class C:\n    a: list = {default}\n", ns)  # noqa: S102 - the test's own class body
            with pytest.raises(ValueError) as err:
                dc(ns["C"])
            messages.append(str(err.value))
        assert messages[0] == messages[1] and "use default_factory" in messages[1]


def test_what_frozen_does_not_make_itself_dataclasses_makes():
    ordered = frozen.dataclass(order=True, frozen=True)(type("O", (), {"__annotations__": {"a": "int"}}))
    assert "_record_fields_" not in ordered.__dict__ and ordered(1) < ordered(2)
    ns: dict[str, object] = {"field": frozen.field}
    exec("class K:\n    a: int\n    def __repr__(self):\n        return 'mine'\n", ns)  # noqa: S102
    kept = frozen.dataclass(frozen=True)(ns["K"])       # a __repr__ of its own: dataclasses keeps it
    assert "_record_fields_" not in kept.__dict__ and repr(kept(1)) == "mine"
    ns = {"field": frozen.field}
    exec("class M:\n    a: int = field(default=1, metadata={'k': 1})\n", ns)  # noqa: S102
    meta = frozen.dataclass(ns["M"])
    assert dataclasses.fields(meta)[0].metadata == {"k": 1}


def test_the_project_records_are_made_here():
    """Every dataclass of dsl/ and compiler/ on the path of a check or a run is made by
    frozen (none fell back to dataclasses, which would cost its time again)."""
    from lanes.compiler import model, planfile
    from lanes.dsl import ast, diagnostics, source
    classes = [c for m in (ast, diagnostics, source, model, planfile) for c in vars(m).values()
               if isinstance(c, type) and c.__module__ == m.__name__ and "__dataclass_fields__" in c.__dict__]
    assert len(classes) >= 25
    assert [c.__name__ for c in classes if "_record_fields_" not in c.__dict__] == []


def test_methods_are_compiled_at_the_first_use_of_any():
    @frozen.dataclass(frozen=True)
    class Late:
        """Not used until below."""
        a: int
        b: str = "x"

    stand_in = Late.__dict__["__repr__"]
    assert Late.__dict__["__init__"].__qualname__.endswith("Late.__init__")
    late = Late(1)                                        # builds every method at once
    assert Late.__dict__["__repr__"] is not stand_in and repr(late).endswith("Late(a=1, b='x')")
    assert {late, Late(1)} == {Late(1)} and Late.__init__.__annotations__ == {"a": "int", "b": "str", "return": None}
