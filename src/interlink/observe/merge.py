"""Several processes' metrics shown as one process's: the gateway workers' at the admin API.

Each process counts in its own :class:`~interlink.observe.metrics.Registry` and hands over a
:class:`ProcessSnapshot` of it (its families, its pid and a number that grows with each
snapshot). :class:`ProcessMerge` keeps the last snapshot of each process slot and gives one set
of families, as a Prometheus user expects them:

- **Counters and histograms** are added up across processes into one series per label values
  (every bucket, the sum and the count), so a dashboard reads the same whatever the number of
  processes. When the process in a slot is replaced (a new pid), its predecessor's last totals
  are kept and the newcomer's are added to them: a sum never goes down, so ``rate()`` sees no
  reset. What the predecessor counted after its last snapshot is lost, as a crash loses it.
- **Gauges** (a breaker's state, a degraded flag) mean nothing added up: each process's series
  are kept apart under one more label, ``worker="1"`` … ``worker="N"`` (the slot, not the pid, so
  a restart does not make new series). ``sum``, ``max`` or ``min`` by the other labels is left to
  the query.

Cardinality stays bounded: a counter or histogram keeps at most ``max_series`` label-value
combinations across all processes and past ones, the first seen; later ones are added to the
overflow series (``_other``), as a registry does. Admitted series are never dropped, so each one
stays monotonic. Gauges are bounded by each process's own registry, times the slots.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from interlink.observe.metrics import (
    _LABEL,
    _NAME,
    OVERFLOW,
    Family,
    HistogramValue,
    LabelValues,
    SeriesValue,
)

ADDED: Final = frozenset({"counter", "histogram"})
KINDS: Final = frozenset({"counter", "gauge", "histogram"})


@dataclass(frozen=True)
class ProcessSnapshot:
    """A process's metrics at a moment; ``seq`` grows with every snapshot it gives."""

    pid: int
    seq: int
    families: tuple[Family, ...]


class ProcessMerge:
    """The merged metrics of ``processes`` slots (see the module's docstring)."""

    def __init__(self, processes: int, *, label: str = "worker", max_series: int = 1000) -> None:
        self.label = label
        self.max_series = max_series
        self._current: list[ProcessSnapshot | None] = [None] * processes
        self._retired: dict[str, Family] = {}  # the last totals of replaced processes
        self._admitted: dict[str, dict[LabelValues, None]] = {}

    def update(self, slot: int, snapshot: ProcessSnapshot) -> bool:
        """Take ``snapshot`` of the process now in ``slot``. One older than the slot's last (a
        smaller ``seq`` of the same pid) is ignored: False. A new pid retires the previous one.
        The caller makes sure ``snapshot`` comes from the slot's current process."""
        current = self._current[slot]
        if current is not None:
            if current.pid == snapshot.pid:
                if snapshot.seq <= current.seq:
                    return False
            else:
                for family in current.families:
                    if family.kind in ADDED:
                        self._add(self._retired, family)
        self._current[slot] = snapshot
        return True

    def families(self) -> list[Family]:
        """The merged families, sorted by name."""
        merged: dict[str, Family] = {}
        for name, kept in self._retired.items():
            merged[name] = Family(
                kept.name, kept.help, kept.kind, kept.label_names, dict(kept.series), kept.buckets
            )
        for slot, snapshot in enumerate(self._current):
            if snapshot is None:
                continue
            for family in snapshot.families:
                if family.kind in ADDED:
                    self._add(merged, family)
                else:
                    self._label(merged, family, str(slot + 1))
        return sorted(merged.values(), key=lambda f: f.name)

    def _add(self, into: dict[str, Family], family: Family) -> None:
        target = into.get(family.name)
        if target is None:
            target = into[family.name] = family.empty()
        elif not target.compatible(family):
            return  # one name, two shapes: the first one seen stays
        for key, value in family.series.items():
            target.add(self._admit(family.name, key), value)

    def _admit(self, name: str, key: LabelValues) -> LabelValues:
        admitted = self._admitted.setdefault(name, {})
        if key in admitted:
            return key
        if len(admitted) >= self.max_series:
            key = tuple(OVERFLOW for _ in key)
        admitted[key] = None
        return key

    def _label(self, into: dict[str, Family], family: Family, slot: str) -> None:
        names: tuple[str, ...] = (*family.label_names, self.label)
        extra: tuple[str, ...] = (slot,)
        if self.label in family.label_names:  # labelled already: keep the series as they are
            names, extra = family.label_names, ()
        target = into.get(family.name)
        if target is None:
            target = into[family.name] = Family(family.name, family.help, family.kind, names)
        elif (target.kind, target.label_names) != (family.kind, names):
            return
        for key, value in family.series.items():
            target.series[(*key, *extra)] = value


