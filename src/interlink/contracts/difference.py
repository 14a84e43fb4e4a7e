"""One reported difference between two versions of a contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["breaking", "non-breaking", "info"]

#: Codes that only describe documentation or behaviour hints; when they do not break anything
#: they are reported with severity ``info`` rather than ``non-breaking``.
INFO_CODES = frozenset(
    {
        "DEFAULT_ADDED",
        "DEFAULT_REMOVED",
        "DEFAULT_CHANGED",
        "OPERATION_DEPRECATED",
        "PARAMETER_DEPRECATED",
        "PATH_PARAMETER_RENAMED",
    }
)


@dataclass(frozen=True, slots=True)
class Difference:
    """A change between two contract versions.

    ``code`` is a stable UPPER_SNAKE identifier, ``pointer`` a JSON pointer (``#/properties/zip``)
    into the newer document where it exists (the older one for removals), ``message`` a
    plain-English explanation and ``breaking`` whether the change breaks the checked direction.
    ``severity`` is derived from ``breaking`` and the code unless given.
    """

    code: str
    pointer: str
    message: str
    breaking: bool
    severity: Severity = field(default="non-breaking")

    def __post_init__(self) -> None:
        if self.breaking:
            object.__setattr__(self, "severity", "breaking")
        elif self.severity == "breaking" or self.code in INFO_CODES:
            # A non-breaking difference cannot claim to be breaking; hint codes are info.
            object.__setattr__(
                self, "severity", "info" if self.code in INFO_CODES else "non-breaking"
            )

    def to_json(self) -> dict[str, str | bool]:
        return {
            "code": self.code,
            "pointer": self.pointer,
            "message": self.message,
            "breaking": self.breaking,
            "severity": self.severity,
        }
