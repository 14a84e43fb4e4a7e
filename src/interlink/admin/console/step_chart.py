"""A run's steps on a time axis, drawn as SVG on the run's page: one row per step (the
compensations after the forward steps), its bar from its first attempt's start to its end (to
now while it runs), coloured by its outcome and labelled with its attempts.

The store keeps a step's first start, its end and how many attempts it took, not each attempt's
own times, so the bar spans all of them and the retries are counted on it rather than drawn
apart. The step list under the chart says the same in words, for a screen reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

#: The drawing's geometry in SVG units: a name column, then the time axis.
LABEL: Final = 190
PLOT: Final = 520
RIGHT: Final = 100  # room for the attempts after a bar that ends the axis
ROW: Final = 26
TOP: Final = 24


@dataclass(frozen=True)
class Bar:
    name: str
    status: str  # the step's (running, completed, failed); compensated for the undo phase
    x: float
    y: float
    width: float
    attempts: int
    text: str  # what the bar says, also its tooltip and accessible name


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[tuple[float, str]]  # x and the seconds into the run it stands for


def _when(text: str | None, fallback: datetime) -> datetime:
    return fallback if text is None else datetime.fromisoformat(text)


def _words(step: dict[str, Any], start: float, took: float) -> str:
    tries = int(step["attempts"])
    retried = f", {tries - 1} retr{'y' if tries == 2 else 'ies'}" if tries > 1 else ""
    undo = "undo " if step["phase"] == "compensate" else ""
    return (
        f"{undo}{step['name']}: {step['status']}, from {start:.3f} s for {took:.3f} s, "
        f"{tries} attempt{'s' if tries != 1 else ''}{retried}"
    )


def chart(run: dict[str, Any], now: datetime | None = None) -> Chart:
    """The chart of ``run`` as the admin API's run answer gives it."""
    now = now or datetime.now(UTC)
    begun = datetime.fromisoformat(run["started_at"])
    spans: list[tuple[dict[str, Any], float, float]] = []
    for step in run["steps"]:
        start = _when(step["started_at"], begun)
        end = _when(step["finished_at"], now)
        offset = max((start - begun).total_seconds(), 0.0)
        spans.append((step, offset, max((end - start).total_seconds(), 0.0)))
    total = max([0.001, *(offset + took for _, offset, took in spans)])
    scale = PLOT / total
    bars = []
    for i, (step, offset, took) in enumerate(spans):
        status = "compensated" if step["phase"] == "compensate" else str(step["status"])
        bars.append(
            Bar(
                step["name"],
                status,
                round(LABEL + offset * scale, 1),
                TOP + i * ROW,
                round(max(took * scale, 2.0), 1),
                int(step["attempts"]),
                _words(step, offset, took),
            )
        )
    ticks = [(round(LABEL + PLOT * f, 1), f"{total * f:.3g} s") for f in (0.0, 0.5, 1.0)]
    return Chart(LABEL + PLOT + RIGHT, TOP + len(bars) * ROW + 10, bars, ticks)
