"""What `check` finds in Monitors: a monitor must watch something its target records.

The platform records, per target kind, what it can measure (interlink.observe.signals): an
Event's publishes have no latency and do not fail once accepted; a DataProduct records its
refreshes, so only a materialised one has any. A monitor on a metric its target does not have
would never fire, or fire for the wrong reason, so `check` says so at the monitor. An unknown
target is refused with every other reference (estate/links.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from interlink.estate.durations import format_duration
from interlink.estate.findings import Finding
from interlink.estate.kinds.data import DataProduct, Monitor, ProductMode
from interlink.estate.model import Estate
from interlink.estate.not_yet import PRODUCT_SOURCES_READ

#: What each target kind's signals measure (volume is every kind's).
MEASURED: Final[dict[str, frozenset[str]]] = {
    "Route": frozenset({"volume", "errors", "latency"}),
    "Api": frozenset({"volume", "errors", "latency"}),
    "System": frozenset({"volume", "errors", "latency"}),
    "Subscription": frozenset({"volume", "errors", "latency"}),
    "Flow": frozenset({"volume", "errors", "latency"}),
    "Event": frozenset({"volume"}),
    "DataProduct": frozenset({"volume", "errors"}),
}
#: Why a kind lacks a metric, said in the finding.
_WHY: Final = {
    "Event": "an Event's publishes have no latency and do not fail once accepted (watch the "
    "Route or Subscriptions that carry it)",
    "DataProduct": "a DataProduct's refreshes have no latency",
}
#: Days of signals kept (interlink.store.signals.HOURS_KEPT): the longest SLO window.
SIGNALS_KEPT_DAYS: Final = 35
#: The latency histogram's bounds (interlink.store.signals.LATENCY_BOUNDS).
LATENCY_BOUNDS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


def signal_findings(estate: Estate) -> Iterator[Finding]:
    for item in estate.loaded_of("Monitor"):
        monitor = item.obj
        assert isinstance(monitor, Monitor)
        spec = monitor.spec
        kind = spec.target.kind
        measured = MEASURED[kind]
        needs: str | None = None
        at: tuple[str, ...] = ("spec", "type")
        if spec.anomaly is not None:
            needs, at = spec.anomaly.metric, ("spec", "anomaly", "metric")
        elif spec.slo is not None:
            needs = "latency" if spec.slo.indicator == "latency" else "errors"
            at = ("spec", "slo", "indicator")
        if needs is not None and needs not in measured:
            what = "failures" if needs == "errors" else needs
            yield Finding(
                "error",
                "MONITOR_SIGNAL",
                f"{item.key} watches the {what} of {kind}/{spec.target.name}, which has none: "
                f"{_WHY[kind]}",
                item.location(at),
                subject=item.key,
            )
        if kind == "DataProduct" and not _refreshed(estate, spec.target.name):
            yield Finding(
                "warning",
                "NOT_RUN",
                f"{item.key} watches DataProduct/{spec.target.name}, which is never refreshed "
                "(it is virtual, or its source is not read yet): it sees no refreshes",
                item.location(("spec", "target")),
                subject=item.key,
            )
        slo = spec.slo
        if slo is None:
            continue
        if slo.window > SIGNALS_KEPT_DAYS * 86400:
            yield Finding(
                "error",
                "MONITOR_SIGNAL",
                f"{item.key}: an SLO window of {format_duration(slo.window)} is longer than "
                f"the {SIGNALS_KEPT_DAYS} days of signals kept",
                item.location(("spec", "slo", "window")),
                subject=item.key,
            )
        threshold = slo.latency_threshold
        if threshold is not None and threshold not in LATENCY_BOUNDS:
            below = [b for b in LATENCY_BOUNDS if b <= threshold]
            counted = (
                f"{format_duration(below[-1])}, the bound below it"
                if below
                else "nothing: every occurrence is slower"
            )
            yield Finding(
                "warning",
                "MONITOR_SIGNAL",
                f"{item.key}: latency is recorded in buckets up to "
                f"{', '.join(format_duration(b) for b in LATENCY_BOUNDS)}; a threshold of "
                f"{format_duration(threshold)} is counted at {counted}",
                item.location(("spec", "slo", "latencyThreshold")),
                subject=item.key,
            )


MONITOR_RULES = [
    (
        "MONITOR_SIGNAL",
        "a Monitor watches what its target records, within the signals kept",
        signal_findings,
    ),
]


def _refreshed(estate: Estate, product: str) -> bool:
    """Whether DataProduct ``product`` is refreshed by the platform (materialised, with a
    source it reads); True when there is no such product (another rule says so)."""
    found = estate.get("DataProduct", product)
    if found is None or not isinstance(found.obj, DataProduct):
        return True
    spec = found.obj.spec
    return spec.mode is ProductMode.MATERIALISED and spec.source.type.value in PRODUCT_SOURCES_READ
