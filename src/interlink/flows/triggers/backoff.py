"""Waiting after a trigger's failures: doubling pauses, and one log line per streak.

A source that cannot be read (a database down, a broker away) fails every try until it comes
back; a log line each time would bury everything else, and a traceback says nothing an
operator can act on. The first failure of a streak is logged as one warning, the end of the
streak as one info line; the pause doubles from ``initial`` up to ``limit``.
"""

from __future__ import annotations

import logging

from interlink.errors import InterlinkError

log = logging.getLogger("interlink.flows.triggers")


def describe(exc: BaseException) -> str:
    """An error as one line: the message of ours, the type and text of anything else."""
    if isinstance(exc, InterlinkError):
        return exc.message
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Backoff:
    def __init__(self, what: str, *, initial: float = 1.0, limit: float = 60.0) -> None:
        self.what = what  # "Flow/orders trigger rows", for the log lines
        self.initial = initial
        self.limit = max(limit, initial)
        self.failures = 0  # in the current streak

    def failed(self, doing: str, exc: BaseException) -> float:
        """Note a failure; the seconds to wait before trying again."""
        self.failures += 1
        pause = min(self.initial * 2.0 ** min(self.failures - 1, 30), self.limit)
        if self.failures == 1:
            log.warning(
                "%s: %s failed: %s; trying again, backing off up to %gs",
                self.what,
                doing,
                describe(exc),
                self.limit,
            )
        return pause

    def succeeded(self) -> None:
        if self.failures:
            log.info("%s works again after %d failed tries", self.what, self.failures)
        self.failures = 0
