"""What a data product's query or refresh fails with; each reads as one line naming the
product or the source, and none leaves a partial result behind."""

from __future__ import annotations

from collections.abc import Sequence

from interlink.errors import InterlinkError, NotFound
from interlink.products.history import Violation


class ContractBroken(InterlinkError):
    """The data does not keep the product's contract: ``violations`` say how."""

    status = 502
    title = "Data contract broken"

    def __init__(self, violations: Sequence[Violation], product: str | None = None) -> None:
        said = "; ".join(str(v) for v in violations)
        super().__init__(f"DataProduct/{product}: contract broken: {said}" if product else said)
        self.violations = list(violations)
        self.product = product


class SourceUnreadable(InterlinkError):
    """The source answered with something that cannot be read: a file that does not parse."""

    status = 502
    title = "Data product source unreadable"


class NotRefreshed(InterlinkError):
    """A materialised product with no good refresh yet: there is nothing to serve."""

    status = 503
    title = "Data product not refreshed yet"
    retryable = True


class UnknownProduct(NotFound):
    title = "Unknown data product"
