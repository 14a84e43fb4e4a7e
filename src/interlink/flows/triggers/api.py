"""A polling source over an HTTP API: GET a path page by page, a run per new item.

Each poll GETs ``path`` under the System's base URL (an Api's: its System's), with the System's
credentials and the cursor in the query parameter ``param`` (none the first time, unless
``start`` gives one). ``items`` (JSONata on the answer) gives the array of items, ``key``
(JSONata on each item) its stable key, and ``cursor`` (JSONata on the answer) the cursor or
page token to send next. While the answer gives a new cursor the next page is read at once;
when it gives none (the last page), the same page is read again after the interval, so items
added to it are found, and those already seen are not run twice (their keys). The stored
checkpoint is ``{"page": <cursor sent>}``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from interlink.connectors.base import ConnectorError
from interlink.connectors.observed import CallCounts
from interlink.errors import ConfigError, ExpressionError, UpstreamError
from interlink.estate.kinds.organisation import SystemCredentials
from interlink.estate.references import resolve
from interlink.expressions import Expression, compile_expression
from interlink.flows.calls import Answer, Target, read_answer, send
from interlink.flows.retry import StepFailed
from interlink.flows.triggers.sources import JSON, Batch, Item
from interlink.http.client import HttpClient
from interlink.http.credential import compile_credential
from interlink.http.tls import ClientTls

#: The largest answer read (a page of items).
LIMIT = 16 * 1024 * 1024


@dataclass(frozen=True)
class ApiSource:
    """Polls ``path`` of ``system`` (at ``base_url``, with ``credentials``)."""

    system: str
    base_url: str
    path: str
    items: str
    key: str
    cursor: str | None = None
    param: str = "cursor"
    start: str | int | float = "earliest"
    credentials: SystemCredentials | None = None
    tls: ClientTls | None = field(default=None, compare=False, repr=False)  # the System's own
    flow: str | None = None  # the flow it starts runs of: its polls are counted under it
    calls: CallCounts | None = field(default=None, compare=False, repr=False)
    _state: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def _compiled(self, name: str) -> Expression:
        found = self._state.get(name)
        if found is None:
            source = getattr(self, name)
            try:
                found = self._state[name] = compile_expression(source)
            except ExpressionError as exc:
                raise ConfigError(f"trigger.poll: {name} does not compile: {exc}") from None
        assert isinstance(found, Expression)
        return found

    def _client(self) -> HttpClient:
        client = self._state.get("client")
        if client is None:
            client = self._state["client"] = HttpClient()
        assert isinstance(client, HttpClient)
        return client

    async def poll(self, cursor: JSON, limit: int) -> Batch:
        sent = cursor.get("page") if isinstance(cursor, dict) else None
        if cursor is None and self.start != "earliest":
            sent = self.start
        try:
            answer = await self._get(sent)
            # A page may be large: its JSON is read and its expressions run off the event loop.
            batch = await asyncio.to_thread(self._batch, answer, sent)
        except Exception:
            self._count(0, failed=True)
            raise
        self._count(len(batch.items))
        return batch

    def _count(self, items: int, *, failed: bool = False) -> None:
        if self.calls is not None and self.flow is not None:
            self.calls.add(self.flow, self.system, "poll", items, failed=failed)

    def _batch(self, answer: Answer, sent: Any) -> Batch:
        try:
            body = read_answer("GET", self.path, answer, LIMIT)
        except StepFailed as exc:
            raise ConnectorError(
                exc.message, system=self.system, object=f"GET {self.path}", retryable=exc.retryable
            ) from None
        items = self._evaluate("items", body)
        if items is None:
            items = []
        elif not isinstance(items, list):
            items = [items]  # JSONata's single match
        found: list[Item] = []
        for number, item in enumerate(items):
            key = self._evaluate("key", item)
            if key is None or isinstance(key, dict | list):
                raise ConnectorError(
                    f"key gives {json.dumps(key)} for item {number} of the answer: an item's "
                    "key is a string or a number",
                    system=self.system,
                    object=self.path,
                )
            found.append(Item(str(key), item))
        after = self._evaluate("cursor", body) if self.cursor is not None else None
        if after is None or after == sent:
            return Batch(found, {"page": sent})  # the last page: read again next time
        return Batch(found, {"page": after}, more=bool(found))

    def _evaluate(self, name: str, data: Any) -> Any:
        try:
            return self._compiled(name).evaluate(data)
        except ExpressionError as exc:
            raise ConnectorError(
                f"trigger.poll {name} failed on the answer: {exc}",
                system=self.system,
                object=self.path,
            ) from None

    async def _get(self, sent: Any) -> Answer:
        path = self.path
        if sent is not None:
            value = json.dumps(sent) if isinstance(sent, dict | list) else str(sent)
            joiner = "&" if "?" in path else "?"
            path = f"{path}{joiner}{urlencode({self.param: value})}"
        try:
            credential = (
                compile_credential(self.credentials, self.system)
                if self.credentials is not None
                else None
            )
            return await send(
                self._client(),
                Target(resolve(self.base_url), credential, self.tls),
                "GET",
                path,
                None,
                f"poll:{self.system}:{self.path}",
                LIMIT,
            )
        except (StepFailed, UpstreamError) as exc:
            raise ConnectorError(
                exc.message,
                system=self.system,
                object=f"GET {self.path}",
                retryable=getattr(exc, "retryable", True),
            ) from None

    async def aclose(self) -> None:
        client = self._state.pop("client", None)
        if isinstance(client, HttpClient):
            await client.aclose()
