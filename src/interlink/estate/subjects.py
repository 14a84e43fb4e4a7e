"""Where an Event's data subject is: its ``subject.key``, read from each event.

A key is a dotted path (``data.customerId``), read directly, or any other JSONata expression,
evaluated with the CloudEvent as its input (``id``, ``source``, ``type``, ``subject``, ``time``,
``data``). A dotted path is the same expression, only read without the engine, so the common
case costs a few dictionary lookups. The key is a string or a number; anything else (nothing
found, an object, a list, a boolean) gives no subject, and the event is not recorded.

>>> SubjectKey("data.customer.id").extract({"data": {"customer": {"id": "C1"}}})
'C1'
>>> SubjectKey("data.n").extract({"data": {"n": 42}})
'42'
>>> SubjectKey("data.missing").extract({"data": {}}) is None
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from interlink.errors import ExpressionError
from interlink.expressions import Expression, compile_expression

#: The CloudEvent attributes a key may start from.
ATTRIBUTES: Final = frozenset({"id", "source", "type", "subject", "time", "data"})
_DOTTED: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


class SubjectKey:
    """A compiled ``subject.key``; ``ExpressionError`` when it is not valid JSONata."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.path: tuple[str, ...] | None = None
        self.expression: Expression | None = None
        if _DOTTED.fullmatch(source):
            self.path = tuple(source.split("."))
        else:
            self.expression = compile_expression(source)

    def extract(self, event: Mapping[str, Any]) -> str | None:
        """The subject's key in ``event`` (the CloudEvent as a mapping), None when it has
        none. Never raises: an expression that fails gives no subject."""
        if self.path is not None:
            node: Any = event
            for step in self.path:
                # the type check first: an ABC's isinstance costs more than the whole walk
                if type(node) is not dict and not isinstance(node, Mapping):
                    return None
                node = node.get(step)
        else:
            assert self.expression is not None
            try:
                node = self.expression.evaluate(dict(event))
            except ExpressionError:
                return None
        if isinstance(node, str):
            return node or None
        if isinstance(node, int | float) and not isinstance(node, bool):
            return str(node)
        return None


def key_problem(source: str, fields: set[str] | None) -> str | None:
    """What is wrong with a ``subject.key`` (None when nothing): it does not compile, a dotted
    path does not start at a CloudEvent attribute, or names a data field the latest schema
    (its dotted ``fields``, when known) does not have."""
    try:
        key = SubjectKey(source)
    except ExpressionError as exc:
        return f"does not compile: {exc}"
    if key.path is None:
        return None
    head, rest = key.path[0], ".".join(key.path[1:])
    if head not in ATTRIBUTES:
        return (
            f"{source!r} starts at {head!r}, not at an attribute of the CloudEvent "
            f"({', '.join(sorted(ATTRIBUTES))}) (did you mean data.{source}?)"
        )
    if head == "data" and fields is not None and rest and rest not in fields:
        return f"'{rest}' is not a field of the latest schema"
    if head == "data" and not rest:
        return "the key is the whole data, not one value of it"
    return None
