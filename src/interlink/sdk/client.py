"""Publish events to Interlink from Python: batching, retries, and a sync face for scripts.

>>> async with AsyncPublisher("http://127.0.0.1:8080", key="ik_…", source="crm") as events:
...     await events.publish("customer.address-updated", {"customerId": "C000001", ...})

``publish`` returns once the platform has accepted the event durably (HTTP 202). Calls made
close together travel in one ``application/cloudevents-batch+json`` request, so many small
publishes cost few round trips. A batch the platform cannot take now (503, 429, a dropped
connection) is sent again after ``Retry-After`` or a backoff; that is safe because the platform
accepts a repeated ``source`` + ``id`` once. An event the platform rejects (invalid data, no
permission) fails only its own ``publish`` call with :class:`PublishError`; the rest of its
batch is sent again without it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import httpx

from interlink.errors import PublishError

BATCH_TYPE: Final = "application/cloudevents-batch+json"
_RETRYABLE: Final = frozenset({429, 502, 503, 504})
T = TypeVar("T")


@dataclass(frozen=True)
class Receipt:
    """The platform's answer for one accepted event."""

    id: str
    seq: int
    duplicate: bool


@dataclass
class _Pending:
    event: dict[str, Any]
    future: asyncio.Future[Receipt]


@dataclass
class _Batcher:
    queue: list[_Pending] = field(default_factory=list)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)


