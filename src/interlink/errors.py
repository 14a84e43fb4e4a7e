"""Interlink's error tree.

Every error the platform raises on purpose derives from :class:`InterlinkError`, so the CLI and
the admin API can turn any of them into one readable line or an RFC 9457 problem document::

    InterlinkError                   root; ``retryable`` and ``retry_after`` drive the runtime
    ├── EstateError                  the estate could not be loaded or is invalid
    │   └── EstateLoadError          the findings that stopped it (in estate.findings, beside them)
    ├── ContractError                an OpenAPI document or JSON Schema is unusable
    ├── ExpressionError              a JSONata expression does not compile or failed to evaluate
    ├── StoreError                   persistence failed
    │   ├── StoreUnavailable         the database does not answer (retryable)
    │   └── MigrationError           a migration could not be applied
    ├── BusError                     the event log refused or failed an operation
    │   ├── BusUnavailable           the log does not answer (retryable, with retry_after)
    │   ├── UnknownEventType         no Event in the estate has this type
    │   ├── UnknownConsumer          no subscription's consumer has this name
    │   └── PayloadTooLarge          an event is larger than the platform accepts
    ├── MalformedEvent               a CloudEvent breaks the spec; carries its violations
    ├── InvalidEventData             event data fails its schema; carries its violations
    ├── InvalidFlowInput             a flow's input fails its inputSchema; carries violations
    ├── AuthError                    a credential is missing, unknown or lacks the role
    │   └── SignatureError           a webhook signature is missing, stale or does not match
    ├── NotFound                     a named thing does not exist
    ├── ConfigError                  bad settings: a listen address, a URL, a flag
    ├── BadRequest                   a request body the endpoint cannot read (400)
    ├── UpstreamError                a system behind the gateway failed to answer (502)
    │   ├── UpstreamTimeout          it did not connect or answer in time (504, retryable)
    │   └── UpstreamUnavailable      no connection to it could be had now (503, retryable)
    ├── ServeError                   the runtime could not start (port in use, …)
    └── PublishError                 the SDK's event was refused or not accepted in time
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class InterlinkError(Exception):
    """Root of every deliberate Interlink error.

    ``retryable`` tells callers whether the same call may succeed later; ``retry_after`` is the
    suggested wait in seconds, when known.
    """

    retryable: bool = False
    status: int = 500
    title: str = "Internal error"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class EstateError(InterlinkError):
    status = 422
    title = "Invalid estate"


class ContractError(InterlinkError):
    status = 422
    title = "Invalid contract"


class ExpressionError(InterlinkError):
    """A JSONata expression that does not compile, or whose evaluation failed or ran away.

    ``code`` is JSONata's error code (``S0202`` a syntax error, ``T…`` a type error, ``D…`` a
    dynamic one, ``D1012`` the time limit, ``D1011`` the depth limit), when the engine gave one;
    ``position`` the 1-based character in the expression where it was noticed, when known.
    """

    status = 422
    title = "Invalid expression"

    def __init__(
        self, message: str, *, code: str | None = None, position: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.position = position


class StoreError(InterlinkError):
    status = 503
    title = "Store error"


class StoreUnavailable(StoreError):
    title = "Store unavailable"
    retryable = True


class MigrationError(StoreError):
    pass


class LeaseLost(StoreError):
    """A write fenced by a lease was refused: another node holds the lease now."""

    status = 409
    title = "Lease lost"


class BusError(InterlinkError):
    status = 500
    title = "Event bus error"


class BusUnavailable(BusError):
    """The log cannot take or give events now; nothing was accepted, so callers retry."""

    status = 503
    title = "Event bus unavailable"
    retryable = True


class UnknownConsumer(BusError):
    """The bus has no consumer by this name: no subscription declares it (any more)."""

    status = 404
    title = "Unknown consumer"


class UnknownEventType(BusError):
    status = 404
    title = "Unknown event type"


class PayloadTooLarge(BusError):
    status = 413
    title = "Payload too large"


@dataclass(frozen=True)
class Violation:
    """One broken rule: a JSON pointer (RFC 6901) into the rejected document, and why."""

    pointer: str
    message: str


def _summary(violations: Sequence[Violation]) -> str:
    if not violations:
        return "no details"
    first = violations[0]
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    where = f"{first.pointer}: " if first.pointer else ""
    return f"{where}{first.message}{more}"


class MalformedEvent(InterlinkError):
    """A CloudEvent (or batch) breaks the CloudEvents spec; ``violations`` says where."""

    status = 400
    title = "Malformed CloudEvent"

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        super().__init__(_summary(self.violations))


class InvalidEventData(InterlinkError):
    """An event's data does not match its schema; ``violations`` point into the event."""

    status = 422
    title = "Invalid event data"

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        super().__init__(_summary(self.violations))


class InvalidFlowInput(InterlinkError):
    """A flow's input does not match the flow's ``inputSchema``; ``violations`` point into it."""

    status = 422
    title = "Invalid flow input"

    def __init__(self, flow: str, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        super().__init__(f"the input of Flow/{flow} fails its inputSchema: {_summary(violations)}")


class AuthError(InterlinkError):
    status = 401
    title = "Unauthorized"


class Forbidden(AuthError):
    status = 403
    title = "Forbidden"


class SignatureError(AuthError):
    """A signed webhook failed verification: a header is missing, the time is off, or no
    signature matches."""

    title = "Invalid webhook signature"


class NotFound(InterlinkError):
    status = 404
    title = "Not found"


class ConfigError(InterlinkError):
    status = 400
    title = "Bad configuration"


class BadRequest(InterlinkError):
    """A request's body is not what the endpoint reads (not JSON, for one)."""

    status = 400
    title = "Bad request"


class UpstreamError(InterlinkError):
    """An upstream HTTP server failed. ``request_sent`` tells whether it may have acted on the
    request, which decides whether a retry is safe."""

    status = 502
    title = "Bad gateway"

    def __init__(
        self, message: str, *, request_sent: bool = True, retry_after: float | None = None
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.request_sent = request_sent


class UpstreamTimeout(UpstreamError):
    status = 504
    title = "Gateway timeout"
    retryable = True


class UpstreamUnavailable(UpstreamError):
    status = 503
    title = "Service unavailable"
    retryable = True


class ServeError(InterlinkError):
    title = "Cannot serve"


class PublishError(InterlinkError):
    """The platform refused an event the SDK published, or it could not be delivered before the
    deadline.

    ``status`` is the HTTP status (0 when the platform never answered); ``problem`` the RFC 9457
    document it returned, if any.
    """

    title = "Event not published"

    def __init__(self, message: str, *, status: int = 0, problem: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.problem = dict(problem or {})
