"""A masked sample of a data product: its first rows, read the way consumers read it.

The read is :meth:`Products.query <interlink.products.service.Products.query>` under the
product's own declared masking (:func:`~interlink.products.service.product_policy`), so every
masked column is masked whatever scopes the reader's token holds: a sample is for seeing the
shape of the data, never for reading PII. When the sample holds a PII column it is recorded in
the lineage before it is answered, as any other read (:mod:`interlink.observe.lineage.reads`):
from ``DataProduct/NAME`` to ``token/TOKEN-NAME``, ``via`` the API or the console.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Final

from starlette.concurrency import run_in_threadpool

from interlink.admin.lookup import known
from interlink.errors import NotFound
from interlink.observe.lineage.reads import pii_read, read_hop
from interlink.products.query import ProductQuery
from interlink.products.service import product_policy

if TYPE_CHECKING:
    from interlink.products.service import Products
    from interlink.runtime.runtime import Runtime

#: The sizes a sample may have (the console offers these; the API takes any up to the last).
SIZES: Final = (10, 25, 50)


@dataclass(frozen=True)
class Sample:
    product: str
    columns: list[str]
    rows: list[dict[str, Any]]  # JSON values: dates and timestamps as ISO text
    masked: dict[str, str]  # column → masking method
    more: bool  # the product holds more rows than the sample

    def json(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "columns": self.columns,
            "rows": self.rows,
            "masked": self.masked,
            "more": self.more,
        }


async def sample(runtime: Runtime, name: str, rows: int, token_name: str, via: str) -> Sample:
    """The first ``rows`` rows of product ``name``, masked as it declares; the read recorded
    in the lineage as ``token_name``'s when it holds a PII column. NotFound for an unknown
    product; the product's own errors (not refreshed yet, its source unreadable) as raised."""
    known("DataProduct", name, runtime.snapshot.estate.names("DataProduct"))
    products: Products | None = runtime.products
    if products is None:
        raise NotFound("data products are not running in this process")
    _, product = products.product(name)
    policy = product_policy(product)
    result = await products.query(name, ProductQuery(limit=rows), policy)
    table = result.table
    pii = [c.name for c in products.contract(name).columns if c.pii]
    read = pii_read(pii, table.column_names, policy.masks, table.num_rows)
    if read is not None:  # recorded before anything of it is shown
        hop = read_hop(name, f"token/{token_name}", read, via, datetime.now(UTC))
        await run_in_threadpool(runtime.store.lineage.record, [hop])
    return Sample(
        name,
        list(table.column_names),
        [{k: _value(v) for k, v in row.items()} for row in table.to_pylist()],
        {column: str(method) for column, method in policy.masks.items()},
        result.next_cursor is not None,
    )


def _value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value