class AsyncPublisher:
    """Publishes CloudEvents in batches to ``POST {url}/events``.

    ``key`` is a Consumer API key with scope ``events:publish:<type>`` (or ``token`` an admin
    token). ``linger`` is how long the first event of a batch waits for company; ``deadline``
    bounds how long one event may be retried before its ``publish`` raises.
    """

    def __init__(
        self,
        url: str,
        *,
        source: str,
        key: str | None = None,
        token: str | None = None,
        batch_size: int = 500,
        linger: float = 0.002,
        max_pending: int = 50_000,
        concurrency: int = 4,
        timeout: float = 10.0,
        deadline: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not 1 <= batch_size <= 1000:
            raise ValueError("batch_size must be between 1 and 1000")
        headers = {"content-type": BATCH_TYPE, "user-agent": "interlink-client"}
        if key:
            headers["x-api-key"] = key
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._client = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            headers=headers,
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self.source = source
        self._batch_size = batch_size
        self._linger = linger
        self._deadline = deadline
        self._slots = asyncio.Semaphore(max_pending)
        self._max_pending = max_pending
        self._concurrency = concurrency
        self._batcher = _Batcher()
        self._senders: list[asyncio.Task[None]] = []
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def event(
        self,
        type: str,
        data: Any,
        *,
        id: str | None = None,
        source: str | None = None,
        subject: str | None = None,
        time: datetime | None = None,
        dataschema: str | None = None,
        extensions: Mapping[str, str | int | bool] | None = None,
    ) -> dict[str, Any]:
        """A structured CloudEvent; ``id`` defaults to a random UUID, ``time`` to now."""
        event: dict[str, Any] = {
            "specversion": "1.0",
            "id": id or str(uuid.uuid4()),
            "source": source or self.source,
            "type": type,
            "time": (time or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "data": data,
        }
        if subject is not None:
            event["subject"] = subject
        if dataschema is not None:
            event["dataschema"] = dataschema
        for name, value in (extensions or {}).items():
            event[name] = value
        return event

    async def publish(self, type: str, data: Any, **attributes: Any) -> Receipt:
        """Publish one event; returns when the platform holds it durably."""
        return await self.send(self.event(type, data, **attributes))

    async def send(self, event: Mapping[str, Any]) -> Receipt:
        """Publish a ready CloudEvent (a dict in structured form)."""
        if self._closed:
            raise PublishError("the publisher is closed")
        await self._slots.acquire()
        try:
            future: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
            self._batcher.queue.append(_Pending(dict(event), future))
            self._batcher.wakeup.set()
            self._start_senders()
            return await future
        finally:
            self._slots.release()

    async def publish_many(self, events: Sequence[Mapping[str, Any]]) -> list[Receipt]:
        """Publish many events; returns their receipts in order once all are durable.

        The events are queued directly (no task per event), ``max_pending`` at a time.
        """
        if self._closed:
            raise PublishError("the publisher is closed")
        loop = asyncio.get_running_loop()
        receipts: list[Receipt] = []
        for start in range(0, len(events), self._max_pending):
            chunk = events[start : start + self._max_pending]
            futures: list[asyncio.Future[Receipt]] = []
            for event in chunk:
                future: asyncio.Future[Receipt] = loop.create_future()
                self._batcher.queue.append(_Pending(dict(event), future))
                futures.append(future)
            self._batcher.wakeup.set()
            self._start_senders()
            receipts.extend(await asyncio.gather(*futures))
        return receipts

    async def close(self) -> None:
        """Send what is queued, then release connections."""
        self._closed = True
        self._batcher.wakeup.set()
        if self._senders:
            await asyncio.gather(*self._senders, return_exceptions=True)
        await self._client.aclose()

    def _start_senders(self) -> None:
        if not self._senders:
            self._senders = [
                asyncio.create_task(self._send_loop()) for _ in range(self._concurrency)
            ]

    async def _send_loop(self) -> None:
        batcher = self._batcher
        while True:
            if not batcher.queue:
                if self._closed:
                    return
                batcher.wakeup.clear()
                await batcher.wakeup.wait()
                continue
            if len(batcher.queue) < self._batch_size and not self._closed and self._linger:
                await asyncio.sleep(self._linger)
            batch = batcher.queue[: self._batch_size]
            del batcher.queue[: self._batch_size]
            if batch:
                await self._deliver(batch)

    async def _deliver(self, batch: list[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._deadline
        attempt = 0
        while batch:
            batch = [p for p in batch if not p.future.done()]  # callers that were cancelled
            if not batch:
                return
            try:
                response = await self._client.post(
                    "/events", content=json.dumps([p.event for p in batch]).encode()
                )
            except httpx.HTTPError as exc:
                status, wait, problem = 0, None, {"detail": f"{type(exc).__name__}: {exc}"}
            else:
                if response.status_code == 202:
                    _settle(batch, response)
                    return
                status = response.status_code
                wait = _retry_after(response.headers.get("retry-after"))
                problem = _problem(response)
                if status not in _RETRYABLE:
                    batch = _reject(batch, status, problem)
                    attempt = 0
                    continue
            attempt += 1
            delay = wait if wait is not None else min(0.1 * 2**attempt, 5.0)
            if loop.time() + delay > give_up:
                detail = problem.get("detail") or problem.get("title") or "no answer"
                error = PublishError(
                    f"not accepted before the deadline: {detail}", status=status, problem=problem
                )
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(error)
                return
            await asyncio.sleep(delay)


def _settle(batch: list[_Pending], response: httpx.Response) -> None:
    results = response.json().get("events", [])
    for pending, result in zip(batch, results, strict=False):
        if not pending.future.done():
            receipt = Receipt(str(result["id"]), int(result["seq"]), bool(result["duplicate"]))
            pending.future.set_result(receipt)
    for pending in batch[len(results) :]:
        if not pending.future.done():
            pending.future.set_exception(PublishError("the platform answered without a receipt"))


def _reject(batch: list[_Pending], status: int, problem: dict[str, Any]) -> list[_Pending]:
    """Fail the events the problem names; return the rest for another attempt.

    A problem that names no event by index (``/3/data/…`` pointers) concerns the whole batch.
    """
    bad: dict[int, list[str]] = {}
    for violation in problem.get("violations", []) or []:
        pointer = str(violation.get("pointer", ""))
        head = pointer.split("/")[1] if pointer.startswith("/") and "/" in pointer else ""
        if head.isdigit() and int(head) < len(batch):
            bad.setdefault(int(head), []).append(f"{pointer}: {violation.get('message', '')}")
    if not bad:
        bad = {i: [] for i in range(len(batch))}
    title = problem.get("detail") or problem.get("title") or f"HTTP {status}"
    for index, messages in bad.items():
        detail = f"{title}: {'; '.join(messages)}" if messages else str(title)
        error = PublishError(detail, status=status, problem=problem)
        if not batch[index].future.done():
            batch[index].future.set_exception(error)
    return [pending for i, pending in enumerate(batch) if i not in bad]


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"title": f"HTTP {response.status_code}", "detail": response.text[:200]}
    return body if isinstance(body, dict) else {"detail": str(body)[:200]}


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, min(float(value), 300.0))
    except ValueError:
        return None


class Publisher:
    """The same publisher for synchronous code: its own event loop on a background thread."""

    def __init__(self, url: str, *, source: str, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

        async def make() -> AsyncPublisher:
            return AsyncPublisher(url, source=source, **options)

        self._publisher = self._run(make())

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def publish(self, type: str, data: Any, **attributes: Any) -> Receipt:
        return self._run(self._publisher.publish(type, data, **attributes))

    def publish_many(self, events: Sequence[Mapping[str, Any]]) -> list[Receipt]:
        return self._run(self._publisher.publish_many(events))

    def event(self, type: str, data: Any, **attributes: Any) -> dict[str, Any]:
        return self._publisher.event(type, data, **attributes)

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self._publisher.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = ["AsyncPublisher", "PublishError", "Publisher", "Receipt"]
