"""In-process metrics rendered in the Prometheus text format (version 0.0.4).

A small registry instead of a client library: the platform needs counters, gauges and
histograms with labels, a hard bound on label cardinality (a label value taken from a request
must never grow memory without limit) and one text rendering for ``/metrics``. Updates are plain
attribute arithmetic on the event loop thread; rendering copies what it reads.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from abc import ABC, abstractmethod
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeVar

OVERFLOW: Final = "_other"
"""The label value series beyond a metric's ``max_series`` are folded into."""

DEFAULT_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

LabelValues = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    pairs = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


@dataclass
class _Metric(ABC):
    name: str
    help: str
    label_names: tuple[str, ...]
    max_series: int
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    kind: str = "untyped"

    def _key(self, values: Sequence[str], known: Mapping[LabelValues, object]) -> LabelValues:
        if len(values) != len(self.label_names):
            raise ValueError(
                f"metric {self.name} takes labels {self.label_names}, got {len(values)} values"
            )
        key = tuple(values)
        if key in known or len(known) < self.max_series:
            return key
        return tuple(OVERFLOW for _ in self.label_names)

    @abstractmethod
    def samples(self) -> Iterable[str]:
        """The metric's lines in the text format, without HELP and TYPE."""


@dataclass
class Counter(_Metric):
    """A monotonically increasing count, one series per label values."""

    kind: str = "counter"
    _values: dict[LabelValues, float] = field(default_factory=dict)

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        values = self._values
        current = values.get(labels)
        if current is not None and amount >= 0:  # a known series: the request path's case
            values[labels] = current + amount
            return
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = self._key(labels, values)
        values[key] = values.get(key, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self._values.get(tuple(labels), 0.0)

    def samples(self) -> Iterable[str]:
        for key, value in sorted(dict(self._values).items()):
            yield f"{self.name}{_labels(self.label_names, key)} {_number(value)}"


@dataclass
class Gauge(_Metric):
    """A value that goes up and down; or computed at render time by ``set_function``."""

    kind: str = "gauge"
    _values: dict[LabelValues, float] = field(default_factory=dict)
    _function: Callable[[], Iterable[tuple[LabelValues, float]]] | None = None

    def set(self, value: float, *labels: str) -> None:
        self._values[self._key(labels, self._values)] = value

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        key = self._key(labels, self._values)
        self._values[key] = self._values.get(key, 0.0) + amount

    def dec(self, *labels: str, amount: float = 1.0) -> None:
        self.inc(*labels, amount=-amount)

    def value(self, *labels: str) -> float:
        return self._values.get(tuple(labels), 0.0)

    def set_function(self, function: Callable[[], Iterable[tuple[LabelValues, float]]]) -> None:
        """Compute the series when rendered (for values another component owns, like lag)."""
        self._function = function

    def samples(self) -> Iterable[str]:
        values = dict(self._values)
        if self._function is not None:
            values.update(self._function())
        for key, value in sorted(values.items()):
            yield f"{self.name}{_labels(self.label_names, key)} {_number(value)}"


@dataclass
class _Series:
    counts: list[int]
    total: float = 0.0
    count: int = 0


@dataclass
class Histogram(_Metric):
    """Observations counted into cumulative buckets, with their sum and count."""

    kind: str = "histogram"
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    _series: dict[LabelValues, _Series] = field(default_factory=dict)

    def observe(self, value: float, *labels: str) -> None:
        series = self._series.get(labels)
        if series is None:
            key = self._key(labels, self._series)
            series = self._series.get(key)
            if series is None:
                # One count per bucket, and a last one for values above every bound.
                series = self._series[key] = _Series([0] * (len(self.buckets) + 1))
        series.counts[bisect_left(self.buckets, value)] += 1  # the first bound >= value
        series.total += value
        series.count += 1

    def count(self, *labels: str) -> int:
        series = self._series.get(tuple(labels))
        return series.count if series else 0

    def quantile(self, q: float, *labels: str) -> float | None:
        """An estimate from the buckets (the upper bound of the bucket holding rank q)."""
        series = self._series.get(tuple(labels))
        if series is None or series.count == 0:
            return None
        rank = q * series.count
        seen = 0
        for bound, count in zip(self.buckets, series.counts[:-1], strict=True):
            seen += count
            if seen >= rank:
                return bound
        return math.inf

    def samples(self) -> Iterable[str]:
        for key, series in sorted(dict(self._series).items()):
            cumulative = 0
            for bound, count in zip(self.buckets, series.counts[:-1], strict=True):
                cumulative += count
                le = f'le="{_number(bound)}"'
                yield f"{self.name}_bucket{_labels(self.label_names, key, le)} {cumulative}"
            inf = 'le="+Inf"'
            yield f"{self.name}_bucket{_labels(self.label_names, key, inf)} {series.count}"
            yield f"{self.name}_sum{_labels(self.label_names, key)} {_number(series.total)}"
            yield f"{self.name}_count{_labels(self.label_names, key)} {series.count}"


M = TypeVar("M", bound=_Metric)


class Registry:
    """Named metrics; asking twice for the same name returns the same metric."""

    def __init__(self, *, max_series: int = 1000) -> None:
        self.max_series = max_series
        self._metrics: dict[str, _Metric] = {}
        self._lock = threading.Lock()
        self._collectors: list[Collector] = []

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        return self._get(Counter, name, help, labels)

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
        return self._get(Gauge, name, help, labels)

    def histogram(
        self,
        name: str,
        help: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> Histogram:
        return self._get(Histogram, name, help, labels, buckets=tuple(sorted(buckets)))

    def _get(self, cls: type[M], name: str, help: str, labels: Sequence[str], **extra: object) -> M:
        if not _NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        for label in labels:
            if not _LABEL.match(label) or label.startswith("__") or label == "le":
                raise ValueError(f"invalid label name {label!r} on metric {name}")
        with self._lock:
            metric = self._metrics.get(name)
            if metric is None:
                metric = cls(
                    name=name,
                    help=help,
                    label_names=tuple(labels),
                    max_series=self.max_series,
                    **extra,  # type: ignore[arg-type]
                )
                self._metrics[name] = metric
            if not isinstance(metric, cls) or metric.label_names != tuple(labels):
                raise ValueError(f"metric {name} is already registered with another type or labels")
            return metric

    def render(self) -> str:
        """Every metric in the Prometheus text format, sorted by name."""
        lines: list[str] = []
        with self._lock:
            metrics = sorted(self._metrics.values(), key=lambda m: m.name)
        for metric in metrics:
            lines.append(f"# HELP {metric.name} {metric.help.replace(chr(10), ' ')}")
            lines.append(f"# TYPE {metric.name} {metric.kind}")
            lines.extend(metric.samples())
        return "\n".join(lines) + "\n"

    def families(self) -> list[Family]:
        """A copy of every metric's series, sorted by name (to send elsewhere or merge)."""
        with self._lock:
            metrics = sorted(self._metrics.values(), key=lambda m: m.name)
        return [family_of(metric) for metric in metrics]

    def add_collector(self, collector: Collector) -> None:
        """Add the families ``collector`` returns (another process's, say) to ``exposition``."""
        self._collectors.append(collector)

    def remove_collector(self, collector: Collector) -> None:
        if collector in self._collectors:
            self._collectors.remove(collector)

    async def exposition(self) -> str:
        """What ``/metrics`` serves: this registry's metrics and its collectors', merged by name
        as :func:`combine` does. A collector that fails is logged and left out."""
        merged = {family.name: family for family in self.families()}
        for collector in list(self._collectors):
            try:
                collected = await collector()
            except Exception:
                _log.exception("a metrics collector failed; its metrics are left out")
                continue
            for family in collected:
                own = merged.get(family.name)
                merged[family.name] = family if own is None else combine(own, family)
        return render_families(merged.values())


CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


# --- families: the series of one metric at a moment, to move between processes and merge -------

_log = logging.getLogger("interlink.observe")


@dataclass(frozen=True)
class HistogramValue:
    """One histogram series: a count per bucket (not cumulative; the last one above every
    bound), the sum and the count of the observations."""

    counts: tuple[int, ...]
    total: float
    count: int

    def __add__(self, other: HistogramValue) -> HistogramValue:
        counts = tuple(a + b for a, b in zip(self.counts, other.counts, strict=True))
        return HistogramValue(counts, self.total + other.total, self.count + other.count)


SeriesValue = float | HistogramValue


@dataclass
class Family:
    """One metric's series at a moment: a counter's or gauge's values, a histogram's buckets."""

    name: str
    help: str
    kind: str  # counter, gauge or histogram
    label_names: tuple[str, ...]
    series: dict[LabelValues, SeriesValue] = field(default_factory=dict)
    buckets: tuple[float, ...] = ()  # a histogram's upper bounds, without +Inf

    def empty(self) -> Family:
        """The same metric without series."""
        return Family(self.name, self.help, self.kind, self.label_names, {}, self.buckets)

    def compatible(self, other: Family) -> bool:
        """Whether ``other``'s series can be added to this one's: same kind, labels and buckets."""
        return (self.kind, self.label_names, self.buckets) == (
            other.kind,
            other.label_names,
            other.buckets,
        )

    def add(self, key: LabelValues, value: SeriesValue) -> None:
        """Add ``value`` to the series ``key`` (counters and histograms)."""
        current = self.series.get(key)
        if current is None:
            self.series[key] = value
        elif isinstance(current, HistogramValue):
            if isinstance(value, HistogramValue):
                self.series[key] = current + value
        elif not isinstance(value, HistogramValue):
            self.series[key] = current + value

    def samples(self) -> Iterator[str]:
        """The lines in the text format, without HELP and TYPE (as the metrics render them)."""
        names = self.label_names
        for key, value in sorted(self.series.items()):
            if not isinstance(value, HistogramValue):
                yield f"{self.name}{_labels(names, key)} {_number(value)}"
                continue
            cumulative = 0
            for bound, count in zip(self.buckets, value.counts[:-1], strict=True):
                cumulative += count
                le = f'le="{_number(bound)}"'
                yield f"{self.name}_bucket{_labels(names, key, le)} {cumulative}"
            inf = 'le="+Inf"'
            yield f"{self.name}_bucket{_labels(names, key, inf)} {value.count}"
            yield f"{self.name}_sum{_labels(names, key)} {_number(value.total)}"
            yield f"{self.name}_count{_labels(names, key)} {value.count}"


Collector = Callable[[], Awaitable[Iterable[Family]]]


def family_of(metric: _Metric) -> Family:
    """A copy of ``metric``'s series, read on the thread that updates it."""
    family = Family(metric.name, metric.help, metric.kind, metric.label_names)
    if isinstance(metric, Histogram):
        family.buckets = metric.buckets
        for key, series in list(metric._series.items()):
            family.series[key] = HistogramValue(tuple(series.counts), series.total, series.count)
    elif isinstance(metric, Gauge):
        family.series.update(metric._values)
        if metric._function is not None:
            family.series.update(metric._function())
    elif isinstance(metric, Counter):
        family.series.update(metric._values)
    return family


def combine(own: Family, other: Family) -> Family:
    """Two families of one name as one. Counters and histograms of the same labels and buckets
    add up series by series; otherwise (a gauge, or another shape) ``other`` takes the place of
    ``own``, since adding up gauges, say a breaker's state, would mean nothing."""
    if own.kind == "gauge" or not own.compatible(other):
        return other
    merged = Family(own.name, own.help, own.kind, own.label_names, dict(own.series), own.buckets)
    for key, value in other.series.items():
        merged.add(key, value)
    return merged


def render_families(families: Iterable[Family]) -> str:
    """Families in the Prometheus text format, sorted by name, as ``Registry.render`` does."""
    lines: list[str] = []
    for family in sorted(families, key=lambda f: f.name):
        lines.append(f"# HELP {family.name} {family.help.replace(chr(10), ' ')}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        lines.extend(family.samples())
    return "\n".join(lines) + "\n"
