"""What one consumer may see of a product: its :class:`~interlink.products.query.Policy`,
resolved from what the product declares.

- Each of the product's ``masking`` entries applies unless the consumer holds one of the
  mask's ``unmaskedFor`` scopes.
- The consumer's ``rowFilters`` entry (column = value, AND-ed, values from the estate) keeps
  only its rows; a consumer without an entry sees every row.

A caller no authentication named (a route without ``auth``) is masked everywhere and has no
row filter.

>>> from interlink.estate.kinds.data import Mask, MaskMethod, RowFilter
>>> masks = [Mask(column="email", method=MaskMethod.HASH, unmasked_for=["pii:read"])]
>>> rows = [RowFilter(consumer="acme", where={"partner": "acme"})]
>>> policy_for(masks, rows, "acme", frozenset())
Policy(masks={'email': <MaskMethod.HASH: 'hash'>}, row_filter=(Filter(column='partner', op=<Op.EQ: 'eq'>, value='acme'),))
>>> policy_for(masks, rows, "ops", frozenset({"pii:read"}))
Policy(masks={}, row_filter=())
"""  # noqa: E501 - doctest output

from __future__ import annotations

from collections.abc import Sequence

from interlink.estate.kinds.data import Mask, RowFilter
from interlink.products.filters import Filter, Op
from interlink.products.query import Policy


def policy_for(
    masking: Sequence[Mask],
    row_filters: Sequence[RowFilter],
    consumer: str | None,
    scopes: frozenset[str],
) -> Policy:
    masks = {m.column: m.method for m in masking if not scopes.intersection(m.unmasked_for)}
    row_filter: list[Filter] = []
    if consumer is not None:
        for entry in row_filters:
            if entry.consumer == consumer:
                row_filter += [Filter(name, Op.EQ, value) for name, value in entry.where.items()]
    return Policy(masks, tuple(row_filter))
