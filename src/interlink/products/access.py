"""What one consumer may see of a product: its :class:`~interlink.products.query.Policy`,
resolved from what the product declares.

- Each of the product's ``masking`` entries applies unless the consumer holds one of the
  mask's ``unmaskedFor`` scopes.
- The consumer's ``rowFilters`` entry (a column equal to a value, or compared with ``eq``,
  ``ne``, ``lt``, ``le``, ``gt``, ``ge``, ``in``, ``notIn``; AND-ed; values from the estate)
  keeps only its rows; a consumer without an entry sees every row.

A caller no authentication named (a route without ``auth``) is masked everywhere and has no
row filter.

>>> from interlink.estate.kinds.data import Mask, MaskMethod, RowFilter
>>> masks = [Mask(column="email", method=MaskMethod.HASH, unmasked_for=["pii:read"])]
>>> rows = [RowFilter(consumer="acme", where={"partner": "acme"})]
>>> policy_for(masks, rows, "acme", frozenset())
Policy(masks={'email': <MaskMethod.HASH: 'hash'>}, row_filter=(Filter(column='partner', op=<Op.EQ: 'eq'>, value='acme'),))
>>> wide = [RowFilter(consumer="acme", where={"amount": {"ge": 10}, "country": {"in": ["DE"]}})]
>>> policy_for([], wide, "acme", frozenset()).row_filter
(Filter(column='amount', op=<Op.GE: 'ge'>, value=10), Filter(column='country', op=<Op.IN: 'in'>, value=['DE']))
>>> policy_for(masks, rows, "ops", frozenset({"pii:read"}))
Policy(masks={}, row_filter=())
"""  # noqa: E501 - doctest output

from __future__ import annotations

from collections.abc import Sequence

from interlink.estate.kinds.data import Condition, Mask, RowFilter
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
                for name, wanted in entry.where.items():
                    row_filter += conditions(name, wanted)
    return Policy(masks, tuple(row_filter))


def conditions(column: str, wanted: object) -> list[Filter]:
    """The filters of one ``where`` entry: equality to a value, or a Condition's comparisons."""
    if not isinstance(wanted, Condition):
        return [Filter(column, Op.EQ, wanted)]
    return [Filter(column, Op(op.lower()), value) for op, value in wanted.operators()]
