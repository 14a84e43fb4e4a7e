"""DataProduct and Monitor: domain-owned datasets, and the rules that watch every connection."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Literal

from cronsim import CronSim, CronSimError
from pydantic import Field, field_validator, model_validator

from interlink.estate.durations import Duration
from interlink.estate.kinds.base import (
    DataSubject,
    EstateObject,
    Model,
    Name,
    PiiCategory,
    RelativePath,
)


class SourceType(StrEnum):
    SQL = "sql"
    CSV = "csv"
    PARQUET = "parquet"
    JSON = "json"
    HTTP = "http"
    PRODUCTS = "products"


class PaginationStyle(StrEnum):
    CURSOR = "cursor"
    PAGE = "page"
    OFFSET = "offset"


class Pagination(Model):
    """How an http source's pages are followed: ``cursor`` (the answer's ``next`` field is
    sent back as ``param``, until it is absent or empty), ``page`` (``param`` counts pages
    from ``start``, until an empty page) or ``offset`` (``param`` counts records from
    ``start``, ``size`` a page, until a page holds fewer)."""

    style: PaginationStyle
    param: str = Field(
        pattern=r"^[A-Za-z0-9_.\-\[\]]+$", description="the query parameter carrying the position"
    )
    next: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$",
        description="cursor: the dotted path of the next page's token in the answer",
    )
    start: int = Field(default=-1, ge=-1, description="page: first page (1); offset: first (0)")
    size: int | None = Field(
        default=None, ge=1, le=100_000, description="records a page (sent as sizeParam)"
    )
    size_param: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.\-\[\]]+$",
        description="the query parameter carrying size",
    )
    max_pages: int = Field(default=1000, ge=1, le=100_000, description="pages read at most")

    @model_validator(mode="after")
    def _complete(self) -> Pagination:
        if self.style is PaginationStyle.CURSOR and self.next is None:
            raise ValueError("cursor pagination names the answer's next field (next)")
        if self.style is PaginationStyle.OFFSET and self.size is None:
            raise ValueError("offset pagination needs the size of a page (size)")
        if self.size_param is not None and self.size is None:
            raise ValueError("sizeParam is sent with size: give size")
        return self

    def first(self) -> int:
        """The position of the first page (page 1, offset 0 unless ``start`` says)."""
        if self.start >= 0:
            return self.start
        return 1 if self.style is PaginationStyle.PAGE else 0


class DataSource(Model):
    system: Name | None = Field(
        default=None, description="the System read (every type but products)"
    )
    type: SourceType
    location: str | None = Field(
        default=None,
        min_length=1,
        description="table (sql), the file's path under the System's root, or the path GET "
        "under the System's baseUrl (http)",
    )
    query: str | None = Field(
        default=None,
        description="a SELECT run on the System instead of reading the table (sql sources, in "
        "the System's own dialect); products: a DuckDB SELECT over other DataProducts, each "
        "named as a table",
    )
    records: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$",
        description="http sources: the dotted path to the array of records in the JSON answer "
        "(data.items); none: the answer is the array",
    )
    pagination: Pagination | None = Field(
        default=None, description="http sources: how the pages of the answer are followed"
    )

    @model_validator(mode="after")
    def _complete(self) -> DataSource:
        if self.type is SourceType.PRODUCTS:
            if self.query is None or self.system is not None or self.location is not None:
                raise ValueError("a products source is a query over DataProducts: no system")
        elif self.system is None or self.location is None:
            raise ValueError(f"a {self.type.value} source names its system and location")
        if self.pagination is not None and self.type is not SourceType.HTTP:
            raise ValueError("pagination applies to http sources")
        return self

    @property
    def system_name(self) -> str:
        """The System read (a products source reads none: an empty name)."""
        return self.system or ""

    @property
    def path(self) -> str:
        """The location (a products source has none: an empty path)."""
        return self.location or ""


class ColumnType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"


class Column(Model):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    type: ColumnType
    description: str = ""
    nullable: bool = True
    pii: bool = False
    unique: bool = Field(default=False, description="no value appears twice (nulls aside)")
    allowed: list[str | int | float | bool] | None = Field(
        default=None, min_length=1, description="the only values the column may hold"
    )
    minimum: float | str | None = Field(
        default=None, description="smallest value (a number, or an ISO date for dates)"
    )
    maximum: float | str | None = Field(
        default=None, description="largest value (a number, or an ISO date for dates)"
    )
    pattern: str | None = Field(
        default=None, description="a regular expression every string value matches, whole"
    )

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression ({exc}): {value!r}") from None
        return value


class RowCount(Model):
    """Bounds on how many rows the product holds after a refresh."""

    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _order(self) -> RowCount:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("rowCount.min is above rowCount.max")
        return self


class DataContract(Model):
    """An ODCS-style contract: the columns consumers can rely on."""

    file: RelativePath | None = Field(default=None, description="an ODCS contract file")
    columns: list[Column] = Field(default_factory=list)
    row_count: RowCount | None = None

    @model_validator(mode="after")
    def _some(self) -> DataContract:
        if self.file is None and not self.columns:
            raise ValueError("a contract lists columns or names a contract file")
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"column listed twice: {', '.join(dupes)}")
        return self


class Freshness(Model):
    max_age: Duration = Field(gt=0)
    column: str | None = Field(default=None, description="timestamp column the age is read from")


class MaskMethod(StrEnum):
    HASH = "hash"
    REDACT = "redact"
    PARTIAL = "partial"


class Mask(Model):
    column: str
    method: MaskMethod = MaskMethod.REDACT
    unmasked_for: list[str] = Field(
        default_factory=list,
        description="scopes (e.g. pii:read): a consumer holding any of them sees the real values",
    )


Scalar = str | int | float | bool


class Condition(Model):
    """Comparisons of one column, AND-ed: ``{ge: 10, lt: 100}``, ``{in: [DE, AT]}``."""

    eq: Scalar | None = None
    ne: Scalar | None = None
    lt: Scalar | None = Field(default=None, description="below the value")
    le: Scalar | None = Field(default=None, description="at most the value")
    gt: Scalar | None = Field(default=None, description="above the value")
    ge: Scalar | None = Field(default=None, description="at least the value")
    in_: list[Scalar] | None = Field(
        default=None, alias="in", min_length=1, description="one of the values"
    )
    not_in: list[Scalar] | None = Field(
        default=None, min_length=1, description="none of the values"
    )

    @model_validator(mode="after")
    def _some(self) -> Condition:
        if not self.operators():
            raise ValueError("a condition compares with eq, ne, lt, le, gt, ge, in or notIn")
        return self

    def operators(self) -> list[tuple[str, Scalar | list[Scalar]]]:
        """The comparisons given, as (operator, value), in a stable order."""
        given = [(name, getattr(self, name)) for name in ("eq", "ne", "lt", "le", "gt", "ge")]
        given += [("in", self.in_), ("notIn", self.not_in)]
        return [(op, value) for op, value in given if value is not None]


class RowFilter(Model):
    """Rows one consumer may see: those whose columns meet the conditions given (AND-ed): a
    value (equal to it) or a :class:`Condition`. The values are the estate's, bound as
    parameters: nothing a consumer sends enters the filter."""

    consumer: Name = Field(description="the Consumer this filter applies to")
    where: dict[str, Scalar | Condition] = Field(
        min_length=1,
        description="column → the value it must equal, or comparisons: {ge: 10}, "
        "{in: [DE, AT]}, {notIn: [US]}, {lt: '2026-01-01'}",
    )


class ProductMode(StrEnum):
    VIRTUAL = "virtual"
    MATERIALISED = "materialised"


class Refresh(Model):
    """When a materialised product is refreshed: on a cron schedule (UTC), when an event is
    published, or both."""

    schedule: str | None = Field(
        default=None, description="cron: minute hour day month weekday, in UTC"
    )
    event: str | None = Field(
        default=None,
        description="an Event type: the product is refreshed soon after one is published "
        "(many at once: one refresh)",
    )
    cursor: str | None = Field(
        default=None,
        description="a contract column that only grows (an id, an updated-at): each refresh "
        "reads the rows above the last one's highest value and appends them",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            CronSim(value, datetime(2000, 1, 1))
        except CronSimError as exc:
            raise ValueError(f"not a cron expression ({exc}): {value!r}") from None
        return value

    @model_validator(mode="after")
    def _when(self) -> Refresh:
        if self.schedule is None and self.event is None:
            raise ValueError("a refresh names a schedule, an event, or both")
        return self


class DataProductSpec(Model):
    domain: str
    source: DataSource
    contract: DataContract
    mode: ProductMode = Field(
        default=ProductMode.VIRTUAL,
        description="virtual: read from the source on each query; materialised: refreshed "
        "into a file the queries read",
    )
    cache_ttl: Duration = Field(
        default=60.0, ge=0, description="virtual: how long a query's result is served again"
    )
    refresh: Refresh | None = Field(default=None, description="materialised: when to refresh")
    freshness: Freshness | None = None
    masking: list[Mask] = Field(default_factory=list)
    row_filters: list[RowFilter] = Field(
        default_factory=list,
        description="per consumer, the only rows it is served; a consumer without one sees all",
    )
    subject: DataSubject | None = Field(
        default=None,
        description="whose data the product serves: each row a Route serves with a PII column "
        "is a served lineage hop under this subject's key (a contract column); required when a "
        "Route serves a product with PII columns",
    )
    pii_categories: list[PiiCategory] = Field(
        default_factory=list, description="the categories of personal data the product serves"
    )

    @model_validator(mode="after")
    def _mode(self) -> DataProductSpec:
        if self.refresh is not None and self.mode is not ProductMode.MATERIALISED:
            raise ValueError("refresh applies to a materialised product only")
        return self


class DataProduct(EstateObject):
    """A domain's dataset from a System's table or file, virtual or materialised, kept to its contract, served through a Route with `product:` ([products](products.md))."""  # noqa: E501 - one line, as the reference shows it

    KIND = "DataProduct"
    kind: Literal["DataProduct"]
    spec: DataProductSpec


class MonitorType(StrEnum):
    SLO = "slo"
    FRESHNESS = "freshness"
    ANOMALY = "anomaly"


class TargetRef(Model):
    kind: Literal["System", "Api", "Event", "Route", "Subscription", "Flow", "DataProduct"]
    name: Name


class Slo(Model):
    indicator: Literal["availability", "latency"] = "availability"
    objective: float = Field(gt=0, lt=100, description="percent, e.g. 99.9")
    window: Duration = 2_419_200.0
    latency_threshold: Duration | None = None

    @model_validator(mode="after")
    def _latency(self) -> Slo:
        if self.indicator == "latency" and self.latency_threshold is None:
            raise ValueError("a latency SLO needs 'latencyThreshold'")
        return self


class Anomaly(Model):
    metric: Literal["volume", "latency", "errors"] = "volume"
    sensitivity: Literal["low", "medium", "high"] = "medium"


class MonitorSpec(Model):
    target: TargetRef
    type: MonitorType
    slo: Slo | None = None
    freshness: Freshness | None = None
    anomaly: Anomaly | None = None
    severity: Literal["info", "warning", "critical"] = "warning"
    notify: list[Name] = Field(default_factory=list, description="Teams told; default: the owner")

    @model_validator(mode="after")
    def _settings(self) -> MonitorSpec:
        blocks = {"slo": self.slo, "freshness": self.freshness, "anomaly": self.anomaly}
        if blocks[self.type.value] is None:
            raise ValueError(f"a {self.type.value} monitor needs its '{self.type.value}' settings")
        extra = [k for k, v in blocks.items() if v is not None and k != self.type.value]
        if extra:
            raise ValueError(f"'{extra[0]}' settings do not apply to a {self.type.value} monitor")
        return self


class Monitor(EstateObject):
    KIND = "Monitor"
    kind: Literal["Monitor"]
    spec: MonitorSpec
