"""Data products served from their sources: :class:`Products`, what the CLI, the refresh
schedule and (later) the serving layer use.

- :meth:`Products.query` answers a :class:`~interlink.products.query.ProductQuery` under a
  :class:`~interlink.products.query.Policy` with an Arrow table and the next page's cursor.
  A *virtual* product reads its source on the query (filters on unmasked columns and the row
  filter pushed down into a SQL source), keeps the read for ``cacheTtl`` seconds, and checks it
  against the contract's types and value rules; a *materialised* one is read from its Parquet
  file.
- :meth:`Products.refresh` reads a materialised product's source (only the rows past the last
  refresh's cursor, when the product names one), checks the whole result against the
  contract, and swaps it in; a refresh that fails leaves the last good data serving, is kept in
  the refresh history with its violations, and is recorded as a failed refresh in the
  monitors' signals (a freshness Monitor of the product ages from the last good one).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interlink.connectors.connections import Connections
from interlink.errors import ConfigError, InterlinkError
from interlink.estate.kinds.data import (
    Column,
    ColumnType,
    DataContract,
    DataProduct,
    DataSource,
    ProductMode,
    SourceType,
)
from interlink.estate.kinds.organisation import System
from interlink.estate.model import Estate, Loaded
from interlink.estate.product_rules import contract_of
from interlink.estate.references import resolve
from interlink.http.client import HttpClient
from interlink.http.credential import compile_credential
from interlink.observe import signals
from interlink.products import quality
from interlink.products.columns import conform
from interlink.products.engine import literal, session
from interlink.products.errors import (
    ContractBroken,
    NotRefreshed,
    SourceUnreadable,
    UnknownProduct,
)
from interlink.products.filters import Filter, FilterError, Op, where
from interlink.products.history import RefreshHistory, RefreshRecord, Violation
from interlink.products.query import Policy, ProductQuery, QueryResult, page, select_sql
from interlink.products.sources import read_file, read_sql
from interlink.products.sql import SqlRefused, SqlTimeout, run_sql
from interlink.products.storage import ProductFiles
from interlink.products.web import read_http

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("interlink.products")

#: Reads a virtual product keeps for its cacheTtl, at most.
CACHE_ENTRIES = 64
#: A products source's query: the rows it may make, and the seconds it may run.
COMPOSED_ROWS = 5_000_000
COMPOSED_TIME = 120.0
#: The products sources being read in this task, outermost first: a cycle is refused.
_COMPOSING: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "composing", default=()
)


def product_policy(product: DataProduct) -> Policy:
    """The masking the product itself declares: what a caller sees with no other policy."""
    return Policy(masks={m.column: m.method for m in product.spec.masking})


@dataclass
class _Cached:
    expires: float
    table: pa.Table


class Products:
    """The estate's data products, read through ``connections`` and materialised under
    ``data_dir``. ``history`` keeps each refresh (none: kept nowhere); every refresh is also
    a signal the monitors evaluate (``interlink.observe.signals.refreshed``)."""

    def __init__(
        self,
        estate: Callable[[], Estate],
        data_dir: Path,
        *,
        connections: Connections | None = None,
        history: RefreshHistory | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.estate = estate
        self.files = ProductFiles(data_dir)
        self.connections = connections or Connections()
        self.history = history
        self.clock = clock
        self.monotonic = monotonic
        self._cache: OrderedDict[tuple[Any, ...], _Cached] = OrderedDict()
        self._refreshing: dict[str, asyncio.Lock] = {}
        self._client: HttpClient | None = None  # http sources' requests, made when first read

    # --- what the estate declares ------------------------------------------------------------

    def names(self) -> list[str]:
        return sorted(item.obj.metadata.name for item in self.estate().loaded_of("DataProduct"))

    def product(self, name: str) -> tuple[Loaded, DataProduct]:
        item = self.estate().get("DataProduct", name)
        if item is None or not isinstance(item.obj, DataProduct):
            raise UnknownProduct(f"no DataProduct {name!r} in the estate")
        return item, item.obj

    def contract(self, name: str) -> DataContract:
        """The product's contract, its ODCS file read in."""
        item, _ = self.product(name)
        try:
            return contract_of(item)
        except ValueError as exc:
            raise ConfigError(f"DataProduct/{name}: {exc}") from None

    # --- queries -------------------------------------------------------------------------------

    async def query(
        self, name: str, query: ProductQuery | None = None, policy: Policy | None = None
    ) -> QueryResult:
        """One page of the product's rows, as ``policy`` lets the caller see them (default:
        the product's own masking)."""
        query = query or ProductQuery()
        _, product = self.product(name)
        contract = self.contract(name)
        policy = policy if policy is not None else product_policy(product)
        columns = contract.columns
        policy = Policy(policy.masks, tuple(typed(policy.row_filter, columns)))
        query = ProductQuery(
            query.columns,
            tuple(typed(query.filters, columns, masked=set(policy.masks))),
            query.order_by,
            query.limit,
            query.after,
        )
        names = [c.name for c in columns]
        if product.spec.mode is ProductMode.MATERIALISED:
            current = self.files.current(name)
            if current is None:
                raise NotRefreshed(f"DataProduct/{name} has not been refreshed yet: no data")
            sql, params = select_sql(query, names, policy, f"read_parquet({literal(str(current))})")
            table = await asyncio.to_thread(_run, sql, params, None)
        else:
            pushed = [f for f in query.filters if f.column not in policy.masks]
            read = await self._virtual_read(name, product, contract, [*policy.row_filter, *pushed])
            sql, params = select_sql(query, names, policy, "data")
            table = await asyncio.to_thread(_run, sql, params, read)
        return page(table, query)

    async def _virtual_read(
        self, name: str, product: DataProduct, contract: DataContract, filters: list[Filter]
    ) -> pa.Table:
        source = product.spec.source
        pushed = filters if source.type is SourceType.SQL else []
        key = (name, product.model_dump_json(), contract.model_dump_json(), _filters_key(pushed))
        now = self.monotonic()
        found = self._cache.get(key)
        if found is not None and found.expires > now:
            self._cache.move_to_end(key)
            return found.table
        table = await self._read(product, contract.columns, pushed)
        violations = await asyncio.to_thread(quality.check, table, contract, None, None, False)
        if violations:
            raise ContractBroken(violations, name)
        if product.spec.cache_ttl > 0:
            self._cache[key] = _Cached(now + product.spec.cache_ttl, table)
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return table

    async def _read(
        self, product: DataProduct, columns: Sequence[Column], filters: Sequence[Filter]
    ) -> pa.Table:
        """The source's rows (SQL: with ``filters`` pushed down; a file: whole, then
        ``filters`` applied by DuckDB)."""
        source = product.spec.source
        if source.type is SourceType.PRODUCTS:
            return await _filtered(await self._composed(product, columns), filters)
        system = self._system(source.system_name)
        if source.type is SourceType.HTTP:
            table = await self._read_http(system, source, columns)
            return await _filtered(table, filters)
        connector = system.spec.connector_name
        if connector is None:
            raise ConfigError(f"System/{source.system} has no connector")
        connection = await self.connections.get(
            source.system_name, connector, system.spec.connection
        )
        if source.type is SourceType.SQL:
            return await read_sql(connection, source, columns, filters, connector)
        return await _filtered(await read_file(connection, source, columns), filters)

    async def _read_http(
        self, system: System, source: DataSource, columns: Sequence[Column]
    ) -> pa.Table:
        if system.spec.base_url is None:
            raise ConfigError(f"System/{source.system} has no baseUrl to read an http source at")
        credential = None
        if system.spec.credentials is not None:
            credential = compile_credential(system.spec.credentials, source.system_name)
        if self._client is None:
            self._client = HttpClient()
        base_url = resolve(system.spec.base_url)
        return await read_http(self._client, base_url, credential, source, columns)

    async def _composed(self, product: DataProduct, columns: Sequence[Column]) -> pa.Table:
        """A ``products`` source: its DuckDB query over the other products it names, each
        read whole and unmasked (the composed product's own policy masks what it serves)."""
        name = product.metadata.name
        reading = _COMPOSING.get()
        if name in reading:
            chain = " → ".join([*reading, name])
            raise ConfigError(f"DataProduct/{name}: its source reads itself ({chain})")
        readable = {
            other: functools.partial(self._whole, other) for other in self.names() if other != name
        }
        assert product.spec.source.query is not None  # the model's rule for products sources
        token = _COMPOSING.set((*reading, name))
        try:
            table = await run_sql(
                product.spec.source.query, readable, max_rows=COMPOSED_ROWS, timeout=COMPOSED_TIME
            )
        except (SqlRefused, SqlTimeout) as exc:
            raise SourceUnreadable(f"DataProduct/{name}: its source query: {exc.message}") from None
        finally:
            _COMPOSING.reset(token)
        return await asyncio.to_thread(conform, _projected(table, columns), columns)

    async def _whole(self, name: str) -> pa.Table:
        """Every row of ``name``, unmasked: what a products source composes."""
        _, product = self.product(name)
        contract = self.contract(name)
        if product.spec.mode is ProductMode.MATERIALISED:
            current = self.files.current(name)
            if current is None:
                raise NotRefreshed(f"DataProduct/{name} has not been refreshed yet: no data")
            return await asyncio.to_thread(_parquet, current)
        return await self._virtual_read(name, product, contract, [])

    def _system(self, name: str) -> System:
        found = self.estate().get("System", name)
        if found is None or not isinstance(found.obj, System):
            raise ConfigError(f"no System {name!r} in the estate")
        return found.obj

    # --- refreshes -----------------------------------------------------------------------------

    async def refresh(self, name: str) -> RefreshRecord:
        """Refresh a materialised product now; the refresh as recorded. A failure (the source
        down, a file that does not parse, the contract broken) is recorded and raised; the last
        good data keeps serving."""
        lock = self._refreshing.setdefault(name, asyncio.Lock())
        async with lock:
            started = self.clock()
            try:
                try:
                    done = await self._refresh(name)
                except OSError as exc:  # the data directory: full, read-only, gone
                    raise ConfigError(
                        f"DataProduct/{name}: cannot write its data: {exc.strerror or exc}"
                    ) from None
            except InterlinkError as exc:
                violations = exc.violations if isinstance(exc, ContractBroken) else []
                record = self._record(
                    name, started, "failed", error=exc.message, violations=violations
                )
                log.warning("DataProduct/%s: refresh failed: %s", name, exc.message)
                self._signal(name, record)
                raise
            record = self._record(name, started, "ok", *done)
            self._signal(name, record)
            return record

    def _signal(self, name: str, record: RefreshRecord) -> None:
        """The refresh told to the monitors' signals: a freshness Monitor of the product ages
        from its last good refresh, an errors one counts the failed."""
        seconds = (record.finished_at - record.started_at).total_seconds()
        signals.refreshed(name, record.outcome == "ok", seconds)

    async def _refresh(self, name: str) -> tuple[int, int, str | None]:
        _, product = self.product(name)
        if product.spec.mode is not ProductMode.MATERIALISED:
            raise ConfigError(f"DataProduct/{name} is virtual: it is read on each query")
        contract = self.contract(name)
        cursor = product.spec.refresh.cursor if product.spec.refresh else None
        current = self.files.current(name)
        last = await asyncio.to_thread(_highest, current, cursor) if cursor and current else None
        filters = [Filter(cursor, Op.GT, last)] if cursor and last is not None else []
        fresh = await self._read(product, contract.columns, filters)
        previous = current if filters else None
        spare = self.files.spare(name)
        try:
            total, high = await asyncio.to_thread(
                _combine_check_write,
                fresh,
                previous,
                spare,
                contract,
                product,
                cursor,
                self.clock(),
            )
        except BaseException:
            spare.unlink(missing_ok=True)
            raise
        self.files.swap(name, spare)
        return total, fresh.num_rows, _text(high)

    def _record(
        self,
        name: str,
        started: datetime,
        outcome: str,
        total: int = 0,
        added: int = 0,
        cursor: str | None = None,
        *,
        error: str | None = None,
        violations: Sequence[Violation] = (),
    ) -> RefreshRecord:
        finished = self.clock()
        record_id = 0
        if self.history is not None:
            try:
                record_id = self.history.record(
                    name,
                    started_at=started,
                    finished_at=finished,
                    outcome="ok" if outcome == "ok" else "failed",
                    rows_total=total,
                    rows_added=added,
                    cursor=cursor,
                    error=error,
                    violations=violations,
                )
            except InterlinkError as exc:  # the store away: the refresh itself stands
                log.warning("DataProduct/%s: refresh not recorded: %s", name, exc.message)
        return RefreshRecord(
            record_id,
            name,
            started,
            finished,
            "ok" if outcome == "ok" else "failed",
            total,
            added,
            cursor,
            error,
            tuple(violations),
        )

    async def aclose(self) -> None:
        await self.connections.aclose()
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def _filtered(table: pa.Table, filters: Sequence[Filter]) -> pa.Table:
    """A source read whole (a file, an http answer) with ``filters`` applied by DuckDB."""
    if not filters:
        return table
    condition, params = where(filters, '"', "f", "$")
    sql = f"SELECT * FROM data WHERE {condition}"  # noqa: S608 - quoted, parameters
    return await asyncio.to_thread(_run, sql, params, table)


