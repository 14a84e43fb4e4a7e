"""DataProduct and Monitor: domain-owned datasets, and the rules that watch every connection."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

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


class DataSource(Model):
    system: Name
    type: SourceType
    location: str = Field(description="table, file path or URL path on the system")
    query: str | None = Field(default=None, description="SQL over the source (DuckDB dialect)")


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


class DataContract(Model):
    """An ODCS-style contract: the columns consumers can rely on."""

    file: RelativePath | None = Field(default=None, description="an ODCS contract file")
    columns: list[Column] = Field(default_factory=list)

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


class DataProductSpec(Model):
    domain: str
    source: DataSource
    contract: DataContract
    freshness: Freshness | None = None
    masking: list[Mask] = Field(default_factory=list)
    subject: DataSubject | None = Field(
        default=None, description="whose data the product serves (recorded once products run)"
    )
    pii_categories: list[PiiCategory] = Field(
        default_factory=list, description="the categories of personal data the product serves"
    )


class DataProduct(EstateObject):
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
