"""Where a data subject's data went: its recorded hops as a timeline, a graph or JSON.

The graph is Mermaid flowchart text (``flowchart LR``), which GitHub, GitLab and most wikis
draw: one node per actor or target (``System/crm``, ``Event/customer.updated``, ``Flow/sync``),
one edge per kind of hop between two of them, labelled with the kind, what it names (the step,
the table) and how many times it happened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from interlink.errors import NotFound
from interlink.observe.lineage.reads import READS, parse_detail
from interlink.store import Hop, Store

#: Most hops one trace returns (the newest of them).
MAX_HOPS: Final = 10_000


@dataclass(frozen=True)
class Trace:
    subject_type: str
    subject_key: str
    since: datetime | None
    hops: list[Hop]

    @property
    def subject(self) -> str:
        return f"{self.subject_type} {self.subject_key}"

    def nothing(self) -> str:
        """The answer when nothing is recorded: not an error, a fact."""
        when = f" since {_iso(self.since)}" if self.since is not None else ""
        return f"no record of {self.subject}{when}: none of its data was recorded moving"

    def as_json(self) -> dict[str, Any]:
        return {
            "subject": {"type": self.subject_type, "key": self.subject_key},
            "since": _iso(self.since) if self.since is not None else None,
            "hops": [
                {
                    "at": _iso(h.at),
                    "kind": h.kind,
                    "from": h.actor,
                    "to": h.target,
                    "detail": h.detail,
                    "eventType": h.event_type,
                    "eventId": h.event_id,
                    "runId": h.run_id,
                    **_read(h),
                }
                for h in self.hops
            ],
            "truncated": len(self.hops) >= MAX_HOPS,
            "message": None if self.hops else self.nothing(),
        }

    def timeline(self) -> str:
        if not self.hops:
            return self.nothing() + "\n"
        lines = [f"{self.subject}: {len(self.hops)} hop(s)"]
        for h in self.hops:
            detail = f"  ({h.detail})" if h.detail else ""
            via = f"  [event {h.event_id}]" if h.event_id and h.kind == "published" else ""
            run = f"  [run {h.run_id}]" if h.run_id and h.kind == "written" else ""
            lines.append(f"{_iso(h.at)}  {h.kind:<11} {h.actor} -> {h.target}{detail}{via}{run}")
        return "\n".join(lines) + "\n"

    def mermaid(self) -> str:
        if not self.hops:
            return f"%% {self.nothing()}\nflowchart LR\n"
        ids: dict[str, str] = {}
        edges: dict[tuple[str, str, str], int] = {}
        for h in self.hops:
            for name in (h.actor, h.target):
                ids.setdefault(name, f"n{len(ids)}")
            label = h.kind if not h.detail else f"{h.kind}: {h.detail}"
            key = (h.actor, h.target, label)
            edges[key] = edges.get(key, 0) + 1
        lines = [f"%% {self.subject}", "flowchart LR"]
        lines += [f'    {node}["{_label(name)}"]' for name, node in ids.items()]
        for (actor, target, label), count in edges.items():
            times = f" x{count}" if count > 1 else ""
            lines.append(f'    {ids[actor]} -->|"{_label(label)}{times}"| {ids[target]}')
        return "\n".join(lines) + "\n"


def trace_subject(
    store: Store,
    declared: frozenset[str],
    subject_type: str,
    subject_key: str,
    since: datetime | None = None,
) -> Trace:
    """The hops of one subject; ``NotFound`` when the estate declares no such subject type
    (a key with no hops is a :class:`Trace` without hops, not an error). ``DataProduct``
    NAME is always a subject: the reads of that product's PII columns."""
    if subject_type not in declared and subject_type != READS:
        if declared:
            raise NotFound(
                f"no Event or DataProduct declares subject type {subject_type!r}; "
                f"declared: {', '.join(sorted(declared))}, and {READS} for product reads"
            )
        raise NotFound(
            f"no Event or DataProduct declares subject type {subject_type!r}: the estate "
            "declares none (subject: {type, key} on an Event records its hops; "
            f"{READS} NAME traces the reads of a product's PII columns)"
        )
    if not subject_key.strip():
        raise NotFound(f"a {subject_type} is looked up by a non-empty key")
    hops = store.lineage.trace(subject_type, subject_key, since, MAX_HOPS)
    return Trace(subject_type, subject_key, since, hops)


def _read(hop: Hop) -> dict[str, Any]:
    """A read record's detail as data (``rows``, ``unmasked``, ``masked``, ``via``)."""
    if hop.kind != "read":
        return {}
    found = parse_detail(hop.detail)
    return {"read": found} if found is not None else {}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_UNSAFE: Final = re.compile(r'["<>\n\r`]')


def _label(text: str) -> str:
    """Text Mermaid shows as it is inside a quoted label."""
    return _UNSAFE.sub("'", text)[:200]