def _run(sql: str, params: dict[str, Any], data: pa.Table | None) -> pa.Table:
    import duckdb

    with session() as db:
        try:
            if data is not None:
                db.register("data", data)
            return db.sql(sql, params=params).to_arrow_table()
        except duckdb.Error as exc:
            said = str(exc).strip().splitlines()[0]
            raise FilterError(f"the query cannot run: {said}") from None


def _parquet(path: Path) -> pa.Table:
    import pyarrow.parquet as pq

    return pq.read_table(path)


def _projected(table: pa.Table, columns: Sequence[Column]) -> pa.Table:
    names = {c.name for c in columns}
    return table.select([c for c in table.column_names if c in names])


def _highest(path: Path, column: str) -> Any:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    values = pq.read_table(path, columns=[column]).column(0)
    return pc.max(values).as_py() if len(values) else None


def _combine_check_write(
    fresh: pa.Table,
    previous: Path | None,
    spare: Path,
    contract: DataContract,
    product: DataProduct,
    cursor: str | None,
    now: datetime,
) -> tuple[int, Any]:
    """The new version of the data (the previous file's rows then ``fresh``, for an
    incremental refresh) checked against the contract and written to ``spare``; its row count
    and the cursor column's highest value. ContractBroken, and nothing written, when it breaks
    the contract."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    combined = fresh
    if previous is not None:
        combined = pa.concat_tables([pq.read_table(previous), fresh])
    violations = quality.check(combined, contract, product.spec.freshness, now)
    if violations:
        raise ContractBroken(violations, product.metadata.name)
    pq.write_table(combined, spare)
    high = _highest(spare, cursor) if cursor else None
    return combined.num_rows, high


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date | datetime) else str(value)


def _filters_key(filters: Sequence[Filter]) -> tuple[Any, ...]:
    return tuple((f.column, f.op.value, repr(f.value)) for f in filters)


def typed(
    filters: Sequence[Filter], columns: Sequence[Column], masked: set[str] | None = None
) -> list[Filter]:
    """``filters`` with their values of their column's type (a filter parsed from text holds
    strings); a masked column is text. FilterError for a value that is not of the type."""
    kinds = {c.name: c.type for c in columns}
    out = []
    for f in filters:
        kind = kinds.get(f.column)
        if kind is None:
            names = ", ".join(kinds)
            raise FilterError(f"no column {f.column!r} in the contract (columns: {names})")
        if f.op in (Op.IS_NULL, Op.LIKE, Op.PREFIX):
            out.append(f)
            continue
        if masked and f.column in masked:
            kind = ColumnType.STRING
        if f.op in (Op.IN, Op.NOT_IN):
            out.append(Filter(f.column, f.op, [_value(v, kind, f.column) for v in f.value]))
        else:
            out.append(Filter(f.column, f.op, _value(f.value, kind, f.column)))
    return out


def _value(value: Any, kind: ColumnType, column: str) -> Any:
    try:
        if kind is ColumnType.STRING:
            return value if isinstance(value, str) else str(value)
        if not isinstance(value, str):
            return value
        if kind is ColumnType.INTEGER:
            return int(value)
        if kind is ColumnType.NUMBER:
            return float(value)
        if kind is ColumnType.BOOLEAN:
            if value not in ("true", "false"):
                raise ValueError(value)
            return value == "true"
        if kind is ColumnType.DATE:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except ValueError:
        raise FilterError(f"{column}: {value!r} is not a {kind.value}") from None
