"""How lanes.dsl.frozen makes a dataclass: one generated source per class (see there)."""
from __future__ import annotations

from typing import Any


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


class _Factory:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<factory>"


_HAS_FACTORY = _Factory()       # an __init__ default: "call the factory"
# what a class body may define that dataclasses would keep or refuse: such a class goes to it
_KEPT = ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__", "__slots__",
         "__lt__", "__le__", "__gt__", "__ge__")


class _Spec:
    """What `field(...)` asked for; `dataclasses.field` arguments beyond these send the
    class to dataclasses itself."""
    __slots__ = ("default", "default_factory", "repr", "compare", "others")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING, repr: bool = True,
                 compare: bool = True, **others: Any) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.default, self.default_factory, self.repr, self.compare = default, default_factory, repr, compare
        self.others = others

    def real(self) -> Any:
        import dataclasses
        kw = dict(self.others, repr=self.repr, compare=self.compare)
        if self.default is not MISSING:
            kw["default"] = self.default
        if self.default_factory is not MISSING:
            kw["default_factory"] = self.default_factory
        return dataclasses.field(**kw)


def field(**kw: Any) -> Any:
    return _Spec(**kw)


class _Field:
    __slots__ = ("name", "type", "default", "factory", "repr", "compare")

    def __init__(self, name: str, type_: Any, default: Any, factory: Any, repr_: bool, compare: bool) -> None:
        self.name, self.type, self.default, self.factory = name, type_, default, factory
        self.repr, self.compare = repr_, compare


class _Lazy:
    """`__dataclass_fields__` / `__dataclass_params__` of a class made here: built (with
    dataclasses' own types) at the first look, then stored in the class."""

    def __init__(self, owner: type, name: str, make: Any) -> None:
        self.owner, self.name, self.make = owner, name, make

    def __get__(self, obj: object, cls: type | None = None) -> Any:
        value = self.make()
        type.__setattr__(self.owner, self.name, value)
        return value


def _fields_of(cls: type) -> list[_Field] | None:
    """The fields, bases' first; None when dataclasses must make the class."""
    out: dict[str, _Field] = {}
    for base in reversed(cls.__mro__[1:]):
        if "__dataclass_fields__" in base.__dict__:
            mine = base.__dict__.get("_record_fields_")
            if mine is None:
                return None
            out.update((f.name, f) for f in mine)
    for name, type_ in cls.__dict__.get("__annotations__", {}).items():
        text = type_ if isinstance(type_, str) else repr(type_)
        if text.startswith(("ClassVar", "typing.ClassVar", "InitVar", "dataclasses.InitVar", "KW_ONLY",
                            "dataclasses.KW_ONLY")):
            return None
        value = cls.__dict__.get(name, MISSING)
        if isinstance(value, _Spec):
            if value.others:
                return None
            f = _Field(name, type_, value.default, value.default_factory, value.repr, value.compare)
        elif hasattr(type(value), "__set_name__") or hasattr(type(value), "__get__"):
            return None        # a descriptor as default: dataclasses' rules
        else:
            f = _Field(name, type_, value, MISSING, True, True)
        if f.default is not MISSING and type(f.default).__hash__ is None:     # dataclasses' own rule
            raise ValueError(f"mutable default {type(f.default)} for field {name} is not allowed: "
                             "use default_factory")
        out[name] = f
    return list(out.values())


def _source(cls: type, fields: list[_Field], frozen: bool, eq: bool) -> tuple[str, dict[str, Any]]:
    """The source of the methods, and the names it uses."""
    names: dict[str, Any] = {"_HAS_FACTORY": _HAS_FACTORY, "_cls": cls, "_frozen_error": _frozen_error}
    params, body = [], []
    store = "_d_[{0!r}] = {0}" if frozen else "self.{0} = {0}"
    for f in fields:
        if f.default is not MISSING:
            names[f"_dflt_{f.name}"] = f.default
            params.append(f"{f.name}=_dflt_{f.name}")
        elif f.factory is not MISSING:
            names[f"_fact_{f.name}"] = f.factory
            params.append(f"{f.name}=_HAS_FACTORY")
            body.append(f"if {f.name} is _HAS_FACTORY: {f.name} = _fact_{f.name}()")
        else:
            params.append(f.name)
    if frozen:
        body.append("_d_ = self.__dict__")
    body += [store.format(f.name) for f in fields]
    if hasattr(cls, "__post_init__"):
        body.append("self.__post_init__()")
    lines = [f"def __init__(self, {', '.join(params)}):" if params else "def __init__(self):"]
    lines += [f"    {line}" for line in body or ["pass"]]
    shown = ", ".join(f"{f.name}={{self.{f.name}!r}}" for f in fields if f.repr)
    lines += ["def __repr__(self):", f"    return f'{{self.__class__.__qualname__}}({shown})'"]
    compared = [f.name for f in fields if f.compare]
    as_tuple = "(" + "".join(f"self.{n}," for n in compared) + ")"
    if eq:
        other = "(" + "".join(f"other.{n}," for n in compared) + ")"
        lines += ["def __eq__(self, other):", "    if other.__class__ is self.__class__:",
                  f"        return {as_tuple} == {other}", "    return NotImplemented"]
    if eq and frozen:
        lines += ["def __hash__(self):", f"    return hash({as_tuple})"]
    if frozen:
        fields_set = "{" + "".join(f"{f.name!r}," for f in fields) + "}" if fields else "()"
        for verb, method in (("assign to", "__setattr__(self, name, value)"), ("delete", "__delattr__(self, name)")):
            lines += [f"def {method}:", f"    if type(self) is _cls or name in {fields_set}:",
                      f"        raise _frozen_error('cannot {verb} field ' + repr(name))",
                      f"    super(_cls, self).{method.replace('self, ', '')}"]
    return "\n".join(lines) + "\n", names


