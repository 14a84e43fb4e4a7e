"""Flow: a trigger, then steps (map, filter, enrich, split, choice, idempotency, wait, saga
calls)."""

from __future__ import annotations

import functools
import hashlib
import re
import zoneinfo
from datetime import datetime
from typing import Annotated, Any, Literal

from cronsim import CronSim, CronSimError
from pydantic import Field, field_validator, model_validator

from interlink.errors import InterlinkError
from interlink.estate.durations import Duration
from interlink.estate.flow_templates import templates
from interlink.estate.kinds.base import EstateObject, Model, Name
from interlink.estate.kinds.gateway import Method


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


#: A table a step or trigger names: a plain identifier, optionally schema-qualified.
TABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$"
COLUMN_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"


class PollTrigger(Model):
    """Polls a table (a System with a SQL connector), an HTTP API (a System with a baseUrl,
    or an Api) or a stream of a tap (a System with connector singer or airbyte) and starts one
    run per new item, or one per poll (``each: batch``)."""

    name: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$",
        description="the trigger's name, which keys its stored cursor: keep it to keep polling "
        "from where it was when the rest changes (default: derived from the System and the "
        "table, query, path or stream)",
    )
    system: Name | None = Field(default=None, description="the System polled")
    api: Name | None = Field(
        default=None, description="an Api polled over HTTP (its System's baseUrl and credentials)"
    )
    table: str | None = Field(
        default=None, pattern=TABLE_PATTERN, description="SQL: the table polled (schema.table)"
    )
    query: str | None = Field(
        default=None,
        min_length=1,
        description="SQL: a SELECT polled instead of a table, its rows filtered and ordered by "
        "the cursor and key columns",
    )
    path: str | None = Field(
        default=None,
        pattern=r"^/",
        description="HTTP: the path GET under the System's base URL",
    )
    stream: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="tap (singer, airbyte): the stream read, as the tap's catalog names it; "
        "the cursor is the last STATE the tap sent",
    )
    cursor: str | None = Field(
        default=None,
        description="SQL: the column that grows with each new or changed row (an incrementing "
        "id or a timestamp); HTTP: JSONata on the answer giving the next cursor or page token",
    )
    key: list[str] | str | None = Field(
        default=None,
        description="SQL: the primary key columns (the tie-breaker between rows of one cursor "
        "value); HTTP: JSONata on an item giving its stable key",
    )
    items: str | None = Field(
        default=None, description="HTTP: JSONata on the answer giving the array of items"
    )
    param: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.\-\[\]]{1,64}$",
        description="HTTP: the query parameter the cursor is sent in (default cursor)",
    )
    interval: Duration = Field(default=10.0, gt=0, description="the pause between polls")
    batch: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="SQL: rows read per poll at most; tap: records read before the tap is "
        "stopped at its next STATE (default 500)",
    )
    each: Literal["row", "batch"] | None = Field(
        default=None,
        description="row (default): one run per row or item, its input the row; batch: one run "
        "per poll, its input {rows: [...], cursor, first, last} (the rows read, the cursor after "
        "them, the first and last rows' keys), for copying many rows a run",
    )
    start: str | int | float = Field(
        default="earliest",
        description="where polling starts the first time: earliest (every row), now (only rows "
        "added after), or a cursor value (SQL: rows from it, inclusive; HTTP: the first cursor "
        "sent)",
    )

    @property
    def sql(self) -> bool:
        return self.path is None and self.stream is None

    # Unset stays None rather than a default, so a pinned definition (dumped without Nones)
    # loads again: the shape checks below refuse these on the wrong kind of source.
    @property
    def rows_per_poll(self) -> int:
        return 500 if self.batch is None else self.batch

    @property
    def per_batch(self) -> bool:
        return self.each == "batch"

    @property
    def cursor_param(self) -> str:
        return self.param or "cursor"

    @model_validator(mode="after")
    def _shape(self) -> PollTrigger:
        if (self.system is None) == (self.api is None):
            raise ValueError("a poll trigger names exactly one of: system, api")
        if sum(x is not None for x in (self.table, self.query, self.path, self.stream)) != 1:
            raise ValueError(
                "a poll trigger polls exactly one of: table, query (SQL), path (HTTP), "
                "stream (a tap)"
            )
        if self.stream is not None:
            self._stream_shape()
        elif self.sql:
            self._sql_shape()
        else:
            self._http_shape()
        return self

    def _stream_shape(self) -> None:
        if self.api is not None:
            raise ValueError("a stream is read from a System (singer, airbyte), not an api")
        for name in ("cursor", "key", "items", "param"):
            if getattr(self, name) is not None:
                raise ValueError(
                    f"{name} does not apply to a stream: the tap's STATE is the cursor and its "
                    "catalog gives the key"
                )
        if self.start != "earliest":
            raise ValueError(
                "a stream starts where the tap's config says (its start date), so start is earliest"
            )

    def _sql_shape(self) -> None:
        if self.api is not None:
            raise ValueError("an api is polled over HTTP: give path, not table or query")
        if self.cursor is None:
            raise ValueError("a SQL poll trigger needs cursor: a column name")
        if not isinstance(self.key, list) or not self.key:
            raise ValueError("a SQL poll trigger needs key: the primary key columns")
        for column in (self.cursor, *self.key):
            if not re.match(COLUMN_PATTERN, column):
                raise ValueError(
                    f"column {column!r} is not a plain identifier (letters, digits, _)"
                )
        if self.items is not None:
            raise ValueError("items applies to an HTTP poll trigger (path) only")
        if self.param is not None:
            raise ValueError("param applies to an HTTP poll trigger (path) only")

    def _http_shape(self) -> None:
        if self.batch is not None:  # a page is what the API answers
            raise ValueError("batch applies to a SQL poll trigger (table, query) only")
        if self.items is None or not isinstance(self.key, str):
            raise ValueError(
                "an HTTP poll trigger needs items and key: JSONata giving the answer's "
                "array of items and each item's key"
            )
        if self.start == "now":
            raise ValueError("an HTTP poll trigger starts from earliest or a cursor value, not now")

    @property
    def trigger_name(self) -> str:
        """The name keying its cursor: given, or derived from what it polls."""
        if self.name is not None:
            return self.name
        where = self.system or self.api
        if self.table is not None:
            return f"{where}.{self.table}"
        if self.stream is not None:
            return f"{where}.{self.stream}"
        text = self.query if self.query is not None else self.path
        digest = hashlib.sha256(str(text).encode()).hexdigest()[:10]
        return f"{where}.{'query' if self.query is not None else 'get'}-{digest}"