# --- the snapshot on the wire: JSON ---------------------------------------------------------


def encode(snapshot: ProcessSnapshot) -> bytes:
    families = []
    for family in snapshot.families:
        series: list[list[Any]] = []
        for key, value in family.series.items():
            if isinstance(value, HistogramValue):
                series.append([list(key), list(value.counts), value.total, value.count])
            else:
                series.append([list(key), value])
        families.append(
            {
                "name": family.name,
                "help": family.help,
                "kind": family.kind,
                "labels": list(family.label_names),
                "buckets": list(family.buckets),
                "series": series,
            }
        )
    document = {"pid": snapshot.pid, "seq": snapshot.seq, "families": families}
    return json.dumps(document, separators=(",", ":")).encode()


def decode(data: bytes) -> ProcessSnapshot:
    """The snapshot ``encode`` wrote; ValueError for anything else."""
    try:
        document = json.loads(data)
        pid, seq = document["pid"], document["seq"]
        if not isinstance(pid, int) or not isinstance(seq, int):
            raise ValueError("pid and seq must be integers")
        families = tuple(_family(item) for item in document["families"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a metrics snapshot: {exc!r}") from exc
    return ProcessSnapshot(pid, seq, families)


def _family(item: dict[str, Any]) -> Family:
    name, help, kind = item["name"], item["help"], item["kind"]
    labels = tuple(_strings(item["labels"]))
    buckets = tuple(float(b) for b in item["buckets"])
    if not isinstance(name, str) or not _NAME.match(name) or not isinstance(help, str):
        raise ValueError(f"invalid metric name {name!r}")
    if kind not in KINDS or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"invalid metric {name}: kind {kind!r}, labels {labels}")
    if kind == "histogram" and (
        list(buckets) != sorted(buckets) or not all(map(math.isfinite, buckets))
    ):
        raise ValueError(f"invalid buckets for {name}")
    family = Family(name, help, kind, labels, {}, buckets if kind == "histogram" else ())
    for entry in item["series"]:
        key = tuple(_strings(entry[0]))
        if len(key) != len(labels):
            raise ValueError(f"metric {name} takes {len(labels)} labels, got {len(key)}")
        family.series[key] = _value(kind, entry, len(buckets) + 1)
    return family


def _value(kind: str, entry: Sequence[Any], slots: int) -> SeriesValue:
    if kind != "histogram":
        if len(entry) != 2:
            raise ValueError("a series is [labels, value]")
        return float(entry[1])
    if len(entry) != 4:
        raise ValueError("a histogram series is [labels, counts, sum, count]")
    counts = tuple(int(c) for c in entry[1])
    if len(counts) != slots:
        raise ValueError(f"a histogram series needs {slots} bucket counts, got {len(counts)}")
    return HistogramValue(counts, float(entry[2]), int(entry[3]))


def _strings(values: Any) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"expected a list of strings, got {values!r}")
    return values


__all__ = ["ProcessMerge", "ProcessSnapshot", "decode", "encode"]
