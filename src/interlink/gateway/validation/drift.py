"""Recording where an upstream's responses drift from the route's contract.

With ``validation.response: record`` every complete (not streamed) JSON response of at most
:data:`MAX_RECORDED_BYTES` is checked against the schema its operation gives for its status
(exact, then ``2XX``-style range, then ``default``), after the client has been answered: the
response is neither altered nor delayed. A status the contract does not describe, a non-JSON
answer where the contract describes only JSON, a body that is not JSON and a body that breaks
the schema are drift. Each counts in ``interlink_gateway_contract_drift_total{route,status}``
and each distinct drift (route, operation, status, where, what) is logged once, at most
:data:`LOG_LINES_PER_MINUTE` lines a minute, the first :data:`MAX_DISTINCT` kinds per process.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any, Final

from interlink.events.cloudevents import pointer
from interlink.events.validation import describe_violation
from interlink.gateway.services import GatewayServices
from interlink.gateway.state import StateKey
from interlink.gateway.validation.operations import Operation, is_json, media_type
from interlink.gateway.validation.params import loads
from interlink.http.headers import Headers

MAX_RECORDED_BYTES: Final = 1_048_576
LOG_LINES_PER_MINUTE: Final = 20
MAX_DISTINCT: Final = 1000
METRIC: Final = "interlink_gateway_contract_drift_total"

log = logging.getLogger("interlink.gateway.validation")
_INDEX = re.compile(r"/[0-9]+(?=/|$)")

Observer = Callable[[int, Headers, bytes], None]


class DriftLog:
    """Which drifts were logged already; kept across reloads in the services' state."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.seen: set[tuple[Any, ...]] = set()
        self.clock = clock
        self.window = 0.0
        self.lines = 0

    def first(self, key: tuple[Any, ...]) -> bool:
        """True when ``key`` was not logged before and this minute still has room."""
        if key in self.seen or len(self.seen) >= MAX_DISTINCT:
            return False
        now = self.clock()
        if now - self.window >= 60.0:
            self.window, self.lines = now, 0
        if self.lines >= LOG_LINES_PER_MINUTE:
            return False
        self.lines += 1
        self.seen.add(key)
        return True


DRIFT_LOG_KEY: Final[StateKey[DriftLog]] = StateKey("validation", "drift-log")


def recorder(route: str, api: str, op: Operation, services: GatewayServices) -> Observer:
    """The observer that checks ``op``'s responses on ``route``."""
    counter = services.metrics.counter(
        METRIC, "Upstream responses that do not match the route's contract", ("route", "status")
    )
    drift_log = services.state.get(DRIFT_LOG_KEY)
    if drift_log is None:
        drift_log = services.state[DRIFT_LOG_KEY] = DriftLog()

    def record(status: int, headers: Headers, body: bytes) -> None:
        try:
            found = drift(op, status, headers, body)
        except Exception:  # never let a check disturb the loop
            log.exception("checking a response of %s on route %s failed", op.label, route)
            return
        if found is None:
            return
        where, message = found
        counter.inc(route, str(status))
        if drift_log.first((route, op.label, status, _INDEX.sub("/*", where), message)):
            log.warning(
                "route %s: %s answered %d unlike the contract of Api %s: %s%s",
                route,
                op.label,
                status,
                api,
                f"{where}: " if where else "",
                message,
            )

    return record


def drift(op: Operation, status: int, headers: Headers, body: bytes) -> tuple[str, str] | None:
    """Where and how a response differs from the contract; None when it does not."""
    spec = op.response(status)
    if spec is None:
        return "", f"the contract describes no {status} response"
    if spec.validator is None and not spec.json_only:
        return None
    content_type = None
    for name, value in headers:
        if name.lower() == b"content-type":
            content_type = value
            break
    media = media_type(content_type)
    if not is_json(media):
        if spec.json_only and body:
            return "", f"the body is {media}; the contract describes JSON"
        return None
    validator = spec.validator
    if validator is None or len(body) > MAX_RECORDED_BYTES:
        return None
    try:
        value = loads(body)
    except (ValueError, RecursionError):
        return "/body", "is not valid JSON"
    try:
        if validator.is_valid(value):
            return None
        error = next(iter(validator.iter_errors(value)))
    except ValueError:  # the validator's own bound on nesting
        return "/body", "is nested too deeply to check"
    path = list(error.instance_path)
    message = describe_violation(error)
    if type(error.kind).__name__ == "Required":
        path.append(str(error.kind.as_dict().get("property")))
        message = "is required"
    return pointer("body", *path), message
