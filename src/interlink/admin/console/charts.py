"""Charts drawn on the server as SVG: lines and bars over time, and a row's sparkline.

No script draws them, so they work under the console's Content-Security-Policy and without
JavaScript. Each chart is an image to assistive technology (``role="img"``) named by its
``<title>`` and described by its ``<desc>``, which says what the figures are (the pages also
give them as a table). Colours come from classes in console.css, never from inline styles
(the policy forbids them). A gap in a line is a ``None`` value: nothing was measured there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from markupsafe import Markup, escape

WIDTH: Final = 640
HEIGHT: Final = 200
#: Room for the value labels on the left and the times below.
LEFT: Final = 56
RIGHT: Final = 12
TOP: Final = 12
BOTTOM: Final = 28
SPARK_WIDTH: Final = 120
SPARK_HEIGHT: Final = 24

Point = tuple[float, float | None]  # (x: epoch seconds, y: the value or None)
Format = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    """One line or set of bars: its name (in the legend) and the class it is drawn with."""

    label: str
    points: Sequence[Point]
    css: str = "s1"


@dataclass(frozen=True)
class Frame:
    """What the chart spans: ``start`` to ``end`` (epoch seconds) across, ``low`` to ``high``
    up; the plot area within the picture."""

    start: float
    end: float
    low: float
    high: float
    width: int = WIDTH
    height: int = HEIGHT
    margins: tuple[int, int, int, int] = field(default=(TOP, RIGHT, BOTTOM, LEFT))

    def x(self, t: float) -> float:
        _top, right, _bottom, left = self.margins
        span = self.end - self.start or 1.0
        return round(left + (t - self.start) / span * (self.width - left - right), 2)

    def y(self, v: float) -> float:
        top, _right, bottom, _left = self.margins
        span = self.high - self.low or 1.0
        clamped = min(max(v, self.low), self.high)
        plot = self.height - top - bottom
        return round(top + plot - (clamped - self.low) / span * plot, 2)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5 and 5 times a power of ten that is at least ``value``
    (a scale's top that reads well); 1 for nothing above zero."""
    if not value > 0 or math.isinf(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10.0 * power  # pragma: no cover - the loop's last step always holds


def _values(series: Sequence[Series]) -> list[float]:
    return [v for s in series for _, v in s.points if v is not None and math.isfinite(v)]


def _clock(t: float, span: float) -> str:
    moment = datetime.fromtimestamp(t, UTC)
    return moment.strftime("%d %b %H:%M" if span > 86_400 else "%H:%M")


def _open(chart_id: str, title: str, desc: str, frame: Frame, css: str) -> list[str]:
    return [
        f'<svg class="chart {css}" viewBox="0 0 {frame.width} {frame.height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]


def _axes(frame: Frame, fmt: Format) -> list[str]:
    _top, right, bottom, left = frame.margins
    out = []
    for value in (frame.low, (frame.low + frame.high) / 2, frame.high):
        y = frame.y(value)
        out.append(
            f'<line class="grid" x1="{left}" y1="{y}" x2="{frame.width - right}" y2="{y}"/>'
            f'<text class="tick" x="{left - 4}" y="{y + 4}" text-anchor="end">'
            f"{escape(fmt(value))}</text>"
        )
    base = frame.height - bottom + 16
    span = frame.end - frame.start
    out.append(f'<text class="tick" x="{left}" y="{base}">{_clock(frame.start, span)}</text>')
    out.append(
        f'<text class="tick" x="{frame.width - right}" y="{base}" text-anchor="end">'
        f"{_clock(frame.end, span)} UTC</text>"
    )
    return out


def _empty(frame: Frame) -> str:
    top, right, bottom, left = frame.margins
    x = (left + frame.width - right) / 2
    y = (top + frame.height - bottom) / 2
    return f'<text class="empty" x="{x}" y="{y}" text-anchor="middle">No data in this window</text>'


def _legend(series: Sequence[Series], frame: Frame) -> list[str]:
    if len(series) < 2:
        return []
    top, _right, _bottom, left = frame.margins
    out, x = [], left + 8
    for s in series:
        out.append(
            f'<g class="legend {s.css}"><rect x="{x}" y="{top}" width="10" height="10"/>'
            f'<text x="{x + 14}" y="{top + 9}">{escape(s.label)}</text></g>'
        )
        x += 24 + 8 * len(s.label)
    return out


def path_of(points: Sequence[Point], frame: Frame) -> str:
    """The SVG path through ``points``, lifted at each gap (a ``None``)."""
    parts: list[str] = []
    pen_down = False
    for t, v in points:
        if v is None or not math.isfinite(v):
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{frame.x(t)},{frame.y(v)}")
        pen_down = True
    return " ".join(parts)


def lone_points(points: Sequence[Point]) -> list[tuple[float, float]]:
    """The points with no measured neighbour on either side (a path through them is empty)."""

    def measured(i: int) -> bool:
        v = points[i][1] if 0 <= i < len(points) else None
        return v is not None and math.isfinite(v)

    return [
        (t, v)
        for i, (t, v) in enumerate(points)
        if v is not None and measured(i) and not measured(i - 1) and not measured(i + 1)
    ]


def line_chart(
    chart_id: str,
    title: str,
    desc: str,
    series: Sequence[Series],
    span: tuple[float, float],
    fmt: Format = lambda v: f"{v:g}",
    *,
    low: float | None = None,
    high: float | None = None,
    marks: Sequence[tuple[float, str]] = (),
) -> Markup:
    """Lines over ``span`` (start, end in epoch seconds); the scale runs from ``low``
    (default: 0, or below when a value is) to ``high`` (default: a round number above the
    largest value); ``marks`` are labelled horizontal lines (a threshold)."""
    values = _values(series)
    bottom = low if low is not None else min([0.0, *values])
    top = (
        high
        if high is not None
        else nice_ceiling(max([*values, *(m for m, _ in marks)], default=0))
    )
    frame = Frame(span[0], span[1], bottom, max(top, bottom + 1e-9))
    out = _open(chart_id, title, desc, frame, "line")
    out += _axes(frame, fmt)
    for value, label in marks:
        y = frame.y(value)
        right = frame.width - frame.margins[1]
        out.append(
            f'<line class="mark" x1="{frame.margins[3]}" y1="{y}" x2="{right}" y2="{y}"/>'
            f'<text class="mark" x="{right - 4}" y="{y - 4}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
    if not values:
        out.append(_empty(frame))
    for s in series:
        d = path_of(s.points, frame)
        if d:
            out.append(f'<path class="series {s.css}" d="{d}"/>')
        for t, v in lone_points(s.points):  # a line of one point draws nothing: a dot
            out.append(f'<circle class="dot {s.css}" cx="{frame.x(t)}" cy="{frame.y(v)}" r="3"/>')
    out += _legend(series, frame)
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - its texts went through escape()


def bar_chart(
    chart_id: str,
    title: str,
    desc: str,
    series: Sequence[Series],
    span: tuple[float, float],
    step: float,
    fmt: Format = lambda v: f"{v:g}",
) -> Markup:
    """Bars of ``step`` seconds from each point's time, the series drawn over one another in
    order (the first the tallest, as requests before the errors among them)."""
    values = _values(series)
    frame = Frame(span[0], span[1], 0.0, nice_ceiling(max(values, default=0.0)))
    out = _open(chart_id, title, desc, frame, "bars")
    out += _axes(frame, fmt)
    if not any(values):
        out.append(_empty(frame))
    base = frame.y(0.0)
    for s in series:
        for t, v in s.points:
            if not v:
                continue
            x, right = frame.x(t), frame.x(min(t + step, span[1]))
            y = frame.y(v)
            width = max(round(right - x - 1, 2), 1.0)
            out.append(
                f'<rect class="series {s.css}" x="{x}" y="{y}" width="{width}" '
                f'height="{round(base - y, 2)}"/>'
            )
    out += _legend(series, frame)
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - its texts went through escape()


def sparkline(label: str, values: Sequence[float | None]) -> Markup:
    """A small line of ``values`` in even steps, for a table row; ``label`` says in words what
    it shows (its accessible name)."""
    frame = Frame(0, max(len(values) - 1, 1), 0.0, max([v or 0.0 for v in values] + [1e-9]),
                  SPARK_WIDTH, SPARK_HEIGHT, (2, 2, 2, 2))  # fmt: skip
    d = path_of([(i, v) for i, v in enumerate(values)], frame)
    line = f'<path class="series s1" d="{d}"/>' if d and any(values) else ""
    if not line:  # flat at zero: nothing happened, drawn as the base line
        y = frame.y(0)
        line = f'<line class="grid" x1="2" y1="{y}" x2="{SPARK_WIDTH - 2}" y2="{y}"/>'
    return Markup(  # noqa: S704 - the label went through escape()
        f'<svg class="spark" viewBox="0 0 {SPARK_WIDTH} {SPARK_HEIGHT}" width="{SPARK_WIDTH}" '
        f'height="{SPARK_HEIGHT}" role="img" aria-label="{escape(label)}">{line}</svg>'
    )