def _under_root(value: str) -> str:
    """A folder or prefix under a file System's root: relative, no '.', '..' or empty part."""
    parts = value.removesuffix("/").split("/")
    if value and (
        value.startswith("/")
        or "\\" in value
        or "\x00" in value
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise ValueError(
            f"{value!r} is not under the System's root: relative, / between parts, no "
            "'.', '..' or empty part"
        )
    return value


class WatchTrigger(Model):
    """Watches a prefix of a System with a files connector and starts one run per new file."""

    name: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$",
        description="the trigger's name, which keys its stored checkpoint (default: derived "
        "from the System and the prefix)",
    )
    system: Name = Field(description="the System watched (connector directory, sftp…)")
    prefix: str = Field(
        default="",
        description="the files watched: those whose path starts with it, such as inbox/ "
        "(subfolders included; default: the whole root)",
    )
    pattern: str | None = Field(
        default=None,
        min_length=1,
        description="a glob the file's name must match, such as *.csv (* ? [abc])",
    )
    format: Literal["csv", "jsonl", "json", "text", "bytes"] = Field(
        default="text",
        description="how a file becomes the run's input: csv, jsonl or json give rows; text "
        "gives content (UTF-8), bytes content in base64",
    )
    then: Literal["move", "delete", "keep"] = Field(
        default="move",
        description="what is done with a file once its run is recorded: move it to moveTo, "
        "delete it, or keep it where it is (a file is run again only once it changes)",
    )
    move_to: str | None = Field(
        default=None,
        min_length=1,
        description="then: move: the folder a file goes to once its run is recorded (default "
        "done/)",
    )
    error_to: str | None = Field(
        default=None,
        min_length=1,
        description="then: move or delete: the folder a file that cannot be read (too large, "
        "not in its format) goes to, with a .error.txt beside it saying why (default error/; "
        "then: keep leaves it and logs why)",
    )
    max_bytes: int = Field(
        default=10_000_000,
        ge=1,
        le=1_000_000_000,
        description="a larger file is not read: it goes to errorTo",
    )
    interval: Duration = Field(default=10.0, gt=0, description="the pause between listings")
    batch: int = Field(default=100, ge=1, le=10_000, description="files run per listing at most")

    @field_validator("prefix", "move_to", "error_to")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        return value if value is None else _under_root(value)

    # Unset stays None rather than a default, so a pinned definition (dumped without Nones)
    # loads again: the checks below refuse a folder that nothing would use.
    @property
    def done_folder(self) -> str:
        return "done/" if self.move_to is None else self.move_to

    @property
    def error_folder(self) -> str:
        return "error/" if self.error_to is None else self.error_to

    @model_validator(mode="after")
    def _folders(self) -> WatchTrigger:
        if "/" in (self.pattern or ""):
            raise ValueError("pattern matches a file's name: it has no /")
        if self.move_to is not None and self.then != "move":
            raise ValueError(f"moveTo applies to then: move, not {self.then}")
        if self.error_to is not None and self.then == "keep":
            raise ValueError("errorTo applies to then: move or delete; keep leaves a bad file")
        if self.then == "move" and self.done_folder.rstrip("/") == self.error_folder.rstrip("/"):
            raise ValueError("moveTo and errorTo are different folders")
        return self

    @property
    def trigger_name(self) -> str:
        """The name keying its checkpoint: given, or derived from what it watches."""
        if self.name is not None:
            return self.name
        where = f"{self.prefix}\x00{self.pattern or ''}"
        return f"{self.system}.watch-{hashlib.sha256(where.encode()).hexdigest()[:10]}"


