"""A flow's ``inputSchema``: the JSON Schema a run's input must satisfy to start.

The schema is checked when a run is recorded, by whatever starts it: an admin or CLI start,
a Route (422 problem+json), a schedule, or a Subscription (the event is then a failed delivery,
retried and dead-lettered on the subscription's schedule, never lost). A recovered or retried
run is not checked again: it was checked when it started. Errors name the rule broken, never
the offending value.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from interlink.errors import InvalidFlowInput, Violation
from interlink.estate.input_schema import input_validator
from interlink.events.cloudevents import MAX_VIOLATIONS, pointer
from interlink.events.validation import describe_violation


def validate_input(flow: str, schema: dict[str, Any] | None, value: Any) -> None:
    """Raise :class:`InvalidFlowInput`, with every violation, when ``value`` fails ``schema``."""
    if schema is None:
        return
    validator = input_validator(schema)
    if validator.is_valid(value):
        return
    errors = islice(validator.iter_errors(value), MAX_VIOLATIONS)
    violations = [Violation(pointer(*e.instance_path), describe_violation(e)) for e in errors]
    raise InvalidFlowInput(flow, violations)
