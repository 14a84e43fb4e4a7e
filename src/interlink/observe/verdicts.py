"""What an evaluation of one Monitor concludes at one moment: the meeting point of the monitors
that evaluate signals and the alerts that tell people.

A verdict carries facts, not prose: the alerts turn them into a sentence with what the estate
says of the target (its owner, who depends on it), so the evaluator needs no estate wording and
the wording can be tested on its own.

Facts by monitor type (seconds for durations, ISO 8601 UTC for moments, ``None`` when unknown):

- ``freshness``: ``last_seen``, ``age_seconds``, ``max_age_seconds``, ``usual_per_hour``
  (what the target usually does in an hour at this time of week, ``None`` with no history),
  ``signal`` (``published``, ``delivered``, ``refreshed``, ``ran`` or ``requested``).
- ``slo``: ``indicator`` (``availability`` or ``latency``), ``objective`` (percent),
  ``error_ratio`` (over the long window), ``burn_rate_long``, ``burn_rate_short``,
  ``long_window_seconds``, ``short_window_seconds``, ``budget_remaining`` (fraction of the
  window's error budget left, may be negative).
- ``anomaly``: ``metric`` (``volume``, ``latency`` or ``errors``), ``observed``, ``expected``,
  ``deviation`` (robust z-score: distance from the expected value in MADs), ``direction``
  (``up`` or ``down``), ``interval_seconds``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

Fact = float | int | str | None


@dataclass(frozen=True)
class Verdict:
    """``monitor`` (a Monitor's name) is firing or not at ``at``, and why (``facts``)."""

    monitor: str
    type: Literal["slo", "freshness", "anomaly"]
    firing: bool
    at: datetime
    facts: Mapping[str, Fact] = field(default_factory=dict)


class VerdictSink(Protocol):
    """Hears every evaluation's verdicts; the alerts are one."""

    async def verdicts(self, verdicts: Sequence[Verdict]) -> None: ...