class ConsumeTrigger(Model):
    """Consumes a queue, subject or topic of a System whose connector receives messages (amqp,
    nats…): one run per message, acked once the run is recorded."""

    name: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
        description="the trigger's name, which keys its runs and names its durable consumer: "
        "keep it to keep consuming where it was (default: <system>.<from>)",
    )
    system: Name = Field(description="the System (connector amqp, nats…)")
    source: str = Field(
        alias="from",
        min_length=1,
        description="what is consumed, as the connector names it: a queue (amqp), a subject (nats)",
    )
    concurrency: int = Field(
        default=1,
        ge=1,
        le=100,
        description="messages whose runs are started at once (each acked once its run is "
        "recorded, in the order received whatever it is)",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="the connector's options of its trigger capability (amqp: prefetch; nats: "
        "stream, durable, batch, ackWait), as `interlink connectors show` lists them",
    )

    @property
    def trigger_name(self) -> str:
        """The name keying its runs: given, or the System and what it consumes."""
        return self.name if self.name is not None else f"{self.system}.{self.source}"


class Trigger(Model):
    event: Name | None = Field(
        default=None,
        description="run for every event of this type: shorthand for a Subscription with the "
        "defaults that targets the flow, run as Subscription/flow-<flow name>; `check` refuses "
        "both for one event",
    )
    schedule: str | None = Field(
        default=None, description="cron: minute hour day month weekday (as cronsim reads it)"
    )
    timezone: str | None = Field(
        default=None,
        description="IANA time zone the schedule is read in, such as Europe/Berlin (default UTC)",
    )
    manual: bool = Field(default=False, description="started only through the API or CLI")
    poll: PollTrigger | None = Field(
        default=None,
        description="one run per new row of a table, item of an HTTP API or record of a tap's "
        "stream, polled every interval on one node of the cluster",
    )
    watch: WatchTrigger | None = Field(
        default=None,
        description="one run per new file under a prefix of a System with a files connector, "
        "listed every interval on one node of the cluster; the file is then moved, deleted "
        "or kept",
    )
    consume: ConsumeTrigger | None = Field(
        default=None,
        description="one run per message of a queue or subject of a System whose connector "
        "receives messages, consumed on one node of the cluster",
    )
    missed: Literal["skip", "catchUp"] | None = Field(
        default=None,
        description="due times of the schedule that passed while no node ran it: skip them "
        "(the default), or catchUp: one run for the whole missed period",
    )
    disallow_concurrent: bool = Field(
        default=False,
        description="skip a due time of the schedule while the previous scheduled run of the "
        "flow is still running",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                CronSim(value, datetime(2000, 1, 1))
            except CronSimError as exc:
                raise ValueError(f"not a cron expression ({exc}): {value!r}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and value not in _zones():
            raise ValueError(f"not an IANA time zone: {value!r} (such as Europe/Berlin or UTC)")
        return value

    @model_validator(mode="after")
    def _one(self) -> Trigger:
        chosen = [
            self.event is not None,
            self.schedule is not None,
            self.manual,
            self.poll is not None,
            self.watch is not None,
            self.consume is not None,
        ]
        if sum(chosen) != 1:
            raise ValueError(
                "a trigger is exactly one of: event, schedule, manual, poll, watch, consume"
            )
        if self.timezone is not None and self.schedule is None:
            raise ValueError("a trigger's timezone applies to its schedule only")
        if (self.missed is not None or self.disallow_concurrent) and self.schedule is None:
            raise ValueError("a trigger's missed and disallowConcurrent apply to its schedule only")
        return self


class StepRetry(Model):
    """How often a failing step is tried again: finite whatever is set."""

    attempts: int = Field(default=3, ge=1, le=100, description="tries in all, the first included")
    initial: Duration = Field(default=0.5, description="the wait after the first failure")
    multiplier: float = Field(
        default=2.0, ge=1.0, le=10.0, description="each wait is this times the last"
    )
    max_interval: Duration = Field(default=30.0, description="no wait is longer")
    non_retryable: list[int] = Field(
        default_factory=list,
        description="HTTP statuses that fail the step at once even if retryable (a 5xx, 429)",
    )


class StepBase(Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    retry: StepRetry | None = Field(
        default=None, description="this step's retries (default: 3 tries, 0.5 s doubling)"
    )
    timeout: Duration | None = Field(
        default=None, description="one attempt that takes longer fails, and may be retried"
    )


class MapStep(StepBase):
    type: Literal["map"]
    expression: str = Field(description="JSONata expression producing the new message")


class FilterStep(StepBase):
    type: Literal["filter"]
    condition: str = Field(description="JSONata predicate; false drops the message")


class EnrichSource(Model):
    api: Name | None = None
    path: str | None = Field(default=None, pattern=r"^/")
    data_product: Name | None = None
    query: str | None = None

    @model_validator(mode="after")
    def _one(self) -> EnrichSource:
        if (self.api is None) == (self.data_product is None):
            raise ValueError("enrich from exactly one of: api, dataProduct")
        if self.api is not None and self.path is None:
            raise ValueError("enrich from an api needs 'path'")
        return self


class EnrichStep(StepBase):
    type: Literal["enrich"]
    source: EnrichSource = Field(alias="from")
    into: str = Field(description="field of the message that receives the result")


class SplitStep(StepBase):
    type: Literal["split"]
    items: str = Field(description="JSONata expression yielding the array to split")


class IdempotencyStep(StepBase):
    type: Literal["idempotency"]
    key: str = Field(description="JSONata expression for the idempotency key")
    window: Duration = 86400.0


#: A call's path is under its System's base URL; a whole URL is accepted so that `check` can say
#: whether it is under that base URL (a warning) or outside it (an error).
CALL_PATH = r"^(/|https?://)"
CALL_PATH_DOC = "a path under the System's base URL"


class HttpCall(Model):
    system: Name
    method: Method = "POST"
    path: str = Field(pattern=CALL_PATH, description=CALL_PATH_DOC)
    body: str | None = Field(default=None, description="JSONata expression for the body")


class CallStep(StepBase):
    type: Literal["call"]
    system: Name
    method: Method = "POST"
    path: str = Field(pattern=CALL_PATH, description=CALL_PATH_DOC)
    body: str | None = Field(default=None, description="JSONata expression for the body")
    compensate: HttpCall | None = Field(
        default=None, description="undoes this step when a later one fails (saga)"
    )


class PublishStep(StepBase):
    type: Literal["publish"]
    event: Name
    data: str | None = Field(default=None, description="JSONata; default: the message")


class WaitStep(StepBase):
    type: Literal["wait"]
    until: str | None = Field(
        default=None,
        description="JSONata giving the time to go on at: an ISO 8601 timestamp or epoch "
        "milliseconds",
    )
    duration: Duration | None = Field(default=None, alias="for", description="how long to wait")

    @model_validator(mode="after")
    def _one(self) -> WaitStep:
        if (self.until is None) == (self.duration is None):
            raise ValueError("a wait is exactly one of: until, for")
        return self


class QueryStep(StepBase):
    """Runs a SQL statement on a System with a SQL connector; its rows go into the message."""

    type: Literal["query"]
    system: Name = Field(description="the System (connector postgresql, mariadb, sqlite…)")
    sql: str = Field(
        min_length=1,
        description="the statement, its values as :name parameters bound by the driver, "
        "never written into the text",
    )
    params: str | None = Field(
        default=None, description="JSONata giving an object of the parameters' values"
    )
    into: str | None = Field(
        default=None,
        description="the message field that receives the rows; without it they become the message",
    )
    one: bool = Field(
        default=False, description="a single row (an object, or null when none); more fails"
    )
    max_rows: int = Field(
        default=1000, ge=1, le=1_000_000, description="a query returning more rows fails"
    )


class WriteStep(StepBase):
    """Writes rows into a table of a System with a SQL connector, in batches of one
    transaction each."""

    type: Literal["write"]
    system: Name = Field(description="the System (connector postgresql, mariadb, sqlite…)")
    table: str = Field(pattern=TABLE_PATTERN, description="the table, or schema.table")
    rows: str | None = Field(
        default=None,
        description="JSONata giving the rows (an array of objects, or one object); default: "
        "the message",
    )
    mode: Literal["insert", "upsert", "update"] = Field(
        default="insert",
        description="insert; upsert: insert or update the row with the same key; update: the "
        "row with the same key",
    )
    key: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")]] = Field(
        default_factory=list, description="the key columns of an upsert or update"
    )
    batch_size: int = Field(default=500, ge=1, le=100_000, description="rows per transaction")

    @model_validator(mode="after")
    def _key(self) -> WriteStep:
        if self.mode != "insert" and not self.key:
            raise ValueError(f"a {self.mode} write needs key: the columns that find the row")
        return self


class FileStep(StepBase):
    """Writes one whole file on a System with a files connector (directory, sftp…),
    atomically: rows in a format, or text."""

    type: Literal["file"]
    system: Name = Field(description="the System (connector directory, sftp…)")
    path: str = Field(
        min_length=1,
        description="JSONata giving the file's path under the System's root, such as "
        "\"'out/orders-' & $now() & '.csv'\"; a fixed path is a quoted string: \"'out/a.csv'\"",
    )
    format: Literal["csv", "jsonl", "json", "parquet"] | None = Field(
        default=None,
        description="how the rows are written: csv (a header of every key, in the order first "
        "seen), jsonl, json (one array) or parquet; required with rows",
    )
    rows: str | None = Field(
        default=None,
        description="JSONata giving the rows (an array of objects, or one object); default: "
        "the message",
    )
    content: str | None = Field(
        default=None,
        description="JSONata giving the file's text (written as UTF-8), instead of rows in a "
        "format",
    )

    @model_validator(mode="after")
    def _what(self) -> FileStep:
        if self.content is not None and (self.rows is not None or self.format is not None):
            raise ValueError("a file step writes content, or rows in a format: not both")
        if self.content is None and self.format is None:
            raise ValueError("a file step needs format (csv, jsonl, json, parquet), or content")
        return self


class SendStep(StepBase):
    """Sends one message through a System whose connector sends messages (a broker, mail,
    chat); the run goes on once the System has taken it."""

    type: Literal["send"]
    system: Name = Field(description="the System (connector amqp, nats…)")
    to: str = Field(
        default="",
        description="where the message goes, as the connector names it (a routing key, a "
        "subject, a topic, a stream, addresses, a channel): a literal string; left out, the "
        "System's own default (smtp's to, chat's channel)",
    )
    message: str | None = Field(
        default=None,
        description="JSONata giving the body (a string is sent as text, anything else as "
        "JSON); default: the message",
    )
    headers: str | None = Field(
        default=None, description="JSONata giving an object of header names to string values"
    )
    subject: str | None = Field(
        default=None, description="JSONata giving a mail's subject (other connectors ignore it)"
    )


class FlowStep(StepBase):
    type: Literal["flow"]
    flow: Name = Field(description="the Flow to run as a child run; its end message is the output")
    input: str | None = Field(default=None, description="JSONata; default: the message")


class Branch(Model):
    when: str = Field(description="JSONata predicate")
    steps: list[Step] = Field(min_length=1)


class ChoiceStep(StepBase):
    type: Literal["choice"]
    branches: list[Branch] = Field(min_length=1)
    otherwise: list[Step] = Field(default_factory=list)


Step = Annotated[
    MapStep
    | FilterStep
    | EnrichStep
    | SplitStep
    | IdempotencyStep
    | CallStep
    | PublishStep
    | ChoiceStep
    | WaitStep
    | FlowStep
    | QueryStep
    | WriteStep
    | FileStep
    | SendStep,
    Field(discriminator="type"),
]
Branch.model_rebuild()
ChoiceStep.model_rebuild()


class FlowSpec(Model):
    trigger: Trigger | None = Field(
        default=None,
        description="what starts the flow besides the Subscriptions that target it; a flow "
        "fed by Subscriptions needs none",
    )
    template: str | None = Field(
        default=None,
        description="a shipped flow template (`interlink flows templates`) giving this flow's "
        "trigger and steps, with `parameters`",
    )
    parameters: dict[str, Any] | None = Field(
        default=None, description="the template's parameters, as its schema describes them"
    )
    steps: list[Step] = Field(
        default_factory=list, description="what a run does, in order (at least one)"
    )
    on_error: list[Step] = Field(
        default_factory=list,
        description="steps run when a step fails for good (`$error` says which and why), "
        "before the completed calls are compensated",
    )
    timeout: Duration | None = Field(
        default=None,
        gt=0,
        description="the longest a run may take from its start, waits included: past it the "
        "step in flight fails with `flow timeout after …` and the completed calls are "
        "compensated; no limit when left out",
    )
    input_schema: dict[str, Any] | None = Field(
        default=None,
        description="JSON Schema (2020-12) a run's input must satisfy to start: a start "
        "by hand or over a Route it refuses is refused (422), an event it refuses is a failed "
        "delivery of its Subscription (retried, then dead-lettered)",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_template(cls, data: Any) -> Any:
        # The loader expands a template first, saying at its line what stops it; this is for
        # a spec validated on its own (an upload, a snippet).
        if not isinstance(data, dict) or "template" not in data or "steps" in data:
            return data
        name = data["template"]
        found = templates().get(name) if isinstance(name, str) else None
        if found is None:
            raise ValueError(f"unknown template {name!r} (templates: {', '.join(templates())})")
        try:
            flow, _ = found.render(data.get("parameters") or {})
        except InterlinkError as exc:
            raise ValueError(exc.message) from None
        return {**flow, **data}

    @model_validator(mode="after")
    def _has_steps(self) -> FlowSpec:
        if not self.steps:
            raise ValueError("a flow needs steps (at least one), or a template giving them")
        return self


def iter_steps(steps: list[Step]) -> list[Step]:
    """Every step, depth first, including those inside choice branches."""
    out: list[Step] = []
    for step in steps:
        out.append(step)
        if isinstance(step, ChoiceStep):
            for branch in step.branches:
                out.extend(iter_steps(branch.steps))
            out.extend(iter_steps(step.otherwise))
    return out


class Flow(EstateObject):
    """Steps run for each event a Subscription delivers to it, on a schedule or by hand."""

    KIND = "Flow"
    kind: Literal["Flow"]
    spec: FlowSpec
