"""Frozen dataclasses built without the cost of their generated ``__init__``.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (its own
``__setattr__`` refuses), about a third of a microsecond a field: six microseconds for a run's
seventeen. A consumed message's run builds about ten such records on its way (the run, its
checkpoint, its call, the answer…), so :func:`quick` gives a frozen dataclass an ``__init__``
of the same signature that fills the instance's ``__dict__`` directly, and :func:`copied` is
``dataclasses.replace`` done the same way. Everything else (equality, hashing, immutability,
``replace``) stays the dataclass's own; only records that check nothing when built
(no ``__post_init__``) may be made quick.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")
_FACTORY = object()  # a field left to its default factory


def quick(cls: type[T]) -> type[T]:
    """``cls`` (a frozen dataclass, applied above its ``@dataclass``) with an ``__init__``
    that fills ``__dict__`` rather than calling ``object.__setattr__`` per field."""
    params = dataclasses.fields(cls)  # type: ignore[arg-type]
    if hasattr(cls, "__post_init__") or "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__name__}: only a record with a __dict__ and no __post_init__")
    if any(not f.init or f.kw_only for f in params):
        raise TypeError(f"{cls.__name__}: every field must be a positional __init__ parameter")
    names: dict[str, Any] = {"_FACTORY": _FACTORY}
    signature, body = [], []
    for f in params:
        if f.default is not dataclasses.MISSING:
            names[f"_default_{f.name}"] = f.default
            signature.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            names[f"_factory_{f.name}"] = f.default_factory
            signature.append(f"{f.name}=_FACTORY")
            body.append(f"    if {f.name} is _FACTORY: {f.name} = _factory_{f.name}()")
        else:
            signature.append(f.name)
        body.append(f"    d[{f.name!r}] = {f.name}")
    source = f"def __init__(self, {', '.join(signature)}):\n    d = self.__dict__\n"
    exec(source + "\n".join(body), names)  # noqa: S102 - code built from the field names
    init = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


def copied(record: T, **changes: Any) -> T:
    """``dataclasses.replace(record, **changes)`` for a :func:`quick` record: its fields
    copied, then the changes (field names, checked)."""
    fields = record.__dict__
    if not changes.keys() <= fields.keys():
        raise TypeError(f"not fields of {type(record).__name__}: {changes.keys() - fields.keys()}")
    made: T = object.__new__(type(record))
    made.__dict__.update(fields)
    made.__dict__.update(changes)
    return made
