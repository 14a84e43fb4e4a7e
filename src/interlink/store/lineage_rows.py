"""How record-level lineage is stored: one row per subject and write, its hops in one text.

A write (the recorder's, every second) holds most subjects once or twice: an event's publish
and its delivery. One row per hop paid, for each, the insert of ten values and an entry in the
subject index, and these were most of what lineage cost an event. A row here holds one
subject's hops of one write that lie within :data:`SPAN` of each other: its subject as one
text (``customer C000042``: a subject type holds no space, and one indexed text costs a write
less than two), the time of its newest hop (``at``, in microseconds since the epoch, UTC: what
``--since`` and the retention compare) and the hops, each its time and its fields from
``kind`` on, separated by control characters that no estate name, event id or detail holds. A
hop whose fields do hold one is written as a JSON array instead (``[time, kind, …]``), which
is also how the hops of the table of a row per hop read after migration 0044. Compiled with
the recorder (``_native.py``): the encoding runs for every hop recorded.
"""

from __future__ import annotations

import json
from typing import Final

#: A hop as it is held until written: subject type, subject key, time (microseconds since
#: the epoch), kind, actor, target, detail, event type, event id, run id. A plain tuple: the
#: recorder makes one twice an event, and a tuple is the cheapest thing to make.
Held = tuple[str, str, int, str, str, str, str, str, str, str]
#: A stored row: subject (type and key), newest hop's time, the hops as text.
Row = tuple[str, int, str]

#: Most microseconds between the hops of one row. A row is purged when its newest hop is
#: past the retention, so no hop outlives it by more than this.
SPAN: Final = 10_000_000

_FIELD: Final = "\x1f"
_HOP: Final = "\x1e"


def subject_of(subject_type: str, subject_key: str) -> str:
    """A subject as its rows name it."""
    return f"{subject_type} {subject_key}"


def rows_of(held: list[Held]) -> list[Row]:
    """The rows that store ``held`` (in any order): a row per subject and :data:`SPAN`."""
    rows: list[Row] = []
    firsts: list[int] = []  # each row's first hop's time
    open_rows: dict[str, int] = {}  # each subject's last row, by its index
    for hop in held:
        at = hop[2]
        text = _FIELD.join((str(at), hop[3], hop[4], hop[5], hop[6], hop[7], hop[8], hop[9]))
        if text.count(_FIELD) != 7 or _HOP in text:  # a field holds a separator
            text = json.dumps([at, hop[3], hop[4], hop[5], hop[6], hop[7], hop[8], hop[9]])
        subject = subject_of(hop[0], hop[1])
        index = open_rows.get(subject, -1)
        if index >= 0 and abs(at - firsts[index]) <= SPAN:
            row = rows[index]
            rows[index] = (subject, max(row[1], at), row[2] + _HOP + text)
            continue
        open_rows[subject] = len(rows)
        rows.append((subject, at, text))
        firsts.append(at)
    return rows


def hops_in(text: str) -> list[tuple[int, list[str]]]:
    """A row's hops, in the order written: each one's time and its fields from ``kind`` on."""
    found = []
    for hop in text.split(_HOP):
        fields = [str(field) for field in json.loads(hop)] if hop[0] == "[" else hop.split(_FIELD)
        found.append((int(fields[0]), fields[1:]))
    return found
