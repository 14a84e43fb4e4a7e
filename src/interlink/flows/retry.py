"""How often a flow step is tried, and which failures are worth another try."""

from __future__ import annotations

from dataclasses import dataclass

from interlink.estate.kinds.flow import StepRetry


class StepFailed(Exception):
    """A step attempt failed; ``retryable`` when the same attempt may succeed later (a network
    error, a 5xx or a 429), not when the answer will not change (a 4xx, a bad expression)."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status  # the HTTP status that failed it, if one did


@dataclass(frozen=True)
class RetryPolicy:
    """Finite by default: 3 attempts, waiting 0.5 s then 1 s (doubling, capped at 30 s)."""

    attempts: int = 3
    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    non_retryable: frozenset[int] = frozenset()

    @classmethod
    def of(cls, step: StepRetry) -> RetryPolicy:
        """A step's own policy, as its ``retry`` declares it."""
        return cls(
            step.attempts,
            step.initial,
            step.multiplier,
            step.max_interval,
            frozenset(step.non_retryable),
        )

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.cap, self.initial * self.factor ** (attempt - 1)))

    def gives_up(self, failure: StepFailed, attempt: int) -> bool:
        """Whether attempt number ``attempt`` failing so is the last."""
        if not failure.retryable or attempt >= self.attempts:
            return True
        return failure.status is not None and failure.status in self.non_retryable


def retryable_status(status: int) -> bool:
    return status == 429 or status >= 500