def _frozen_error(message: str) -> Exception:
    from dataclasses import FrozenInstanceError
    return FrozenInstanceError(message)


def _real(cls: type, **params: Any) -> type:
    import dataclasses
    for name, value in list(cls.__dict__.items()):
        if isinstance(value, _Spec):
            setattr(cls, name, value.real())
    return dataclasses.dataclass(cls, **params)


def _make(cls: type, frozen: bool, eq: bool, others: dict[str, Any]) -> type:
    fields = None if others or any(k in cls.__dict__ for k in _KEPT) else _fields_of(cls)
    if fields is None or any(b.__dict__.get("_record_frozen_", frozen) != frozen for b in cls.__mro__[1:]):
        return _real(cls, frozen=frozen, eq=eq, **others)
    methods = ["__init__", "__repr__", *(["__eq__"] if eq else []), *(["__hash__"] if eq and frozen else []),
               *(["__setattr__", "__delattr__"] if frozen else [])]

    def build() -> None:
        """Make the class's methods from one source (at the first call of any of them: a
        class never used costs no compiling)."""
        source, names = _source(cls, fields, frozen, eq)
        made: dict[str, Any] = {}
        exec(source, names, made)  # noqa: S102 - made above from the class's own field names
        made["__init__"].__annotations__ = {**{f.name: f.type for f in fields}, "return": None}
        for name, fn in made.items():
            fn.__qualname__ = f"{cls.__qualname__}.{name}"
            fn.__module__ = cls.__module__
            type.__setattr__(cls, name, fn)

    def stand_in(name: str) -> Any:
        def method(self: Any, *args: Any, **kw: Any) -> Any:
            if cls.__dict__[name] is method:
                build()
            return cls.__dict__[name](self, *args, **kw)
        method.__qualname__ = f"{cls.__qualname__}.{name}"
        return method

    seen_default = False
    for f in fields:                              # dataclasses' error, when the class is made
        if f.default is not MISSING or f.factory is not MISSING:
            seen_default = True
        elif seen_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
    for name in methods:
        type.__setattr__(cls, name, stand_in(name))
    if eq and not frozen:
        type.__setattr__(cls, "__hash__", None)
    for f in fields:                              # class attributes: the defaults, as dataclasses leaves them
        if f.name in cls.__dict__ and isinstance(cls.__dict__[f.name], _Spec):
            if f.default is MISSING:
                type.__delattr__(cls, f.name)
            else:
                type.__setattr__(cls, f.name, f.default)
    type.__setattr__(cls, "__match_args__", tuple(f.name for f in fields))
    type.__setattr__(cls, "_record_fields_", tuple(fields))
    type.__setattr__(cls, "_record_frozen_", frozen)
    if not cls.__doc__:
        sig = ", ".join(f"{f.name}: {f.type!r}" + (f" = {f.default!r}" if f.default is not MISSING else
                                                     " = <factory>" if f.factory is not MISSING else "")
                        for f in fields)
        type.__setattr__(cls, "__doc__", f"{cls.__name__}({sig})")
    type.__setattr__(cls, "__dataclass_fields__", _Lazy(cls, "__dataclass_fields__", lambda: _real_fields(fields)))
    type.__setattr__(cls, "__dataclass_params__",
                     _Lazy(cls, "__dataclass_params__", lambda: _real_params(frozen, eq)))
    return cls


def _real_fields(fields: list[_Field]) -> dict[str, Any]:
    import dataclasses
    out = {}
    for f in fields:
        made = dataclasses.field(repr=f.repr, compare=f.compare, **(
            {"default": f.default} if f.default is not MISSING else
            {"default_factory": f.factory} if f.factory is not MISSING else {}))
        made.name, made.type, made.kw_only = f.name, f.type, False
        made._field_type = dataclasses._FIELD  # type: ignore[attr-defined]
        out[f.name] = made
    return out


def _real_params(frozen: bool, eq: bool) -> Any:
    import dataclasses
    made: Any = dataclasses.dataclass(frozen=frozen, eq=eq)(type("_", (), {}))
    return made.__dataclass_params__


def dataclass(cls: type | None = None, /, *, frozen: bool = False, eq: bool = True, **others: Any) -> Any:
    if cls is None:
        return lambda c: _make(c, frozen, eq, others)
    return _make(cls, frozen, eq, others)


def replace(obj: Any, /, **changes: Any) -> Any:
    """dataclasses.replace: a copy of `obj` with `changes`."""
    fields = type(obj).__dict__.get("_record_fields_")
    if fields is None:
        import dataclasses
        return dataclasses.replace(obj, **changes)
    for f in fields:
        if f.name not in changes:
            changes[f.name] = obj.__dict__[f.name] if f.name in obj.__dict__ else getattr(obj, f.name)
    return obj.__class__(**changes)
