"""A read of a product's PII columns, recorded whether or not the product declares a subject.

Each answer that holds (or filters or sorts on) a contract column marked ``pii`` is one
lineage record of kind ``read``, kept under the subject type ``DataProduct`` and the product's
name (``interlink lineage trace DataProduct NAME``): from ``DataProduct/NAME`` to the reader
(``Consumer/NAME``; ``Route/NAME`` when the route names no caller; ``cli/USER`` for a local
query; ``token/NAME`` for an admin token's masked sample), with a detail that says how many
rows, which PII columns the reader got in clear, which masked and how, and by which way
(``page``, ``sql``, ``cli``, ``api``, ``console``). An answer without a PII
column records nothing. A product with a ``subject`` also records a ``served`` hop per row
under that subject: this record is the one every read leaves, the per-subject trail comes on top.

The detail is ``key=value`` words (column names are identifiers, so nothing needs quoting)::

>>> read = pii_read(["name", "email"], ["id", "email", "name"], {"email": "hash"}, 3)
>>> read.detail("page")
'rows=3 unmasked=name masked=email:hash via=page'
>>> parse_detail(read.detail("page"))
{'rows': 3, 'unmasked': ['name'], 'masked': {'email': 'hash'}, 'via': 'page'}
>>> pii_read(["email"], ["id"], {"email": "hash"}, 3) is None
True
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from interlink.store import Hop

#: The subject type the reads are kept under, keyed by the product's name. Declared subject
#: types are lower case, so it is never one of the estate's.
READS: Final = "DataProduct"


@dataclass(frozen=True)
class PiiRead:
    """The PII columns of one answer: those the reader got in clear and those masked (column,
    method), in the contract's order, and the answer's row count."""

    unmasked: tuple[str, ...]
    masked: tuple[tuple[str, str], ...]
    rows: int

    def detail(self, via: str) -> str:
        masked = ",".join(f"{column}:{method}" for column, method in self.masked)
        return f"rows={self.rows} unmasked={','.join(self.unmasked)} masked={masked} via={via}"


def pii_read(
    pii: Iterable[str], named: Collection[str], masks: Mapping[str, str], rows: int
) -> PiiRead | None:
    """What an answer of ``rows`` rows naming the columns ``named`` read of the ``pii``
    columns, ``masks`` (column → method) applied; None when it named none of them."""
    read = [c for c in pii if c in named]
    if not read:
        return None
    unmasked = tuple(c for c in read if c not in masks)
    masked = tuple((c, str(masks[c])) for c in read if c in masks)
    return PiiRead(unmasked, masked, rows)


def read_hop(product: str, reader: str, read: PiiRead, via: str, at: datetime) -> Hop:
    """The record of one read, for a process that writes it to the store itself (the CLI);
    a serving process holds it in its :class:`~interlink.observe.lineage.LineageRecorder`."""
    return Hop(READS, product, at, "read", f"DataProduct/{product}", reader, read.detail(via))


def parse_detail(detail: str) -> dict[str, Any] | None:
    """A read record's detail as data; None when it is not one."""
    words = dict(word.partition("=")[::2] for word in detail.split(" "))
    if set(words) != {"rows", "unmasked", "masked", "via"} or not words["rows"].isdigit():
        return None
    masked = dict(item.partition(":")[::2] for item in words["masked"].split(",") if item)
    return {
        "rows": int(words["rows"]),
        "unmasked": [c for c in words["unmasked"].split(",") if c],
        "masked": masked,
        "via": words["via"],
    }
