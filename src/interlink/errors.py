"""Interlink's error tree.

Every error the platform raises on purpose derives from :class:`InterlinkError`, so the CLI and
the admin API can turn any of them into one readable line or an RFC 9457 problem document::

    InterlinkError                   root; ``retryable`` and ``retry_after`` drive the runtime
    ├── EstateError                  the estate could not be loaded or is invalid
    │   └── EstateLoadError          carries the findings (file:line:col: message) that stopped it
    ├── ContractError                an OpenAPI document or JSON Schema is unusable
    ├── StoreError                   persistence failed
    │   ├── StoreUnavailable         the database does not answer (retryable)
    │   └── MigrationError           a migration could not be applied
    ├── BusError                     the event log refused or failed an operation
    │   └── BusUnavailable           the log does not answer (retryable, with retry_after)
    ├── AuthError                    a credential is missing, unknown or lacks the role
    ├── NotFound                     a named thing does not exist
    ├── ConfigError                  bad settings: a listen address, a URL, a flag
    └── ServeError                   the runtime could not start (port in use, …)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from interlink.estate.findings import Finding


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


class EstateLoadError(EstateError):
    """The estate has errors; ``findings`` holds every one of them, located."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)
        errors = [f for f in self.findings if f.severity == "error"]
        first = errors[0].render() if errors else "estate has errors"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first + more)


class ContractError(InterlinkError):
    status = 422
    title = "Invalid contract"


class StoreError(InterlinkError):
    status = 503
    title = "Store error"


class StoreUnavailable(StoreError):
    retryable = True


class MigrationError(StoreError):
    pass


class BusError(InterlinkError):
    status = 500
    title = "Event bus error"


class BusUnavailable(BusError):
    """The log cannot take or give events now; nothing was accepted, so callers retry."""

    status = 503
    title = "Event bus unavailable"
    retryable = True


class AuthError(InterlinkError):
    status = 401
    title = "Unauthorized"


class Forbidden(AuthError):
    status = 403
    title = "Forbidden"


class NotFound(InterlinkError):
    status = 404
    title = "Not found"


class ConfigError(InterlinkError):
    status = 400
    title = "Bad configuration"


class ServeError(InterlinkError):
    title = "Cannot serve"
