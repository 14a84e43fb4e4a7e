"""Which events a subscription wants: exact CloudEvents attributes and a JSONata predicate.

The predicate sees the whole structured CloudEvent (``type``, ``source``, ``data``…), so
``data.country = "DE"`` or ``subject = "vip"`` both work. It is compiled once through
interlink.expressions, whose guard also stops a runaway predicate. An evaluation error counts
as "no match" and is logged once per subscription, so one malformed event neither stops
delivery nor floods the log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from interlink.errors import ExpressionError
from interlink.expressions import compile_expression, truthy

log = logging.getLogger("interlink.events.delivery")


class FilterError(ExpressionError):
    """A JSONata predicate that does not compile."""


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


class EventFilter:
    """A subscription's filter; with neither attributes nor a predicate it matches everything."""

    def __init__(
        self, subscription: str, attributes: Mapping[str, str], expression: str | None
    ) -> None:
        self.subscription = subscription
        self.attributes = dict(attributes)
        self.expression = expression
        self._compiled = None
        if expression:
            try:
                self._compiled = compile_expression(expression)
            except ExpressionError as exc:
                raise FilterError(
                    f"invalid JSONata filter: {exc}", code=exc.code, position=exc.position
                ) from None
        self._warned = False

    @property
    def matches_all(self) -> bool:
        return not self.attributes and self._compiled is None

    def matches_body(self, body: bytes) -> bool:
        """Parse a structured CloudEvent and test it; an unreadable body never matches."""
        if self.matches_all:
            return True
        try:
            event = json.loads(body)
        except ValueError as exc:
            self._warn_once(f"event body is not JSON ({exc})")
            return False
        if not isinstance(event, dict):
            self._warn_once("event body is not a JSON object")
            return False
        return self.matches(event)

    def matches(self, event: Mapping[str, Any]) -> bool:
        for name, expected in self.attributes.items():
            if name in ("data", "data_base64") or _as_text(event.get(name)) != expected:
                return False
        if self._compiled is None:
            return True
        try:
            return truthy(self._compiled.evaluate(event))
        except ExpressionError as exc:  # any evaluation error is "no match", by contract
            self._warn_once(f"JSONata filter failed: {exc}")
            return False

    def _warn_once(self, reason: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "subscription %s: %s; such events are treated as not matching "
                "(logged once per subscription)",
                self.subscription,
                reason,
            )
