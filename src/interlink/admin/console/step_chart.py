"""A run's steps on a time axis, drawn as SVG on the run's page: one row per step (the
compensations after the forward steps), one bar per attempt, from its start to its end (to now
while it runs), coloured by its outcome, with the wait before each retry left empty.

A failed attempt's times are the step's ``tries``; the attempt that ended the step runs from
the time its retry was due (the step's start when it is the first) to the step's end. The
chart's title and the step list under it say the same in words, for a screen reader.
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
class Attempt:
    """One attempt as seconds into the run."""

    number: int
    status: str  # failed, completed, running (compensated for the undo phase)
    start: float
    seconds: float
    error: str | None


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    status: str
    text: str  # its tooltip


@dataclass(frozen=True)
class Row:
    name: str
    y: float
    attempts: int
    bars: list[Bar]
    text: str  # the step in words, also in the chart's title


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    rows: list[Row]
    ticks: list[tuple[float, str]]  # x and the seconds into the run it stands for


def _at(text: str | None, fallback: datetime) -> datetime:
    return fallback if text is None else datetime.fromisoformat(text)


def attempts(step: dict[str, Any], begun: datetime, now: datetime) -> list[Attempt]:
    """The step's attempts that have times: its failed ones, then the one that ended it."""

    def into(t: datetime) -> float:
        return max((t - begun).total_seconds(), 0.0)

    found = []
    for t in step.get("tries", []):
        start, end = datetime.fromisoformat(t["started_at"]), datetime.fromisoformat(t["ended_at"])
        found.append(
            Attempt(t["attempt"], "failed", into(start), into(end) - into(start), t["error"])
        )
    tries = step.get("tries", [])
    gave_up = step["status"] == "failed" and tries and tries[-1]["retry_at"] is None
    if not gave_up:
        start = _at(tries[-1]["retry_at"], begun) if tries else _at(step["started_at"], begun)
        end = _at(step["finished_at"], now)
        status = "compensated" if step["phase"] == "compensate" else str(step["status"])
        length = max(into(end) - into(start), 0.0)
        found.append(Attempt(int(step["attempts"]), status, into(start), length, step["error"]))
    return found


def _words(step: dict[str, Any], tried: list[Attempt]) -> str:
    tries = int(step["attempts"])
    retried = f", {tries - 1} retr{'y' if tries == 2 else 'ies'}" if tries > 1 else ""
    undo = "undo " if step["phase"] == "compensate" else ""
    first = tried[0].start if tried else 0.0
    end = tried[-1].start + tried[-1].seconds if tried else 0.0
    return (
        f"{undo}{step['name']}: {step['status']}, from {first:.3f} s to {end:.3f} s, "
        f"{tries} attempt{'s' if tries != 1 else ''}{retried}"
    )


def _tooltip(a: Attempt) -> str:
    why = f": {a.error}" if a.error and a.status == "failed" else ""
    return f"attempt {a.number}, {a.status}, at {a.start:.3f} s for {a.seconds:.3f} s{why}"


def chart(run: dict[str, Any], now: datetime | None = None) -> Chart:
    """The chart of ``run`` as the admin API's run answer gives it."""
    now = now or datetime.now(UTC)
    begun = datetime.fromisoformat(run["started_at"])
    steps = [(step, attempts(step, begun, now)) for step in run["steps"]]
    ends = [a.start + a.seconds for _, tried in steps for a in tried]
    total = max([0.001, *ends])
    scale = PLOT / total
    rows = []
    for i, (step, tried) in enumerate(steps):
        bars = [
            Bar(
                round(LABEL + a.start * scale, 1),
                round(max(a.seconds * scale, 2.0), 1),
                a.status,
                _tooltip(a),
            )
            for a in tried
        ]
        rows.append(
            Row(step["name"], TOP + i * ROW, int(step["attempts"]), bars, _words(step, tried))
        )
    ticks = [(round(LABEL + PLOT * f, 1), f"{total * f:.3g} s") for f in (0.0, 0.5, 1.0)]
    return Chart(LABEL + PLOT + RIGHT, TOP + len(rows) * ROW + 10, rows, ticks)
